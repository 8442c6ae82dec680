//! The built-in fastText identifier (`lid.176.ftz`, installed by scripts/setup.sh) against every
//! detector call recorded in the public corpus (`langdetect_trace`): same labels in the same
//! order, scores within the check's tolerance.
use gsv_text::check::SCORE_TOLERANCE;
use gsv_text::langseg::{LangDetector, TraceEntry};
use gsv_text::lid::{self, FastLangDetect};
use serde_json::Value;

fn model() -> &'static FastLangDetect {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.gsv-data/lid.176.ftz"));
    lid::init(path).unwrap_or_else(|e| panic!("{e} — run scripts/setup.sh"))
}

fn traces() -> Vec<TraceEntry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/text/frontend_public.jsonl");
    let text = std::fs::read_to_string(path).expect("public corpus is readable");
    let mut out = Vec::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("valid JSON line");
        if let Some(trace) = record.get("langdetect_trace") {
            out.extend(serde_json::from_value::<Vec<TraceEntry>>(trace.clone()).expect("valid trace"));
        }
    }
    out
}

#[test]
fn every_recorded_call_gives_the_recorded_answer() {
    let lid = model();
    let entries = traces();
    assert!(entries.len() > 100, "only {} recorded calls", entries.len());
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    for e in &entries {
        let got = lid.detect_scored(&e.text, e.k as usize, e.threshold as f32);
        let labels: Vec<&str> = got.iter().map(|d| d.lang.as_str()).collect();
        let expected: Vec<&str> = e.result.iter().map(|r| r.lang.as_str()).collect();
        if labels != expected {
            failures.push(format!("{:?} k={}: expected {expected:?}, got {labels:?}", e.text, e.k));
            continue;
        }
        for (g, x) in got.iter().zip(&e.result) {
            worst = worst.max((f64::from(g.score) - x.score).abs());
        }
    }
    println!("{} calls, largest score difference {worst:.6}", entries.len());
    assert!(failures.is_empty(), "{} of {} calls differ:\n{}", failures.len(), entries.len(), failures.join("\n"));
    assert!(worst <= SCORE_TOLERANCE, "largest score difference {worst}");
}

#[test]
fn detector_trait_answers_like_split_lang_asks() {
    let lid = model();
    assert_eq!(lid.detect("Hello world, this is English.").expect("answers"), "en");
    assert_eq!(lid.detect("我们今天去公园散步吧").expect("answers"), "zh");
    assert_eq!(lid.detect("今日はいい天気ですね").expect("answers"), "ja");
    assert_eq!(lid.detect("안녕하세요 반갑습니다").expect("answers"), "ko");
    let candidates = lid.candidates("Bonjour tout le monde").expect("answers");
    assert_eq!(candidates.first().map(String::as_str), Some("fr"));
    assert!(candidates.len() <= 5);
    // Whitespace-only text still has the end-of-sentence token, so fastText answers something.
    assert!(lid.detect("   ").is_ok());
}

#[test]
fn missing_or_bad_model_files_are_clear_errors() {
    let missing = FastLangDetect::load(std::path::Path::new("/nonexistent/lid.176.ftz")).expect_err("missing file");
    assert!(matches!(missing, gsv_text::Error::Unavailable(_)), "{missing:?}");
    assert!(missing.to_string().contains("scripts/setup.sh"));
    let dir = std::env::temp_dir().join(format!("gsv-lid-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.ftz");
    std::fs::write(&bad, b"not a model").expect("write");
    let err = FastLangDetect::load(&bad).expect_err("bad file");
    assert!(matches!(err, gsv_text::Error::Invalid(_)), "{err:?}");
    // A truncated copy of the real model fails cleanly too.
    let real = std::fs::read(model().path()).expect("model readable");
    std::fs::write(&bad, &real[..real.len() / 2]).expect("write");
    assert!(FastLangDetect::load(&bad).is_err());
    std::fs::remove_dir_all(&dir).ok();
}
