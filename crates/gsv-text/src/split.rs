//! Sentence splitting: upstream `TTS_infer_pack/text_segmentation_method.py` (`cut0`..`cut5`,
//! `split_big_text`) and the splitting half of `TTS_infer_pack/TextPreprocessor.py`
//! (`replace_consecutive_punctuation`, `pre_seg_text`, `merge_short_text_in_array`), plus the
//! prompt-text rule of `TTS.run`.
//!
//! All lengths are counted in Unicode scalar values, as Python's `len(str)` does.
use std::str::FromStr;

use crate::Error;

pub(crate) mod pychar;

/// Upstream `splits`: the characters that end a sentence for `pre_seg_text`, `cut1`/`cut2` and
/// `split_big_text`.
pub const SPLITS: [char; 13] = ['，', '。', '？', '！', ',', '.', '?', '!', '~', ':', '：', '—', '…'];

/// `text_segmentation_method.punctuation`: a cut piece made only of these is dropped.
const CUT_PUNCTUATION: [char; 7] = ['!', '?', '…', ',', '.', '-', ' '];

/// `cut5`'s break characters (the set in upstream lists `;` twice).
const CUT5_PUNDS: [char; 12] = [',', '.', ';', '?', '!', '、', '，', '。', '？', '！', '：', '…'];

/// `TextPreprocessor.punctuation`: runs of these collapse to their first character.
const MERGE_PUNCTUATION: [char; 6] = ['!', '?', '…', ',', '.', '-'];

/// Segments longer than this go through `split_big_text` (BERT's 512-token limit upstream).
pub const MAX_SEGMENT_CHARS: usize = 510;

/// `merge_short_text_in_array` threshold used by `pre_seg_text`.
const SHORT_TEXT_THRESHOLD: usize = 5;

/// `text_split_method`: how a long text is cut into sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitMethod {
    /// No split.
    Cut0,
    /// Four sentences per piece.
    Cut1,
    /// About 50 characters per piece.
    Cut2,
    /// Split at `。`.
    Cut3,
    /// Split at `.` not between digits.
    Cut4,
    /// Split after every punctuation mark (api_v2's default).
    Cut5,
}

impl SplitMethod {
    pub const ALL: [SplitMethod; 6] = [Self::Cut0, Self::Cut1, Self::Cut2, Self::Cut3, Self::Cut4, Self::Cut5];

    pub fn name(self) -> &'static str {
        match self {
            Self::Cut0 => "cut0",
            Self::Cut1 => "cut1",
            Self::Cut2 => "cut2",
            Self::Cut3 => "cut3",
            Self::Cut4 => "cut4",
            Self::Cut5 => "cut5",
        }
    }

    /// Apply the method (upstream `get_method(name)(text)`): pieces joined by `"\n"`.
    pub fn apply(self, text: &str) -> Result<String, Error> {
        match self {
            Self::Cut0 => Ok(cut0(text)),
            Self::Cut1 => cut1(text),
            Self::Cut2 => cut2(text),
            Self::Cut3 => Ok(cut3(text)),
            Self::Cut4 => Ok(cut4(text)),
            Self::Cut5 => Ok(cut5(text)),
        }
    }
}

impl FromStr for SplitMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::Invalid(format!("Method {s} not found")))
    }
}

impl std::fmt::Display for SplitMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Python `set(piece).issubset(chars)`; true for the empty piece.
fn only_chars(piece: &str, chars: &[char]) -> bool {
    piece.chars().all(|c| chars.contains(&c))
}

