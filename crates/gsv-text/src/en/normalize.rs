//! Upstream `english.text_normalize`: the `rep_map` pass, `en_normalization/expend.normalize`
//! (numbers, money, times, units, accents, character filter, acronym splitting) and
//! `replace_consecutive_punctuation`.
//!
//! Python regexes that use `\b` are matched by hand (see [`is_py_word`]) because Python's
//! word characters (`str.isalnum()` + `_`) differ from the `regex` crate's Unicode `\w`; the
//! others run on the `regex` crate, whose leftmost-first matching equals Python's for these
//! patterns. Python's `\s` also matches U+001C..U+001F, hence [`PY_S`].
use std::sync::LazyLock;

use regex::{Captures, Regex};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::inflect::{number_to_words, ordinal_of_digits, sub_ord, year_to_words};
use crate::Error;

/// Python's `\s` for `str` patterns.
const PY_S: &str = r"[\s\x1C-\x1F]";
const SUPERSCRIPTS: &str = "[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]";

static RE_ASMD: LazyLock<Regex> = LazyLock::new(|| {
    let operand = format!(
        r"((-?)((\d+)(\.\d+)?{SUPERSCRIPTS}*)|(\.\d+{SUPERSCRIPTS}*)|([A-Za-z]{SUPERSCRIPTS}*))"
    );
    re(&format!(r"{operand}{PY_S}+([+\-×÷=]){PY_S}+{operand}"))
});
static RE_INTEGER: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"(?:^|{PY_S}+)(-)(\d+)")));
static COMMA_NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"([0-9][0-9,]+[0-9])"));
static POUNDS_START: LazyLock<Regex> = LazyLock::new(|| re(r"£([0-9.,]*[0-9]+)"));
static POUNDS_END: LazyLock<Regex> = LazyLock::new(|| re(r"([0-9.,]*[0-9]+)£"));
static DOLLARS_START: LazyLock<Regex> = LazyLock::new(|| re(r"\$([0-9.,]*[0-9]+)"));
// [quirk] upstream's class also contains "(", which makes `int()` fail on "(5$".
static DOLLARS_END: LazyLock<Regex> = LazyLock::new(|| re(r"([(0-9.,]*[0-9]+)\$"));
static DECIMAL: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"([0-9]+\.{PY_S}*[0-9]+)")));
static FRACTION: LazyLock<Regex> = LazyLock::new(|| re(r"([0-9]+)/([0-9]+)"));
static ORDINAL: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+(st|nd|rd|th)"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]+"));
static IE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)i\.e\."));
static EG: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)e\.g\."));

fn re(pattern: &str) -> Regex {
    // Built-in literal patterns: a failure is a programming error that every test run catches.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern}: {e}"))
}

/// Upstream `rep_map`, in its order. [quirk] upstream `re.escape`s the keys, so the two
/// character-class keys only match their literal text (`"，"`, `"；"`, `":"`, `'"'` … are
/// *not* replaced here; the character filter later deletes them).
const REP_MAP: [(&str, &str); 5] = [
    ("[;:：，；]", ","),
    ("[\"’]", "'"),
    ("。", "."),
    ("！", "!"),
    ("？", "?"),
];

/// Upstream `punctuation` (symbols.py): `! ? … , . -`.
const PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// Measurement suffixes of `expend.measurement_map`, in the regex's alternation order.
const MEASUREMENTS: [(&str, &str, &str); 12] = [
    ("m", "meter", "meters"),
    ("km", "kilometer", "kilometers"),
    ("km/h", "kilometer per hour", "kilometers per hour"),
    ("ft", "feet", "feet"),
    ("L", "liter", "liters"),
    ("tbsp", "tablespoon", "tablespoons"),
    ("tsp", "teaspoon", "teaspoons"),
    ("h", "hour", "hours"),
    ("min", "minute", "minutes"),
    ("s", "second", "seconds"),
    ("°C", "degree celsius", "degrees celsius"),
    ("°F", "degree fahrenheit", "degrees fahrenheit"),
];

/// `english.text_normalize`.
pub(crate) fn text_normalize(text: &str) -> Result<String, Error> {
    let text = apply_rep_map(text);
    let text = expand(&text)?;
    Ok(replace_consecutive_punctuation(&text))
}

