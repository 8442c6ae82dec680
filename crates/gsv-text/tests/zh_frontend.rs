//! Chinese frontend against the upstream golden records (`clean_text`, language zh, v1 and v2):
//! `tn_sentences` (via `zh::normalize`), `norm_text`, `phones` and `word2ph` must match exactly.
//! Prints the match rate and fails listing every mismatching record.
#[path = "zh_check.rs"]
mod zh_check;

use serde_json::Value;
use zh_check::check;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");

/// Records known not to match, with the reason. They still count as failures.
const KNOWN_MISMATCHES: &[(&str, &str)] = &[];

#[test]
fn zh_clean_text_matches_upstream_fixtures() {
    let data = std::fs::read_to_string(FIXTURES).expect("fixture file readable");
    let mut total = 0;
    let mut failures = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).expect("valid JSON line");
        if rec["kind"] != "clean_text" || rec["language"] != "zh" {
            continue;
        }
        total += 1;
        let id = format!("{} {}", rec["id"].as_str().unwrap_or("?"), rec["version"].as_str().unwrap_or("?"));
        let known = KNOWN_MISMATCHES.iter().find(|(k, _)| *k == id).map(|(_, why)| *why);
        match (check(&rec), known) {
            (Ok(()), Some(_)) => failures.push(format!("{id}: listed as a known mismatch but now passes")),
            (Ok(()), None) => {}
            (Err(e), why) => failures.push(format!(
                "{id} {:?}{}\n    {e}",
                rec["text"].as_str().unwrap_or(""),
                why.map(|w| format!(" [known: {w}]")).unwrap_or_default()
            )),
        }
    }
    assert!(total > 0, "no zh clean_text records found");
    let passed = total - failures.len();
    println!("zh clean_text: {passed}/{total} records match ({:.1} %)", 100.0 * passed as f64 / total as f64);
    assert!(failures.is_empty(), "{} mismatching records:\n{}", failures.len(), failures.join("\n"));
}
