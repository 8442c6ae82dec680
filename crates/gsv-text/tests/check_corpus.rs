//! `run_check` on the public corpus: the record kinds this crate owns (split, language
//! segmentation) must be at 100 % for zh/en; clean_text/preprocess rows are printed until the
//! zh/en G2P lands.
use gsv_text::check::run_check;

fn corpus() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");
    std::fs::read_to_string(path).expect("public corpus is readable")
}

#[test]
fn zh_en_owned_kinds_pass() {
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
fn all_languages_report_not_implemented_not_passes() {
    let report = run_check(&corpus(), None);
    println!("{report}");
    // Language segmentation replays the detector, so it is exact for every setting, auto included.
    for kind in ["split", "lang_segment", "preprocess:split", "preprocess:lang_parts"] {
        assert!(report.kind(kind).all_passed(), "{kind}: {:?}", report.kind(kind));
    }
    let auto = report.rows.get(&("preprocess".to_string(), "auto".to_string())).copied().unwrap_or_default();
    assert_eq!(auto.passed, 0);
    assert_eq!(auto.not_implemented, auto.total());
    assert!(report.not_implemented.contains_key("auto"));
    assert!(!report.passed(Some(&["auto"])));
    assert!(!report.passed(None));
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
