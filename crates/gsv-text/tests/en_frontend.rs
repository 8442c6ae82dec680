//! English `clean_text` against the golden fixtures (upstream GPT-SoVITS 48b1a016 with every
//! POS tag `NN`, see tests/fixtures/text/README.md): `norm_text` and `phones` must match
//! exactly for every `clean_text` record with `language == "en"` (v1 and v2).
use std::path::PathBuf;

use gsv_text::{clean_text, Language, Version};
use serde_json::Value;

/// Records that are known not to pass, with the reason. They still count as failures.
const KNOWN_MISMATCHES: &[(&str, &str)] = &[];

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/text/frontend_public.jsonl")
}

#[test]
fn english_clean_text_matches_upstream() {
    let path = fixture_path();
    let content = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut total = 0;
    let mut failures = Vec::new();
    for (line_no, line) in content.lines().enumerate() {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", line_no + 1));
        if record["kind"] != "clean_text" || record["language"] != "en" {
            continue;
        }
        total += 1;
        let id = record["id"].as_str().unwrap_or("?");
        let version = match record["version"].as_str() {
            Some("v1") => Version::V1,
            _ => Version::V2,
        };
        let text = record["text"].as_str().unwrap_or_default();
        let label = format!("{id} ({})", record["version"]);
        match (clean_text(text, Language::En, version), record.get("error")) {
            (Err(_), Some(_)) => {}
            (Ok(got), Some(err)) => failures.push(format!(
                "{label}: expected error {err}, got {:?}",
                got.phones
            )),
            (Err(e), None) => failures.push(format!("{label}: unexpected error {e}")),
            (Ok(got), None) => {
                let want_norm = record["norm_text"].as_str().unwrap_or_default();
                let want_phones: Vec<&str> = record["phones"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if got.norm_text != want_norm {
                    failures.push(format!(
                        "{label}: norm_text\n  expected {want_norm:?}\n  got      {:?}",
                        got.norm_text
                    ));
                }
                if got.phones != want_phones {
                    failures.push(format!(
                        "{label}: phones\n  expected {}\n  got      {}",
                        want_phones.join(" "),
                        got.phones.join(" ")
                    ));
                }
                if got.word2ph.is_some() {
                    failures.push(format!("{label}: word2ph must be None for English"));
                }
            }
        }
        if let Some((_, reason)) = KNOWN_MISMATCHES.iter().find(|(known, _)| *known == id) {
            failures.push(format!("{label}: known mismatch: {reason}"));
        }
    }
    assert!(
        total > 0,
        "no English clean_text records in {}",
        path.display()
    );
    let failed_records = failures
        .iter()
        .map(|f| f.split(':').next().unwrap_or_default())
        .collect::<std::collections::BTreeSet<_>>();
    let passed = total - failed_records.len();
    println!(
        "English clean_text: {passed}/{total} records match ({:.1} %)",
        100.0 * passed as f64 / total as f64
    );
    assert!(
        failures.is_empty(),
        "{} mismatching record(s):\n{}",
        failed_records.len(),
        failures.join("\n")
    );
}
