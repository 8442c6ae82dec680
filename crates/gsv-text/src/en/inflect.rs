//! The parts of Python `inflect` 7.6.0 (`engine.number_to_words`, `engine.ordinal`) that
//! upstream's English normaliser calls, for ASCII digit strings.
//!
//! inflect builds its words through a chain of string substitutions whose spacing quirks show
//! in the output (`"one hundred and first"`, `"nineteen oh five"`); this port builds the same
//! intermediate string and applies the same clean-up steps, so the spacing matches exactly.
use std::sync::LazyLock;

use regex::Regex;

use crate::Error;

const UNIT: [&str; 10] = [
    "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const TEEN: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TEN: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const MILL: [&str; 12] = [
    " ",
    " thousand",
    " million",
    " billion",
    " trillion",
    " quadrillion",
    " quintillion",
    " sextillion",
    " septillion",
    " octillion",
    " nonillion",
    " decillion",
];
/// inflect's `ordinal` dict, in its (alternation) order.
const ORDINAL_SUFFIXES: [(&str, &str); 8] = [
    ("ty", "tieth"),
    ("one", "first"),
    ("two", "second"),
    ("three", "third"),
    ("five", "fifth"),
    ("eight", "eighth"),
    ("nine", "ninth"),
    ("twelve", "twelfth"),
];
const NTH_SUFFIXES: [&str; 4] = ["th", "st", "nd", "rd"];

static WHITESPACES_COMMA: LazyLock<Regex> = LazyLock::new(|| re(r"\s+,"));
static COMMA_WORD: LazyLock<Regex> = LazyLock::new(|| re(r", (\S+)\s+\z"));
static WHITESPACES: LazyLock<Regex> = LazyLock::new(|| re(r"\s+"));

fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file; a failure is a programming error caught by tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in regex {pattern}: {e}"))
}

fn digit(b: u8) -> usize {
    usize::from(b - b'0')
}

fn millfn(index: usize, whole: &str) -> Result<&'static str, Error> {
    MILL.get(index)
        .copied()
        .ok_or_else(|| Error::Invalid(format!("number too large to be read out: {whole}")))
}

fn tenfn(tens: usize, units: usize, mill: &str) -> String {
    if tens != 1 {
        let hyphen = if tens != 0 && units != 0 { "-" } else { "" };
        format!("{}{hyphen}{}{mill}", TEN[tens], UNIT[units])
    } else {
        format!("{}{mill}", TEEN[units])
    }
}

fn hundfn(
    h: usize,
    t: usize,
    u: usize,
    index: usize,
    andword: &str,
    whole: &str,
) -> Result<String, Error> {
    if h != 0 {
        let and = if t != 0 || u != 0 {
            format!(" {andword} ")
        } else {
            String::new()
        };
        let mill = millfn(index, whole)?;
        Ok(format!(
            "{} hundred{and}{}{mill}, ",
            UNIT[h],
            tenfn(t, u, MILL[0])
        ))
    } else if t != 0 || u != 0 {
        let mill = millfn(index, whole)?;
        Ok(format!("{}{mill}, ", tenfn(t, u, MILL[0])))
    } else {
        Ok(String::new())
    }
}

/// `enword(num, group=0)`: `digits` is non-empty ASCII digits.
fn enword(digits: &str, andword: &str) -> Result<String, Error> {
    let stripped = digits.trim_start_matches('0');
    match stripped {
        "" => return Ok("zero".into()),
        "1" => return Ok("one".into()),
        _ => {}
    }
    let bytes = stripped.as_bytes();
    let n_groups = bytes.len().div_ceil(3);
    let head = bytes.len() - (n_groups - 1) * 3;
    let mut out = String::new();
    for g in 0..n_groups {
        let index = n_groups - 1 - g;
        let (start, end) = if g == 0 {
            (0, head)
        } else {
            (head + (g - 1) * 3, head + g * 3)
        };
        let group = &bytes[start..end];
        match group {
            [u] if g == 0 => {
                out.push_str(UNIT[digit(*u)]);
                out.push_str(millfn(index, digits)?);
                out.push_str(", ");
            }
            [t, u] if g == 0 => {
                out.push_str(&tenfn(digit(*t), digit(*u), millfn(index, digits)?));
                out.push_str(", ");
            }
            [h, t, u] => out.push_str(&hundfn(
                digit(*h),
                digit(*t),
                digit(*u),
                index,
                andword,
                digits,
            )?),
            _ => return Err(Error::Invalid(format!("cannot group digits of {digits}"))),
        }
    }
    Ok(out)
}

/// The clean-up inflect applies to an enworded chunk (`_handle_chunk`).
fn tidy(chunk: &str, andword: Option<&str>) -> String {
    let mut chunk = chunk.strip_suffix(", ").unwrap_or(chunk).to_string();
    chunk = WHITESPACES_COMMA.replace_all(&chunk, ",").into_owned();
    if let Some(andword) = andword {
        let with_and = format!(" {andword} ${{1}}");
        chunk = COMMA_WORD.replace(&chunk, with_and.as_str()).into_owned();
        chunk = WHITESPACES_COMMA.replace_all(&chunk, ",").into_owned();
    }
    WHITESPACES.replace_all(&chunk, " ").trim().to_string()
}

