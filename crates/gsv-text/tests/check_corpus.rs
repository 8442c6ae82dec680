//! `run_check` on the public corpus: split and language segmentation at 100 % for zh/en,
//! Cantonese at 100 %, the auto modes at the issue's bars with the built-in language identifier
//! (`.gsv-data/lid.176.ftz`, installed by scripts/setup.sh).
use gsv_text::check::{run_check, run_check_with, CheckOptions};

fn init_lid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.gsv-data/lid.176.ftz"));
    gsv_text::lid::init(path).unwrap_or_else(|e| panic!("{e} — run scripts/setup.sh"));
}

fn corpus() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");
    std::fs::read_to_string(path).expect("public corpus is readable")
}

#[test]
fn zh_en_owned_kinds_pass() {
    init_lid();
    let report = run_check(&corpus(), Some(&["zh", "en"]));
    println!("{report}");
    assert!(report.parse_errors.is_empty(), "{:?}", report.parse_errors);
    assert!(report.unknown_kinds.is_empty(), "{:?}", report.unknown_kinds);
    for kind in ["split", "lang_segment", "preprocess:split", "preprocess:lang_parts"] {
        let t = report.kind(kind);
        assert!(t.passed > 0, "{kind}: no records");
        assert!(t.all_passed(), "{kind}: {t:?}");
    }
    // Everything that is not a pass is either a mismatch or explicitly not implemented.
    for t in report.by_kind().values() {
        assert_eq!(t.total(), t.passed + t.failed + t.not_implemented);
    }
    // Only zh/en/all_zh records and split records of zh/en were selected.
    for (_, lang) in report.rows.keys() {
        assert!(["zh", "en", "all_zh"].contains(&lang.as_str()), "{lang} selected");
    }
}

#[test]
fn replayed_detector_answers_make_every_split_exact() {
    let report = run_check_with(&corpus(), None, CheckOptions { replay_trace: true });
    println!("{report}");
    // With upstream's recorded detector answers the split rules alone decide: exact everywhere.
    for kind in ["split", "lang_segment", "preprocess:split", "preprocess:lang_parts"] {
        assert!(report.kind(kind).all_passed(), "{kind}: {:?}", report.kind(kind));
    }
}

#[test]
fn builtin_identifier_meets_the_auto_bars_and_yue_is_exact() {
    init_lid();
    let report = run_check(&corpus(), Some(&["zh", "en", "yue", "auto"]));
    println!("{report}");
    assert!(report.parse_errors.is_empty() && report.unknown_kinds.is_empty());
    // Every recorded detector call answers the same with the built-in model.
    let lid = report.kind("langdetect");
    assert!(lid.passed > 100 && lid.all_passed(), "langdetect: {lid:?}");
    // Cantonese (yue, all_yue): every record, every kind.
    for ((kind, lang), t) in &report.rows {
        if lang.ends_with("yue") && lang != "auto_yue" {
            assert!(t.all_passed(), "{kind} {lang}: {t:?}");
        }
    }
    // Segmentation with the built-in identifier: at least 95 % of the auto / auto_yue records and
    // of the lang_segment records.
    for (kind, lang) in [("lang_segment", "auto"), ("preprocess:lang_parts", "auto"), ("preprocess:lang_parts", "auto_yue")] {
        let t = report.rows.get(&(kind.to_string(), lang.to_string())).copied().unwrap_or_default();
        assert!(t.total() > 0 && t.rate() >= 95.0, "{kind} {lang}: {t:?}");
    }
    // Full auto preprocess: no mismatch beyond 5 %; records needing a missing frontend (ja/ko
    // until they land) are "not implemented", never passes.
    for lang in ["auto", "auto_yue"] {
        let t = report.rows.get(&("preprocess".to_string(), lang.to_string())).copied().unwrap_or_default();
        assert!(t.total() > 0 && t.failed * 20 <= t.total(), "preprocess {lang}: {t:?}");
    }
}

/// The extended corpus made by scripts/golden/yue_lid_corpus.py from upstream's Python: a few
/// hundred Cantonese clean_text records and mixed-language lang_segment records.
#[test]
fn extended_corpus_meets_the_bars() {
    init_lid();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/yue_lid_extended.jsonl");
    let text = std::fs::read_to_string(path).expect("extended corpus is readable");
    let report = run_check(&text, None);
    println!("{report}");
    assert!(report.parse_errors.is_empty() && report.unknown_kinds.is_empty());
    let yue = report.kind("clean_text");
    assert!(yue.total() >= 200 && yue.all_passed(), "clean_text yue: {yue:?}");
    let lid = report.kind("langdetect");
    assert!(lid.total() >= 300 && lid.all_passed(), "langdetect: {lid:?}");
    let seg = report.kind("lang_segment");
    assert!(seg.total() >= 300 && seg.rate() >= 95.0, "lang_segment: {seg:?}");
    let replayed = run_check_with(&text, None, CheckOptions { replay_trace: true });
    assert!(replayed.kind("lang_segment").all_passed(), "{replayed}");
}

#[test]
fn mismatches_are_reported_with_field_paths() {
    let line = r#"{"kind":"split","id":"t1","text":"你好。世界。","method":"cut3","output":"你好\n世界X","segments":["你好","世界X"],"pre_seg_language":"zh","pre_seg_text":["你好世界。"],"category":"split:zh"}"#;
    let report = run_check(line, None);
    assert_eq!(report.kind("split").failed, 1);
    let fields: Vec<&str> = report.mismatches.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(fields, vec!["output", "segments"]);
    assert!(!report.passed(Some(&["zh"])));
    assert!(report.passed(Some(&["en"])));
    let bad = run_check("{not json", None);
    assert_eq!(bad.parse_errors.len(), 1);
    assert!(!bad.passed(None));
}
