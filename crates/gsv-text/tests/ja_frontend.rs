//! Japanese frontend (japanese.py on pyopenjtalk 0.4.1 with open_jtalk_dic_utf_8-1.11) against
//! upstream: the ja/all_ja records of the public corpus and of the extended corpus
//! (tests/fixtures/text/ja_extended.jsonl, made with scripts/golden/ja_corpus.py: numbers, dates,
//! Latin letters, punctuation runs, long and mixed-script sentences) must match at ≥ 99 % of
//! records (every mismatch printed). Needs naist-jdic (scripts/setup.sh installs it).
mod common;

use gsv_text::check::run_check;
use gsv_text::{clean_text, Language, Version};

fn fixture(name: &str) -> String {
    let path = format!("{}/../../tests/fixtures/text/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The built-in language identifier: the corpus's `langdetect` records of ja inputs need it
/// (`.gsv-data/lid.176.ftz`, installed by scripts/setup.sh).
fn init_lid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.gsv-data/lid.176.ftz"));
    gsv_text::lid::init(path).unwrap_or_else(|e| panic!("{e} — run scripts/setup.sh"));
}

/// Share of passing Japanese records in percent, after printing the report and every mismatch.
fn ja_pass_rate(corpus: &str, min_records: usize) -> f64 {
    init_lid();
    let report = run_check(corpus, Some(&["ja"]));
    println!("{report}");
    for m in &report.mismatches {
        println!("{m:?}");
    }
    assert!(report.parse_errors.is_empty(), "{:?}", report.parse_errors);
    let (mut passed, mut total) = (0, 0);
    for ((_, lang), t) in &report.rows {
        assert!(lang == "ja" || lang == "all_ja", "{lang} selected");
        assert_eq!(t.not_implemented, 0, "{lang}: records reported as not implemented");
        passed += t.passed;
        total += t.total();
    }
    assert!(total >= min_records, "only {total} Japanese records checked");
    100.0 * passed as f64 / total as f64
}

#[test]
fn public_corpus_japanese_records_match_upstream() {
    let rate = ja_pass_rate(&fixture("frontend_public.jsonl"), 80);
    assert!(rate >= 99.0, "{rate:.2} % of the public ja records match");
}

#[test]
fn extended_corpus_matches_upstream() {
    let rate = ja_pass_rate(&fixture("ja_extended.jsonl"), 400);
    assert!(rate >= 99.0, "{rate:.2} % of the extended ja records match");
}

#[test]
fn prosody_marks_unk_and_punctuation_as_upstream() {
    let cleaned = clean_text("これはペンですか？", Language::Ja, Version::V2).unwrap();
    assert_eq!(cleaned.norm_text, "これはペンですか？");
    assert_eq!(cleaned.word2ph, None);
    // `#` (accent-phrase border) is no symbol: UNK; the question mark comes from `？`.
    assert_eq!(cleaned.phones.join(" "), "k o [ r e w a UNK p e ] N d e s u k a ?");
    // v1 has no `[`/`]`.
    let v1 = clean_text("これはペンですか？", Language::Ja, Version::V1).unwrap();
    assert_eq!(v1.phones.join(" "), "k o UNK r e w a UNK p e UNK N d e s u k a ?");
    let empty = clean_text("", Language::Ja, Version::V2).unwrap();
    assert!(empty.phones.is_empty());
}

#[test]
fn long_input_is_bounded() {
    // A 16 000-character paragraph: no panic, time grows with the text, every phone a v2 symbol.
    let text = "今日は2024年5月17日、天気はとても良いです！ NHKのニュースを見ました。".repeat(400);
    let t = std::time::Instant::now();
    let cleaned = clean_text(&text, Language::Ja, Version::V2).unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(cleaned.phones.len() > text.chars().count());
    gsv_text::symbols::cleaned_text_to_sequence(&cleaned.phones, Version::V2).unwrap();
}

/// The 100-character sentence of docs/benchmarks.md ("Japanese frontend"); prints the median time.
#[test]
fn hundred_character_sentence_speed() {
    let text = "今日は朝から雨が降っていたので、傘を持って駅まで歩きましたが、電車が遅れていて会社に着いたのは九時半でした。明日の天気は晴れのち曇り、最高気温は25度の予想です。東京から大阪までは約2時間30分です。";
    assert_eq!(text.chars().count(), 100);
    let (_, median, _) = common::clean_text_times("ja", text, Language::Ja);
    assert!(median < std::time::Duration::from_millis(500));
}