/// `number_to_words(num, andword=andword)` for `num` = ASCII digits, optionally followed by
/// an ordinal suffix (`"23rd"`, which reads as an ordinal whatever the suffix).
pub(crate) fn number_to_words(num: &str, andword: &str) -> Result<String, Error> {
    let (digits, ordinal) = match num.get(num.len().saturating_sub(2)..) {
        Some(tail) if NTH_SUFFIXES.contains(&tail) => (&num[..num.len() - 2], true),
        _ => (num, false),
    };
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    let chunk = tidy(&enword(&digits, andword)?, Some(andword));
    let mut parts: Vec<String> = chunk.split(", ").map(str::to_string).collect();
    if ordinal {
        if let Some(last) = parts.last_mut() {
            *last = sub_ord(last);
        }
    }
    Ok(parts.join(", "))
}

/// `number_to_words(num, andword="", zero="oh", group=2)` for a 4-digit `num`, with
/// upstream's `.replace(", ", " ")` applied (how upstream reads years 1001–2999).
pub(crate) fn year_to_words(num: u32) -> String {
    let digits = format!("{num}");
    let mut raw = String::new();
    let bytes = digits.as_bytes();
    let head = (bytes.len() - 1) % 2 + 1;
    let mut start = 0;
    let mut end = head;
    while start < bytes.len() {
        match &bytes[start..end] {
            [t, u] if digit(*t) != 0 => {
                raw.push_str(&format!("{}, ", tenfn(digit(*t), digit(*u), MILL[0])))
            }
            [_, u] if digit(*u) != 0 => raw.push_str(&format!(" oh {}, ", UNIT[digit(*u)])),
            [_, _] => raw.push_str(" oh oh, "),
            [u] if digit(*u) != 0 => raw.push_str(&format!("{}, ", UNIT[digit(*u)])),
            _ => raw.push_str(" oh, "),
        }
        start = end;
        end = (end + 2).min(bytes.len());
    }
    let chunk = tidy(&raw, None);
    chunk
        .split(", ")
        .collect::<Vec<_>>()
        .join(", ")
        .replace(", ", " ")
}

/// `engine.ordinal(digits)` for an ASCII digit string: the digits plus `st`/`nd`/`rd`/`th`.
pub(crate) fn ordinal_of_digits(digits: &str) -> String {
    let last_two: usize = digits
        .bytes()
        .rev()
        .take(2)
        .rev()
        .fold(0, |acc, b| acc * 10 + digit(b));
    let suffix = match last_two {
        11..=13 => "th",
        n => match n % 10 {
            1 => "st",
            2 => "nd",
            3 => "rd",
            _ => "th",
        },
    };
    format!("{digits}{suffix}")
}

/// `engine._sub_ord(words)` (what `engine.ordinal` does for words): `"four"` → `"fourth"`.
pub(crate) fn sub_ord(words: &str) -> String {
    for (from, to) in ORDINAL_SUFFIXES {
        if let Some(stem) = words.strip_suffix(from) {
            return format!("{stem}{to}");
        }
    }
    format!("{words}th")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinals_match_inflect() -> Result<(), Error> {
        let cases = [
            ("0", "", "zero"),
            ("1", "", "one"),
            ("12", "", "twelve"),
            ("100", "", "one hundred"),
            ("101", "", "one hundred one"),
            ("101", "and", "one hundred and one"),
            ("1000", "", "one thousand"),
            ("1000001", "and", "one million and one"),
            (
                "1234567",
                "",
                "one million, two hundred thirty-four thousand, five hundred sixty-seven",
            ),
            ("23rd", "and", "twenty-third"),
            ("101st", "and", "one hundred and first"),
            ("0th", "and", "zeroth"),
            ("12th", "and", "twelfth"),
        ];
        for (num, and, want) in cases {
            assert_eq!(number_to_words(num, and)?, want, "{num} andword={and:?}");
        }
        assert!(number_to_words(&"9".repeat(37), "").is_err());
        assert!(number_to_words(&"9".repeat(36), "").is_ok());
        Ok(())
    }

    #[test]
    fn years_and_ordinals() {
        assert_eq!(year_to_words(1999), "nineteen ninety-nine");
        assert_eq!(year_to_words(1905), "nineteen oh five");
        assert_eq!(year_to_words(2021), "twenty twenty-one");
        assert_eq!(year_to_words(1010), "ten ten");
        assert_eq!(ordinal_of_digits("1"), "1st");
        assert_eq!(ordinal_of_digits("12"), "12th");
        assert_eq!(ordinal_of_digits("112"), "112th");
        assert_eq!(ordinal_of_digits("23"), "23rd");
        assert_eq!(sub_ord("twenty-three"), "twenty-third");
        assert_eq!(sub_ord("four"), "fourth");
        assert_eq!(sub_ord("twenty"), "twentieth");
    }
}
