//! Korean frontend (korean.py on g2pk2, MeCab with mecab-ko-dic 2.1.1.post2) against upstream:
//! every ko/all_ko record of the public corpus and of the extended corpus
//! (tests/fixtures/text/ko_extended.jsonl, made with scripts/golden/ko_corpus.py: numbers,
//! dates, Latin letters, punctuation runs, long and mixed sentences) must match exactly.
mod common;

use gsv_text::check::run_check;
use gsv_text::{clean_text, Language, Version};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/../../tests/fixtures/text/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The built-in language identifier: the corpus's `langdetect` records of ko inputs need it
/// (`.gsv-data/lid.176.ftz`, installed by scripts/setup.sh).
fn init_lid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.gsv-data/lid.176.ftz"));
    gsv_text::lid::init(path).unwrap_or_else(|e| panic!("{e} — run scripts/setup.sh"));
}

fn assert_all_pass(corpus: &str, min_records: usize) {
    init_lid();
    let report = run_check(corpus, Some(&["ko"]));
    println!("{report}");
    assert!(report.parse_errors.is_empty(), "{:?}", report.parse_errors);
    let total: usize = report.rows.values().map(|t| t.total()).sum();
    assert!(total >= min_records, "only {total} Korean records checked");
    for m in &report.mismatches {
        println!("{m:?}");
    }
    assert!(report.passed(Some(&["ko"])), "Korean records differ from upstream (see above)");
}

#[test]
fn public_corpus_korean_records_match_upstream() {
    assert_all_pass(&fixture("frontend_public.jsonl"), 12);
}

#[test]
fn extended_corpus_matches_upstream() {
    assert_all_pass(&fixture("ko_extended.jsonl"), 300);
}

#[test]
fn v1_has_no_korean_and_empty_text_is_fine() {
    assert!(clean_text("안녕", Language::Ko, Version::V1).is_err());
    let empty = clean_text("", Language::Ko, Version::V2).unwrap();
    assert!(empty.phones.is_empty());
    assert_eq!(empty.word2ph, None);
}

#[test]
fn long_input_is_bounded() {
    // A 20 000-character paragraph: linear-time analysis, no panic, every phone a v2 symbol.
    let text = "오늘 날씨가 정말 좋네요! 3개, KBS 뉴스 2024년 5월 ".repeat(500);
    let t = std::time::Instant::now();
    let cleaned = clean_text(&text, Language::Ko, Version::V2).unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(cleaned.phones.len() > text.chars().count());
    let ids = gsv_text::symbols::cleaned_text_to_sequence(&cleaned.phones, Version::V2).unwrap();
    assert!(ids.iter().all(|&i| (324..=352).contains(&i) || i <= 4 || i == 321), "non-Korean ids");
}

/// The 100-character sentence of docs/benchmarks.md ("Korean frontend"); prints the median time.
#[test]
fn hundred_character_sentence_speed() {
    let text = "오늘 아침에 일어나서 창문을 열었더니 하늘이 맑고 바람이 시원해서 기분이 정말 좋았어요. 그래서 친구에게 전화해서 같이 공원에 가자고 했고, 우리는 오후 3시에 공원앞에서 만났다.";
    assert_eq!(text.chars().count(), 100);
    let (_, median, _) = common::clean_text_times("ko", text, Language::Ko);
    assert!(median < std::time::Duration::from_millis(500));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    /// Any mix of Hangul, jamo, Latin letters, digits, punctuation and whitespace: no panic, and
    /// every phone is a v2 symbol (Korean jamo, punctuation, 空, 停).
    #[test]
    fn any_text_gives_v2_symbols(text in "[가-힣ㄱ-ㅣ\u{1100}-\u{11ff}a-zA-Z0-9 ,.!?~…:;·、。！？\n\t/%()\"'一-龥ぁ-ん😀]{0,60}") {
        match clean_text(&text, Language::Ko, Version::V2) {
            Ok(cleaned) => {
                let table = gsv_text::symbols::table(Version::V2).unwrap();
                for p in &cleaned.phones {
                    prop_assert!(table.contains(p), "{p:?}");
                }
                prop_assert_eq!(cleaned.norm_text, text);
            }
            // Only a number of more than 16 digits before a counter makes upstream raise.
            Err(e) => prop_assert!(e.to_string().contains("UnboundLocalError"), "{e}"),
        }
    }
}
