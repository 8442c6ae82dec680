//! Small pieces of Python semantics the port must reproduce exactly: `re.sub` with a callback
//! that may fail, `str.strip`/`str.split()` whitespace, `str.isnumeric` on Han characters, and
//! the `IndexError`s that upstream raises on odd input (kept as errors, never panics).
use std::sync::OnceLock;

use fancy_regex::{Captures, Regex};

use crate::Error;

/// A regex compiled once; compilation failure (a bug, not an input problem) surfaces as an error.
pub(crate) struct Rx {
    pattern: &'static str,
    re: OnceLock<Result<Regex, String>>,
}

impl Rx {
    pub(crate) const fn new(pattern: &'static str) -> Self {
        Rx { pattern, re: OnceLock::new() }
    }

    pub(crate) fn get(&self) -> Result<&Regex, Error> {
        self.re
            .get_or_init(|| Regex::new(self.pattern).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Invalid(format!("zh: regex `{}` does not compile: {e}", self.pattern)))
    }

    /// `re.search(pattern, text) is not None`.
    pub(crate) fn is_match(&self, text: &str) -> Result<bool, Error> {
        self.get()?.is_match(text).map_err(|e| regex_err(self.pattern, text, e))
    }

    /// `re.sub(pattern, f, text)`: every non-overlapping match, leftmost first, replaced by `f`.
    pub(crate) fn sub(
        &self,
        text: &str,
        mut f: impl FnMut(&Captures) -> Result<String, Error>,
    ) -> Result<String, Error> {
        let re = self.get()?;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for caps in re.captures_iter(text) {
            let caps = caps.map_err(|e| regex_err(self.pattern, text, e))?;
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&text[last..m.start()]);
            out.push_str(&f(&caps)?);
            last = m.end();
        }
        out.push_str(&text[last..]);
        Ok(out)
    }
}

fn regex_err(pattern: &str, text: &str, e: fancy_regex::Error) -> Error {
    Error::Invalid(format!("zh: regex `{pattern}` failed on `{}`: {e}", preview(text)))
}

/// At most 60 characters of `text`, for error messages.
pub(crate) fn preview(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().nth(60).is_some() {
        s.push('…');
    }
    s
}

/// Group `i` of a match, or "" when it did not participate (Python's `None`, falsy).
pub(crate) fn group<'t>(caps: &Captures<'t>, i: usize) -> &'t str {
    caps.get(i).map_or("", |m| m.as_str())
}

/// Python `str.isspace` for one character (Rust's White_Space plus the 0x1C..0x1F separators).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `str.strip()` with no argument.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Han characters of U+4E00..U+9FA5 for which Python's `str.isnumeric()` is true (Unicode
/// Numeric_Type); upstream's tone sandhi asks this of the characters next to 一/个.
const HAN_NUMERIC: &str = "一七万三九二五亖亿什仟仨伍佰億兆兩八六十千卄卅卌叁参參叄四壱壹幺廾廿弌弍弎弐拾捌柒漆玖百肆萬貮貳贰阡陆陌陸零";

/// Python `str.isnumeric()` for one character.
pub(crate) fn is_numeric(c: char) -> bool {
    if ('\u{4e00}'..='\u{9fff}').contains(&c) {
        HAN_NUMERIC.contains(c)
    } else {
        c.is_numeric()
    }
}

/// Python's `IndexError` as an error naming what was indexed.
pub(crate) fn index_error(what: &str) -> Error {
    Error::Invalid(format!("zh: IndexError: {what} index out of range"))
}

/// `s[-1]` for a string: its last character.
pub(crate) fn last_char(s: &str) -> Result<char, Error> {
    s.chars().next_back().ok_or_else(|| index_error("string"))
}

/// `s[:-1] + t` (Python slicing: "" stays "").
pub(crate) fn set_tone(s: &str, tone: char) -> String {
    let mut chars = s.chars();
    chars.next_back();
    let mut out: String = chars.collect();
    out.push(tone);
    out
}

/// The characters of a string (Python indexes strings by code point).
pub(crate) fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}
