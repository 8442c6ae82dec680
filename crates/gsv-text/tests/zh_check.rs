//! Shared record check for the zh tests (included with `#[path]`; no tests of its own).
#![allow(dead_code)]
use gsv_text::{clean_text, zh, Language, Version};
use serde_json::Value;

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect()
}

pub fn check(rec: &Value) -> Result<(), String> {
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

