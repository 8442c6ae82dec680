//! Chinese frontend against a larger corpus of upstream outputs generated with the same
//! upstream code and packages as the public fixtures (see `data/zh/oracle.py`): random
//! dictionary-word sentences, number/date/unit templates, rare characters, fixture paragraphs.
#[path = "zh_check.rs"]
mod zh_check;

use serde_json::Value;
use zh_check::check;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/zh/oracle_corpus.jsonl.gz");

#[test]
fn zh_matches_upstream_on_generated_corpus() {
    use std::io::Read;
    let bytes = std::fs::read(CORPUS).expect("corpus readable");
    let mut data = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut data).expect("corpus gunzips");
    let mut total = 0;
    let mut failures = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let rec: Value = serde_json::from_str(line).expect("valid JSON line");
        total += 1;
        if let Err(e) = check(&rec) {
            failures.push(format!("{} {:?}\n    {e}", rec["version"].as_str().unwrap_or("?"), rec["text"].as_str().unwrap_or("")));
        }
    }
    assert!(total > 0, "empty corpus");
    let passed = total - failures.len();
    println!("zh oracle corpus: {passed}/{total} records match ({:.2} %)", 100.0 * passed as f64 / total as f64);
    assert!(failures.is_empty(), "{} mismatching records:\n{}", failures.len(), failures.join("\n"));
}
