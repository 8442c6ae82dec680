//! Chinese frontend against the upstream golden records (`clean_text`, language zh, v1 and v2):
//! `tn_sentences` (via `zh::normalize`), `norm_text`, `phones` and `word2ph` must match exactly.
//! Prints the match rate and fails listing every mismatching record.
use gsv_text::{clean_text, zh, Language, Version};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");

/// Records known not to match, with the reason. They still count as failures.
const KNOWN_MISMATCHES: &[(&str, &str)] = &[];

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

fn check(rec: &Value) -> Result<(), String> {
    let text = rec["text"].as_str().ok_or("record without text")?;
    let version = match rec["version"].as_str() {
        Some("v1") => Version::V1,
        _ => Version::V2,
    };
    let mut diffs = Vec::new();
    if let Some(expected) = strings(&rec["tn_sentences"]) {
        match zh::normalize(text) {
            Ok(got) if got == expected => {}
            got => diffs.push(format!("tn_sentences: expected {expected:?}, got {got:?}")),
        }
    }
    let got = clean_text(text, Language::Zh, version);
    if let Some(err) = rec.get("error").and_then(Value::as_str) {
        if got.is_ok() {
            diffs.push(format!("expected error {err:?}, got {got:?}"));
        }
        return if diffs.is_empty() { Ok(()) } else { Err(diffs.join("\n    ")) };
    }
    let got = match got {
        Ok(c) => c,
        Err(e) => {
            diffs.push(format!("unexpected error: {e}"));
            return Err(diffs.join("\n    "));
        }
    };
    let norm = rec["norm_text"].as_str().unwrap_or_default();
    if got.norm_text != norm {
        diffs.push(format!("norm_text: expected {norm:?}, got {:?}", got.norm_text));
    }
    let phones = strings(&rec["phones"]).unwrap_or_default();
    if got.phones != phones {
        diffs.push(format!("phones: expected {phones:?}\n            got {:?}", got.phones));
    }
    let word2ph: Option<Vec<usize>> =
        rec["word2ph"].as_array().map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect());
    if got.word2ph != word2ph {
        diffs.push(format!("word2ph: expected {word2ph:?}, got {:?}", got.word2ph));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n    "))
    }
}

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