fn apply_rep_map(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        for (from, to) in REP_MAP {
            if let Some(after) = rest.strip_prefix(from) {
                out.push_str(to);
                rest = after;
                continue 'outer;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Python's `\w` for `str` patterns: `str.isalnum()` or `_` (marks are not word characters).
pub(crate) fn is_py_word(c: char) -> bool {
    c == '_' || (c.is_alphanumeric() && !is_combining_mark(c))
}

/// `\b` between `chars[i-1]` and `chars[i]`.
fn boundary(chars: &[char], i: usize) -> bool {
    let before = i
        .checked_sub(1)
        .and_then(|j| chars.get(j))
        .is_some_and(|&c| is_py_word(c));
    let after = chars.get(i).is_some_and(|&c| is_py_word(c));
    before != after
}

/// Scans `text` for hand-matched patterns: `try_at(chars, i)` returns the end of a match
/// starting at `i` and its replacement. Like `re.sub`, scanning resumes after each match.
fn sub_by_hand(
    text: &str,
    mut try_at: impl FnMut(&[char], usize) -> Result<Option<(usize, String)>, Error>,
) -> Result<String, Error> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((end, replacement)) = try_at(&chars, i)? {
            out.push_str(&replacement);
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn digits_at(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    i
}

fn collect(chars: &[char], from: usize, to: usize) -> String {
    chars[from..to].iter().collect()
}

/// Python `int(s)` for what upstream's regexes capture: the canonical decimal digits.
fn py_int(s: &str) -> Result<String, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 4300 {
        return Err(Error::Invalid(format!(
            "invalid literal for int() with base 10: '{s}'"
        )));
    }
    let trimmed = s.trim_start_matches('0');
    Ok(if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    })
}

fn small(digits: &str) -> Option<u64> {
    digits.parse().ok()
}

/// `expend._convert_ordinal` on `\b([0-9]+)\. `.
fn ordinal_numbers(text: &str) -> Result<String, Error> {
    sub_by_hand(text, |chars, i| {
        if !chars[i].is_ascii_digit() || !boundary(chars, i) {
            return Ok(None);
        }
        let end = digits_at(chars, i);
        if chars.get(end) == Some(&'.') && chars.get(end + 1) == Some(&' ') {
            let ordinal = ordinal_of_digits(&collect(chars, i, end));
            return Ok(Some((end + 2, format!("{ordinal}, "))));
        }
        Ok(None)
    })
}

/// `expend._expand_time` on `\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b`.
fn times(text: &str) -> Result<String, Error> {
    sub_by_hand(text, |chars, i| {
        if !chars[i].is_ascii_digit() || !boundary(chars, i) {
            return Ok(None);
        }
        let at = |k: usize| chars.get(i + k).copied().unwrap_or('\0');
        let hour_len = if matches!(at(0), '0' | '1') && at(1).is_ascii_digit()
            || at(0) == '2' && matches!(at(1), '0'..='3')
        {
            2
        } else if at(1) == ':' {
            1
        } else {
            return Ok(None);
        };
        let colon = i + hour_len;
        let (m1, m2) = (at(hour_len + 1), at(hour_len + 2));
        if at(hour_len) != ':'
            || !matches!(m1, '0'..='5')
            || !m2.is_ascii_digit()
            || !boundary(chars, colon + 3)
        {
            return Ok(None);
        }
        let mut hours: u32 = collect(chars, i, colon)
            .parse()
            .map_err(|_| Error::Invalid("hour".into()))?;
        let minutes = u32::from(m1 as u8 - b'0') * 10 + u32::from(m2 as u8 - b'0');
        let period = if hours < 12 { "a.m." } else { "p.m." };
        if hours > 12 {
            hours -= 12;
        }
        let hour_word = number_to_words(&hours.to_string(), "and")?;
        let text = if minutes == 0 {
            format!("{hour_word} o'clock {period}")
        } else {
            format!(
                "{hour_word} {} {period}",
                number_to_words(&minutes.to_string(), "and")?
            )
        };
        Ok(Some((colon + 3, text)))
    })
}

/// `expend._expand_measurement` on
/// `\b([0-9]+(\.[0-9]+)?(m|km|km/h|ft|L|tbsp|tsp|h|min|s|°C|°F))\b`.
fn measurements(text: &str) -> Result<String, Error> {
    sub_by_hand(text, |chars, i| {
        if !chars[i].is_ascii_digit() || !boundary(chars, i) {
            return Ok(None);
        }
        let int_end = digits_at(chars, i);
        let mut num_end = int_end;
        if chars.get(int_end) == Some(&'.')
            && chars.get(int_end + 1).is_some_and(char::is_ascii_digit)
        {
            num_end = digits_at(chars, int_end + 1);
        }
        for (sign, one, many) in MEASUREMENTS {
            let sign_chars: Vec<char> = sign.chars().collect();
            let end = num_end + sign_chars.len();
            if chars.get(num_end..end) == Some(&sign_chars[..]) && boundary(chars, end) {
                let number = collect(chars, i, num_end);
                // [quirk] upstream drops the "." to get the count, so only a plain "1" is singular.
                let count = py_int(&number.replace('.', ""))?;
                let unit = if num_end == int_end && count == "1" {
                    one
                } else {
                    many
                };
                return Ok(Some((end, format!("{number} {unit}"))));
            }
        }
        Ok(None)
    })
}

/// `expend._expand_pounds` / `_expand_dollars`.
fn money(found: &str, units: [&str; 4]) -> Result<String, Error> {
    let [major_one, major_many, minor_one, minor_many] = units;
    let parts: Vec<&str> = found.split('.').collect();
    if parts.len() > 2 {
        return Ok(format!("{found} {major_many}"));
    }
    let major = if parts[0].is_empty() {
        "0".to_string()
    } else {
        py_int(parts[0])?
    };
    let minor = match parts.get(1) {
        Some(p) if !p.is_empty() => py_int(&format!("{p:0<2}"))?,
        _ => "0".to_string(),
    };
    let major_unit = if major == "1" { major_one } else { major_many };
    let minor_unit = if minor == "1" { minor_one } else { minor_many };
    Ok(match (major != "0", minor != "0") {
        (true, true) => format!("{major} {major_unit} and {minor} {minor_unit}"),
        (true, false) => format!("{major} {major_unit}"),
        (false, true) => format!("{minor} {minor_unit}"),
        (false, false) => format!("zero {major_many}"),
    })
}

/// `re.sub` with a fallible replacement function.
fn try_replace_all(
    regex: &Regex,
    text: &str,
    mut replace: impl FnMut(&Captures) -> Result<String, Error>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in regex.captures_iter(text) {
        let Some(m) = caps.get(0) else { continue };
        out.push_str(&text[last..m.start()]);
        out.push_str(&replace(&caps)?);
        last = m.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn group<'t>(caps: &Captures<'t>, i: usize) -> &'t str {
    caps.get(i).map_or("", |m| m.as_str())
}

/// `expend._expend_fraction`.
fn fraction(numerator: &str, denominator: &str) -> Result<String, Error> {
    let (numerator, denominator) = (py_int(numerator)?, py_int(denominator)?);
    let numerator_part = number_to_words(&numerator, "and")?;
    let denominator_part = match denominator.as_str() {
        "2" if numerator == "1" => "half".to_string(),
        "2" => "halves".to_string(),
        "1" => return Ok(numerator_part),
        _ => {
            let ordinal = sub_ord(&number_to_words(&denominator, "and")?);
            if numerator != "0" && numerator != "1" {
                format!("{ordinal}s")
            } else {
                ordinal
            }
        }
    };
    Ok(format!("{numerator_part} {denominator_part}"))
}

/// `expend._expand_number`.
fn number(digits: &str) -> Result<String, Error> {
    let num = py_int(digits)?;
    match small(&num) {
        Some(2000) => Ok("two thousand".into()),
        Some(n @ 2001..=2009) => Ok(format!(
            "two thousand {}",
            number_to_words(&(n % 100).to_string(), "and")?
        )),
        Some(n @ 1001..=2999) if n % 100 == 0 => Ok(format!(
            "{} hundred",
            number_to_words(&(n / 100).to_string(), "and")?
        )),
        // The match arm bounds keep `n` in u32 range.
        Some(n @ 1001..=2999) => Ok(year_to_words(n as u32)),
        _ => number_to_words(&num, ""),
    }
}

/// `expend.normalize`.
fn expand(text: &str) -> Result<String, Error> {
    let mut text = ordinal_numbers(text)?;
    while RE_ASMD.is_match(&text) {
        text = RE_ASMD
            .replace_all(&text, |c: &Captures| {
                let op = match group(c, 8) {
                    "+" => " plus ",
                    "-" => " minus ",
                    "×" => " times ",
                    "÷" => " divided by ",
                    _ => " Equals ",
                };
                format!("{}{op}{}", group(c, 1), group(c, 9))
            })
            .into_owned();
    }
    // [quirk] the whole match, leading whitespace included, becomes "negative N".
    text = RE_INTEGER.replace_all(&text, "negative ${2}").into_owned();
    text = COMMA_NUMBER
        .replace_all(&text, |c: &Captures| group(c, 1).replace(',', ""))
        .into_owned();
    text = times(&text)?;
    text = measurements(&text)?;
    let pounds = ["pound", "pounds", "penny", "pence"];
    let dollars = ["dollar", "dollars", "cent", "cents"];
    text = try_replace_all(&POUNDS_START, &text, |c| money(group(c, 1), pounds))?;
    text = try_replace_all(&POUNDS_END, &text, |c| money(group(c, 1), pounds))?;
    text = try_replace_all(&DOLLARS_START, &text, |c| money(group(c, 1), dollars))?;
    text = try_replace_all(&DOLLARS_END, &text, |c| money(group(c, 1), dollars))?;
    text = DECIMAL
        .replace_all(&text, |c: &Captures| {
            let found = group(c, 1);
            let (int, frac) = found.split_once('.').unwrap_or((found, ""));
            let spelled: Vec<String> = frac.chars().map(String::from).collect();
            format!("{int} point {}", spelled.join(" "))
        })
        .into_owned();
    text = try_replace_all(&FRACTION, &text, |c| fraction(group(c, 1), group(c, 2)))?;
    text = try_replace_all(&ORDINAL, &text, |c| number_to_words(group(c, 0), "and"))?;
    text = try_replace_all(&NUMBER, &text, |c| number(group(c, 0)))?;

    // Strip accents (NFD), "%" → " percent", then keep only ` A-Za-z'.,?!-`. Dropping the
    // combining marks first changes nothing: the filter removes every non-ASCII character.
    let mut filtered = String::with_capacity(text.len());
    for c in text.nfd() {
        match c {
            '%' => filtered.push_str(" percent"),
            ' ' | 'A'..='Z' | 'a'..='z' | '\'' | '.' | ',' | '?' | '!' | '-' => filtered.push(c),
            _ => {}
        }
    }
    let text = IE.replace_all(&filtered, "that is");
    let text = EG.replace_all(&text, "for example");
    Ok(split_capitals(&text))
}

/// `re.sub(r"(?<!^)(?<![\s])([A-Z])", r" \1", text)`: a space before every capital that is
/// neither first nor after whitespace (only ASCII is left at this point).
fn split_capitals(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if c.is_ascii_uppercase() && prev.is_some_and(|p| !p.is_whitespace()) {
            out.push(' ');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// `english.replace_consecutive_punctuation`: `([punct\s])([punct])+` → `\1`.
pub(crate) fn replace_consecutive_punctuation(text: &str) -> String {
    let is_punct = |c: char| PUNCTUATION.contains(&c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if is_punct(c) || c.is_whitespace() || ('\x1c'..='\x1f').contains(&c) {
            while i < chars.len() && is_punct(chars[i]) {
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_upstream() -> Result<(), Error> {
        let cases = [
            (
                "I have 3 apples and 12 oranges.",
                "I have three apples and twelve oranges.",
            ),
            (
                "It costs $12.50, or about £10.",
                "It costs twelve dollars and fifty cents, or about ten pounds.",
            ),
            (
                "Wake me at 7:05, not at 19:30.",
                "Wake me at seven five a.m. not at seven thirty p.m.",
            ),
            ("Hello，world！How are you？", "Helloworld! How are you?"),
            ("e.g. cats", "for example cats"),
            ("NASA", "N A S A"),
            ("1. item", "first, item"),
            ("3 - 2 = 1", "three minus two Equals one"),
            ("a -5 b", "anegative five b"),
            ("Wait... what?!", "Wait. what?"),
            ("50%", "fifty percent"),
            ("café", "cafe"),
            ("1905", "nineteen oh five"),
            ("101/2", "one hundred and one halves"),
        ];
        for (input, want) in cases {
            assert_eq!(text_normalize(input)?, want, "{input}");
        }
        assert!(text_normalize("(5$").is_err());
        Ok(())
    }
}
