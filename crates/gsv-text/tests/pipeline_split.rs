//! Every `split` record of the public corpus (all methods: raw `output`, `segments`,
//! `pre_seg_text`), and the split stage of every `preprocess` record, must match exactly.
use gsv_text::split::{self, SplitMethod};
use gsv_text::Error;
use serde_json::Value;

fn records() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");
    let text = std::fs::read_to_string(path).expect("public corpus is readable");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("valid JSON line")).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("list").iter().map(|s| s.as_str().expect("string").to_string()).collect()
}

#[test]
fn split_records_match_exactly() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for r in records().iter().filter(|r| r["kind"] == "split") {
        let id = r["id"].as_str().unwrap_or("?");
        let text = r["text"].as_str().expect("text");
        let method: SplitMethod = r["method"].as_str().expect("method").parse().expect("known method");
        let output = method.apply(text).expect("cut succeeds on corpus text");
        if output != r["output"].as_str().expect("output") {
            failures.push(format!("{id} {method} output: got {output:?}"));
        }
        let segments: Vec<String> = output.split('\n').map(str::to_string).collect();
        if segments != strings(&r["segments"]) {
            failures.push(format!("{id} {method} segments: got {segments:?}"));
        }
        let lang = r["pre_seg_language"].as_str().expect("pre_seg_language");
        let got = split::pre_seg_text(&split::replace_consecutive_punctuation(text), lang, method);
        match (&got, r.get("pre_seg_text"), r.get("pre_seg_text_error")) {
            (Ok(got), Some(expected), _) if *got == strings(expected) => {}
            (Err(Error::EmptyText), None, Some(err)) if err.as_str() == Some("ValueError: Please enter valid text.") => {}
            _ => failures.push(format!("{id} {method} pre_seg_text: got {got:?}")),
        }
        checked += 1;
    }
    assert_eq!(checked, 66, "public corpus has 66 split records");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn preprocess_records_split_stage_matches() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for r in records().iter().filter(|r| r["kind"] == "preprocess") {
        let id = r["id"].as_str().unwrap_or("?");
        let text = r["text"].as_str().expect("text");
        let lang = r["language"].as_str().expect("language");
        let method: SplitMethod = r["split_method"].as_str().expect("split_method").parse().expect("method");
        let merged = split::replace_consecutive_punctuation(text);
        if let Some(expected) = r.get("text_after_punct_merge") {
            if expected.as_str() != Some(merged.as_str()) {
                failures.push(format!("{id} {lang} punct merge: got {merged:?}"));
            }
        }
        let got = split::pre_seg_text(&merged, lang, method);
        match (&got, r.get("segments"), r.get("error")) {
            (Ok(got), Some(expected), _) if *got == strings(expected) => {}
            (Err(Error::EmptyText), _, Some(err)) if err.as_str() == Some("ValueError: Please enter valid text.") => {}
            _ => failures.push(format!("{id} {lang} {method} segments: got {got:?}")),
        }
        checked += 1;
    }
    assert!(checked > 400, "only {checked} preprocess records");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn split_big_text_quirks() {
    let long = "字".repeat(600);
    assert_eq!(split::split_big_text(&long, 510), vec![String::new(), long.clone()]);
    let text = format!("{}，{}。", "甲".repeat(300), "乙".repeat(300));
    let parts = split::split_big_text(&text, 510);
    assert_eq!(parts, vec![format!("{}，", "甲".repeat(300)), format!("{}。", "乙".repeat(300))]);
    let segs = split::pre_seg_text(&format!("{}。", "丙".repeat(600)), "zh", SplitMethod::Cut0).expect("splits");
    assert_eq!(segs, vec![String::new(), "丙".repeat(600), "。".to_string()]);
}

#[test]
fn prompt_text_rule() {
    assert_eq!(split::prompt_text("你好\n", "zh").expect("ok"), "你好。");
    assert_eq!(split::prompt_text("hello", "en").expect("ok"), "hello.");
    assert_eq!(split::prompt_text("hello!", "en").expect("ok"), "hello!");
    assert_eq!(split::prompt_text("ok", "all_zh").expect("ok"), "ok。");
    assert!(matches!(split::prompt_text("\n\n", "zh"), Err(Error::EmptyText)));
}

#[test]
fn cut_methods_on_edge_inputs() {
    assert_eq!(split::cut0("..."), "\n");
    assert!(SplitMethod::Cut1.apply("").is_err());
    assert_eq!(split::cut1("一。二。三。四。五。六。七。八。九。").expect("ok"), "一。二。三。四。\n五。六。七。八。九。");
    assert_eq!(split::cut4("3.14 is pi. yes"), "3.14 is pi\n yes");
    assert_eq!(split::cut5("1.5元，好"), "1.5元，\n好");
    assert_eq!(split::replace_consecutive_punctuation("好!!??…,.-了"), "好!了");
}