/// Drop pieces made only of `CUT_PUNCTUATION` (and empty ones) and join with `"\n"`.
fn join_kept(pieces: impl IntoIterator<Item = String>) -> String {
    pieces
        .into_iter()
        .filter(|p| !only_chars(p, &CUT_PUNCTUATION))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Upstream `split`: map `……`→`。`, `——`→`，`, ensure a final split mark, then cut after every
/// character of [`SPLITS`] (the mark stays on the left piece).
fn split_after_marks(text: &str) -> Result<Vec<String>, Error> {
    let mut text = text.replace("……", "。").replace("——", "，");
    let last = text
        .chars()
        .last()
        .ok_or_else(|| Error::Invalid("cannot split an empty text (upstream: IndexError)".into()))?;
    if !SPLITS.contains(&last) {
        text.push('。');
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if SPLITS.contains(&c) {
            pieces.push(std::mem::take(&mut current));
        }
    }
    // The text ends with a split mark, so nothing is left in `current`.
    Ok(pieces)
}

/// `cut0`: no split. `[quirk]` unlike the others it does not strip `"\n"`, and a text made only of
/// `CUT_PUNCTUATION` (or empty) becomes a lone `"\n"`.
pub fn cut0(text: &str) -> String {
    if only_chars(text, &CUT_PUNCTUATION) {
        "\n".to_string()
    } else {
        text.to_string()
    }
}

/// `cut1`: four sentences per piece. `[quirk]` the last group start is dropped, so the final group
/// takes the last 1..4 sentences plus the previous group's four (9 sentences → 4 + 5); with at most
/// four sentences the *original* text (without the `……`/`——` mapping and added `。`) is returned.
pub fn cut1(text: &str) -> Result<String, Error> {
    let text = text.trim_matches('\n');
    let pieces = split_after_marks(text)?;
    let mut starts: Vec<usize> = (0..pieces.len()).step_by(4).collect();
    let opts: Vec<String> = if starts.len() > 1 {
        if let Some(last) = starts.last_mut() {
            *last = pieces.len();
        }
        starts.windows(2).map(|w| pieces[w[0]..w[1]].concat()).collect()
    } else {
        vec![text.to_string()]
    };
    Ok(join_kept(opts))
}

/// `cut2`: accumulate sentences until more than 50 characters; a last piece shorter than 50 is
/// appended to the previous one. `[quirk]` with fewer than two sentences the original text is
/// returned unfiltered.
pub fn cut2(text: &str) -> Result<String, Error> {
    let text = text.trim_matches('\n');
    let pieces = split_after_marks(text)?;
    if pieces.len() < 2 {
        return Ok(text.to_string());
    }
    let mut opts: Vec<String> = Vec::new();
    let mut sum = 0usize;
    let mut tmp = String::new();
    for piece in &pieces {
        sum += piece.chars().count();
        tmp.push_str(piece);
        if sum > 50 {
            sum = 0;
            opts.push(std::mem::take(&mut tmp));
        }
    }
    if !tmp.is_empty() {
        opts.push(tmp);
    }
    if opts.len() > 1 && opts[opts.len() - 1].chars().count() < 50 {
        if let Some(last) = opts.pop() {
            if let Some(prev) = opts.last_mut() {
                prev.push_str(&last);
            }
        }
    }
    Ok(join_kept(opts))
}

/// `cut3`: split at `。` after stripping `。` from both ends; the delimiter is dropped.
pub fn cut3(text: &str) -> String {
    let text = text.trim_matches('\n').trim_matches('。');
    join_kept(text.split('。').map(str::to_string))
}

/// `cut4`: split at `.` unless a decimal digit is directly before or after it (`(?<!\d)\.(?!\d)`),
/// after stripping `.` from both ends; the delimiter is dropped.
pub fn cut4(text: &str) -> String {
    let chars: Vec<char> = text.trim_matches('\n').trim_matches('.').chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let digit_before = i > 0 && pychar::is_decimal(chars[i - 1]);
        let digit_after = chars.get(i + 1).is_some_and(|&n| pychar::is_decimal(n));
        if c == '.' && !digit_before && !digit_after {
            pieces.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    pieces.push(current);
    join_kept(pieces)
}

/// `cut5`: cut after each punctuation mark of `CUT5_PUNDS` (the mark stays on the left piece),
/// except a `.` between two digits (`str.isdigit`); pieces made only of marks are dropped.
pub fn cut5(text: &str) -> String {
    let chars: Vec<char> = text.trim_matches('\n').chars().collect();
    let mut pieces = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        current.push(c);
        if !CUT5_PUNDS.contains(&c) {
            continue;
        }
        let decimal_point = c == '.'
            && i > 0
            && i + 1 < chars.len()
            && pychar::is_digit(chars[i - 1])
            && pychar::is_digit(chars[i + 1]);
        if !decimal_point {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces.retain(|p| !only_chars(p, &CUT5_PUNDS));
    pieces.join("\n")
}

/// `split_big_text(text, 510)`: re-split an over-long segment at [`SPLITS`] marks into pieces of at
/// most `max_len` characters where possible. `[quirk]` a first run longer than `max_len` yields an
/// empty first piece, and a run without marks longer than `max_len` stays whole.
pub fn split_big_text(text: &str, max_len: usize) -> Vec<String> {
    // re.split with a capturing group: runs and single marks alternate.
    let mut segments: Vec<String> = vec![String::new()];
    for c in text.chars() {
        if SPLITS.contains(&c) {
            segments.push(c.to_string());
            segments.push(String::new());
        } else if let Some(last) = segments.last_mut() {
            last.push(c);
        }
    }
    let mut result = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for segment in segments {
        let len = segment.chars().count();
        if current_len + len > max_len {
            result.push(std::mem::replace(&mut current, segment));
            current_len = len;
        } else {
            current.push_str(&segment);
            current_len += len;
        }
    }
    if !current.is_empty() {
        result.push(current);
    }
    result
}

/// `TextPreprocessor.replace_consecutive_punctuation`: a run of two or more of `! ? … , . -`
/// collapses to its first character.
pub fn replace_consecutive_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_was_mark = false;
    for c in text.chars() {
        let is_mark = MERGE_PUNCTUATION.contains(&c);
        if !(is_mark && prev_was_mark) {
            out.push(c);
        }
        prev_was_mark = is_mark;
    }
    out
}

/// `merge_short_text_in_array(texts, threshold)`: accumulate pieces until at least `threshold`
/// characters; a short remainder is appended to the last merged piece.
pub fn merge_short_text_in_array(texts: Vec<String>, threshold: usize) -> Vec<String> {
    if texts.len() < 2 {
        return texts;
    }
    let mut result: Vec<String> = Vec::new();
    let mut text = String::new();
    for piece in texts {
        text.push_str(&piece);
        if text.chars().count() >= threshold {
            result.push(std::mem::take(&mut text));
        }
    }
    if !text.is_empty() {
        match result.last_mut() {
            Some(last) => last.push_str(&text),
            None => result.push(text),
        }
    }
    result
}

/// The sentence-final mark upstream appends for a language setting: `"."` for `en`, else `"。"`.
fn final_mark(language_setting: &str) -> char {
    if language_setting == "en" {
        '.'
    } else {
        '。'
    }
}

/// `get_first`: the text before the first [`SPLITS`] mark, stripped.
fn first_clause(text: &str) -> &str {
    let end = text.find(|c: char| SPLITS.contains(&c)).unwrap_or(text.len());
    pychar::strip(&text[..end])
}

/// `TextPreprocessor.pre_seg_text(text, lang, method)` (the caller applies
/// [`replace_consecutive_punctuation`] first). `language_setting` is the upstream string
/// (`"en"` selects `.` as the added mark, anything else `。`).
///
/// Errors: [`Error::EmptyText`] when the cut leaves only empty pieces (upstream
/// `ValueError("请输入有效文本")`).
pub fn pre_seg_text(text: &str, language_setting: &str, method: SplitMethod) -> Result<Vec<String>, Error> {
    let text = text.trim_matches('\n');
    let Some(first) = text.chars().next() else {
        return Ok(Vec::new());
    };
    let mut text = text.to_string();
    // [quirk] a short first clause gets a leading mark (upstream: avoids a too-short first sentence).
    if !SPLITS.contains(&first) && first_clause(&text).chars().count() < 4 {
        text.insert(0, final_mark(language_setting));
    }
    let mut cut = method.apply(&text)?;
    while cut.contains("\n\n") {
        cut = cut.replace("\n\n", "\n");
    }
    let pieces: Vec<&str> = cut.split('\n').collect();
    if pieces.iter().all(|p| matches!(*p, " " | "\n" | "")) {
        return Err(Error::EmptyText);
    }
    let pieces: Vec<String> =
        pieces.into_iter().filter(|p| !matches!(*p, " " | "")).map(str::to_string).collect();
    let pieces = merge_short_text_in_array(pieces, SHORT_TEXT_THRESHOLD);

    let mut texts = Vec::new();
    for mut piece in pieces {
        if pychar::strip(&piece).is_empty() {
            continue;
        }
        // Pure-symbol pieces are skipped (`re.sub("\W+", "", text)` is empty).
        if !piece.chars().any(pychar::is_word) {
            continue;
        }
        if piece.chars().last().is_some_and(|c| !SPLITS.contains(&c)) {
            piece.push(final_mark(language_setting));
        }
        if piece.chars().count() > MAX_SEGMENT_CHARS {
            texts.extend(split_big_text(&piece, MAX_SEGMENT_CHARS));
        } else {
            texts.push(piece);
        }
    }
    Ok(texts)
}

/// The prompt (reference) text rule of `TTS.run`: strip `"\n"` and append `。` (`.` for `en`)
/// when the last character is not a [`SPLITS`] mark.
///
/// Errors: [`Error::EmptyText`] for a text that is empty after stripping (upstream: IndexError).
pub fn prompt_text(text: &str, language_setting: &str) -> Result<String, Error> {
    let text = text.trim_matches('\n');
    let last = text.chars().last().ok_or(Error::EmptyText)?;
    let mut text = text.to_string();
    if !SPLITS.contains(&last) {
        text.push(final_mark(language_setting));
    }
    Ok(text)
}
