//! The pure-Rust MeCab against MeCab itself: every sentence of the recorded oracle files
//! (scripts/golden/mecab_oracle.py) must give the same nodes — surface, feature and cumulative
//! path cost — with mecab-ko-dic (PyPI python-mecab-ko-dic 2.1.1.post2; oracle: python-mecab-ko
//! 1.3.7, i.e. mecab-ko) and with OpenJTalk's naist-jdic (oracle: Debian's MeCab 0.996).
//! scripts/setup.sh installs both dictionaries.
use gsv_text::mecab::Dictionary;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn ko_dir() -> String {
    std::env::var("GSV_MECAB_KO_DIC").unwrap_or_else(|_| format!("{ROOT}/.gsv-data/mecab-ko-dic"))
}

fn ko() -> &'static Dictionary {
    static D: OnceLock<Dictionary> = OnceLock::new();
    D.get_or_init(|| Dictionary::open(ko_dir()).expect("mecab-ko-dic (run scripts/setup.sh)"))
}

fn ja() -> &'static Dictionary {
    static D: OnceLock<Dictionary> = OnceLock::new();
    D.get_or_init(|| {
        Dictionary::open("/var/lib/mecab/dic/open-jtalk/naist-jdic").expect("naist-jdic (run scripts/setup.sh)")
    })
}

fn check(dict: &Dictionary, file: &str) {
    let text = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/text/{file}")).expect("oracle file");
    let mut failures = Vec::new();
    let mut total = 0;
    for line in text.lines() {
        let rec: Value = serde_json::from_str(line).expect("json");
        let sentence = rec["text"].as_str().expect("text");
        let expected: Vec<(String, String, i64)> = rec["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| (n[0].as_str().unwrap().into(), n[1].as_str().unwrap().into(), n[2].as_i64().unwrap()))
            .collect();
        let got: Vec<(String, String, i64)> =
            dict.analyse(sentence).into_iter().map(|n| (n.surface, n.feature, n.cost)).collect();
        total += 1;
        if got != expected {
            failures.push(format!("{sentence:?}\n  expected {expected:?}\n  got      {got:?}"));
        }
    }
    assert!(total >= 200, "{file}: only {total} sentences");
    assert!(failures.is_empty(), "{} of {total} differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn mecab_ko_dic_matches_python_mecab_ko() {
    check(ko(), "mecab_ko.jsonl");
}

#[test]
fn naist_jdic_matches_mecab_cli() {
    check(ja(), "mecab_ja.jsonl");
}

#[test]
fn nodes_locate_their_surface_and_skip_spaces() {
    let text = "  오늘   날씨가\t좋네요 ";
    let nodes = ko().analyse(text);
    assert_eq!(nodes.iter().map(|n| n.surface.as_str()).collect::<String>(), "오늘날씨가좋네요");
    for n in &nodes {
        assert_eq!(&text[n.start..n.start + n.surface.len()], n.surface);
    }
    assert!(ko().analyse("").is_empty());
    assert!(ko().analyse("   \n ").is_empty());
    assert_eq!(ko().bos_feature(), "BOS/EOS,*,*,*,*,*,*,*");
}

#[test]
fn broken_dictionaries_are_errors() {
    let dir = std::env::temp_dir().join(format!("gsv-mecab-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Dictionary::open(&dir).is_err(), "empty directory");
    for f in ["char.bin", "matrix.bin", "unk.dic", "dicrc"] {
        std::fs::copy(format!("{}/{f}", ko_dir()), dir.join(f)).unwrap();
    }
    // A truncated sys.dic fails the magic/size check instead of being read out of bounds.
    let sys = std::fs::read(format!("{}/sys.dic", ko_dir())).unwrap();
    std::fs::write(dir.join("sys.dic"), &sys[..sys.len() / 2]).unwrap();
    let err = Dictionary::open(&dir).err().expect("truncated sys.dic").to_string();
    assert!(err.contains("sys.dic"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn long_text_is_linear() {
    let unit = "오늘 날씨가 정말 좋네요! KBS 123 abc ★ ";
    let short: String = unit.repeat(50);
    let long: String = unit.repeat(500);
    let t = std::time::Instant::now();
    let a = ko().analyse(&short).len();
    let t_short = t.elapsed();
    let t = std::time::Instant::now();
    let b = ko().analyse(&long).len();
    let t_long = t.elapsed();
    assert_eq!(b, a * 10);
    // 10x the text may not cost more than ~30x the time (generous for a noisy shared CPU).
    assert!(t_long <= t_short * 30 + std::time::Duration::from_millis(50), "{t_short:?} vs {t_long:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any text analyses without panicking, and the nodes cover its non-space text in order.
    #[test]
    fn any_text_is_covered(text in "[가-힣a-zA-Z0-9 .,!?★😀\u{3000}\t\n~ぁ-んァ-ン一-龥ｦ-ﾝ\u{ffff}\u{0}]{0,40}") {
        for dict in [ko(), ja()] {
            let nodes = dict.analyse(&text);
            let mut pos = 0;
            for n in &nodes {
                prop_assert!(n.start >= pos);
                prop_assert_eq!(&text[n.start..n.start + n.surface.len()], n.surface.as_str());
                prop_assert!(text[pos..n.start].chars().all(|c| c.is_whitespace()), "gap {:?}", &text[pos..n.start]);
                prop_assert!(!n.surface.is_empty());
                pos = n.start + n.surface.len();
            }
        }
    }
}
