//! English `clean_text` against 1,500 further upstream outputs (data/en/upstream_reference.jsonl,
//! made with data/en/upstream_harness.py in the fixtures' variant): sentences with numbers,
//! money, times, units, fractions, arithmetic, abbreviations, URLs, names, possessives,
//! out-of-vocabulary words (wordsegment + GRU), random letter strings and random Unicode.
//! `norm_text` and `phones` must match exactly; records where upstream raised must fail.
use std::path::PathBuf;

use gsv_text::{clean_text, Language, Version};
use serde_json::Value;

#[test]
fn english_matches_upstream_reference_corpus() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/en/upstream_reference.jsonl");
    let content = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut total = 0;
    let mut failures = Vec::new();
    for (line_no, line) in content.lines().enumerate() {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", line_no + 1));
        let text = record["text"].as_str().unwrap_or_default();
        total += 1;
        let label = format!("line {} {text:?}", line_no + 1);
        match (
            clean_text(text, Language::En, Version::V2),
            record.get("error"),
        ) {
            (Err(_), Some(_)) => {}
            (Ok(got), Some(err)) => failures.push(format!(
                "{label}: expected error {err}, got {:?}",
                got.norm_text
            )),
            (Err(e), None) => failures.push(format!("{label}: unexpected error {e}")),
            (Ok(got), None) => {
                let want_norm = record["norm_text"].as_str().unwrap_or_default();
                let want_phones = record["phones"].as_str().unwrap_or_default();
                let got_phones = got.phones.join(" ");
                if got.norm_text != want_norm || got_phones != want_phones {
                    failures.push(format!(
                        "{label}\n  expected {want_norm:?} [{want_phones}]\n  got      {:?} [{got_phones}]",
                        got.norm_text
                    ));
                }
            }
        }
    }
    let passed = total - failures.len();
    println!(
        "English reference corpus: {passed}/{total} match ({:.2} %)",
        100.0 * passed as f64 / total as f64
    );
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
