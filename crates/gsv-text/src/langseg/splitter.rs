//! Port of `split_lang` 2.1.1's `LangSplitter.split_by_lang` with the settings GPT-SoVITS uses
//! (`lang_map` = LangSegmenter's map, `merge_across_digit = False`, punctuation and newline merging
//! on, no `not_merge_punctuation`). The language detector is injected (see [`LangDetector`]).
//!
//! Steps: `pre_split` cuts the text into script sections (Han/kana, Hangul, digits, each
//! punctuation mark, each newline, other); Han/kana sections are cut into BudouX chunks and other
//! sections into words; each piece is labelled by the detector; `_smart_merge` relabels short or
//! unknown pieces from their neighbours; punctuation and newlines are glued to neighbouring
//! sections; Han/kana sections get `_special_merge_for_zh_ja`.
//!
//! `split_lang`'s `_get_languages` computes labels and discards them (`[quirk]`, no effect on the
//! output), so it is not reproduced; detector calls whose answers cannot change the result are
//! skipped (Python evaluates them eagerly).
use super::{budoux, LangDetector};
use crate::split::pychar;
use crate::Error;

/// Labels used inside the splitter (detector labels after the lang maps, plus piece kinds).
pub type Lang = &'static str;

pub const PUNCT: Lang = "punctuation";
pub const DIGIT: Lang = "digit";
pub const NEWLINE: Lang = "newline";
pub const X: Lang = "x";

/// `split_lang.split.utils.PUNCTUATION` (membership per character).
const PUNCTUATION: &str = "〜~,.;:!?，。！？；：、·([{<（【《〈「『“‘)]}>）】》〉」』”’\"-_——#$%&……￥'*+<=>?@[\\]^_`{|}~";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ZhJa,
    Ko,
    Punctuation,
    Newline,
    Digit,
    Others,
}

/// One labelled piece (`SubString`; its `length` is always the text's character count).
#[derive(Debug, Clone, PartialEq)]
pub struct Sub {
    pub lang: Lang,
    pub text: String,
}

impl Sub {
    fn len(&self) -> usize {
        self.text.chars().count()
    }
}

#[derive(Debug)]
struct Section {
    kind: Kind,
    text: String,
    subs: Vec<Sub>,
}

pub(crate) fn is_zh_ja_char(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3040}'..='\u{30ff}').contains(&c) || c == '々'
}

fn is_hangul(c: char) -> bool {
    ('\u{ac00}'..='\u{d7af}').contains(&c)
}

/// `contains_ja_kana` (hiragana/katakana block or `々`).
pub(crate) fn contains_kana(text: &str) -> bool {
    text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c) || c == '々')
}

/// split_lang's `ZH_JA_LANG_MAP` (unmapped → `x`).
fn map_zh_ja(label: &str) -> Lang {
    match label {
        "zh" | "yue" | "wuu" | "zh-cn" => "zh",
        "ja" => "ja",
        _ => X,
    }
}

/// GPT-SoVITS `LangSegmenter.DEFAULT_LANG_MAP` (unmapped → `x`).
fn map_default(label: &str) -> Lang {
    match label {
        "zh" | "yue" | "wuu" | "zh-cn" => "zh",
        "ko" => "ko",
        "ja" => "ja",
        "en" => "en",
        _ => X,
    }
}

struct Splitter<'d> {
    detector: &'d dyn LangDetector,
}

/// `LangSplitter(lang_map=LangSegmenter.DEFAULT_LANG_MAP, merge_across_digit=False).split_by_lang(text)`.
///
/// Errors: text that is empty after stripping (upstream: IndexError), detector failures.
pub fn split_by_lang(text: &str, detector: &dyn LangDetector) -> Result<Vec<Sub>, Error> {
    let splitter = Splitter { detector };
    let sections = pre_split(text);
    if sections.is_empty() {
        return Err(Error::Invalid(format!(
            "language segmentation of {text:?}: nothing left after stripping (upstream: IndexError)"
        )));
    }
    let sections = splitter.split(sections)?;
    let sections = merge_sections(sections, Kind::Punctuation, PUNCT);
    let sections = merge_sections(sections, Kind::Newline, NEWLINE);
    let mut out = Vec::new();
    for section in sections {
        if section.kind == Kind::ZhJa {
            out.extend(special_merge_for_zh_ja(section.subs));
        } else {
            out.extend(section.subs);
        }
    }
    Ok(out)
}

/// `pre_split`: script sections of the stripped text. Every punctuation mark and every newline
/// starts its own section; other whitespace joins the current section; `'` after a non-space stays
/// in the word.
fn pre_split(text: &str) -> Vec<Section> {
    let chars: Vec<char> = pychar::strip(text).chars().collect();
    let mut sections = Vec::new();
    let mut current = Kind::Others;
    let mut buf = String::new();
    let flush = |kind: Kind, buf: &mut String, sections: &mut Vec<Section>| {
        if !buf.is_empty() {
            sections.push(Section { kind, text: std::mem::take(buf), subs: Vec::new() });
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        let next = if is_zh_ja_char(c) {
            Some(Kind::ZhJa)
        } else if is_hangul(c) {
            Some(Kind::Ko)
        } else if pychar::is_digit(c) {
            Some(Kind::Digit)
        } else if PUNCTUATION.contains(c) {
            if c == '\'' && i > 0 && !pychar::is_space(chars[i - 1]) {
                None
            } else {
                flush(current, &mut buf, &mut sections);
                current = Kind::Punctuation;
                None
            }
        } else if pychar::is_space(c) {
            if c == '\n' || c == '\r' {
                flush(current, &mut buf, &mut sections);
                current = Kind::Newline;
            }
            None
        } else {
            Some(Kind::Others)
        };
        if let Some(kind) = next {
            if current != kind {
                flush(current, &mut buf, &mut sections);
                current = kind;
            }
        }
        buf.push(c);
    }
    flush(current, &mut buf, &mut sections);
    sections
}

/// `_parse_without_zh_ja`: words, each keeping its trailing whitespace.
fn parse_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut after_space = false;
    let mut buf = String::new();
    for c in text.chars() {
        if !pychar::is_space(c) {
            if after_space {
                words.push(std::mem::take(&mut buf));
                after_space = false;
            }
        } else {
            after_space = true;
        }
        buf.push(c);
    }
    if !buf.is_empty() {
        words.push(buf);
    }
    words
}

/// `_parse_zh_ja`: Japanese BudouX chunks, each re-cut by the Chinese model; kana chunks and
/// single-character Han chunks are glued to their left neighbour; a one-character first chunk is
/// glued to the second.
fn parse_zh_ja(text: &str) -> Result<Vec<String>, Error> {
    let ja = budoux::japanese()?;
    let zh = budoux::simplified_chinese()?;
    let mut chunks = ja.parse(text).iter().flat_map(|c| zh.parse(c)).collect::<Vec<_>>().into_iter();
    let Some(first) = chunks.next() else { return Ok(Vec::new()) };
    let mut out = vec![first];
    for chunk in chunks {
        let Some(last) = out.last_mut() else { break };
        let left_kana = contains_kana(last);
        let cur_kana = contains_kana(&chunk);
        if left_kana && cur_kana || (!left_kana && !cur_kana && chunk.chars().count() == 1) {
            last.push_str(&chunk);
        } else {
            out.push(chunk);
        }
    }
    if out.len() >= 2 && out[0].chars().count() == 1 {
        let head = out.remove(0);
        out[0].insert_str(0, &head);
    }
    Ok(out)
}

impl Splitter<'_> {
    /// `possible_detection_list`: the raw labels of the top-5 answer for the text without newlines,
    /// stripped.
    fn possible(&self, text: &str) -> Result<Vec<String>, Error> {
        let cleaned = text.replace('\n', "");
        self.detector.candidates(pychar::strip(&cleaned))
    }

    /// `_split` + `_smart_merge_all`.
    fn split(&self, mut sections: Vec<Section>) -> Result<Vec<Section>, Error> {
        for section in &mut sections {
            section.subs = match section.kind {
                Kind::Punctuation => vec![Sub { lang: PUNCT, text: section.text.clone() }],
                Kind::Digit => vec![Sub { lang: DIGIT, text: section.text.clone() }],
                Kind::Newline => vec![Sub { lang: NEWLINE, text: section.text.clone() }],
                Kind::Ko => vec![Sub { lang: "ko", text: section.text.clone() }],
                Kind::ZhJa => {
                    let mut subs = Vec::new();
                    for text in parse_zh_ja(&section.text)? {
                        let lang = if contains_kana(&text) { "ja" } else { map_zh_ja(&self.detect(&text)?) };
                        subs.push(Sub { lang, text });
                    }
                    subs
                }
                Kind::Others => {
                    let mut subs = Vec::new();
                    for text in parse_words(&section.text) {
                        let lang = map_default(&self.detect(&text)?);
                        subs.push(Sub { lang, text });
                    }
                    subs
                }
            };
        }
        for section in &mut sections {
            if matches!(section.kind, Kind::Punctuation | Kind::Newline) {
                continue;
            }
            let subs = std::mem::take(&mut section.subs);
            section.subs = self.smart_merge(subs)?;
        }
        Ok(sections)
    }

    fn detect(&self, text: &str) -> Result<String, Error> {
        Ok(self.detector.detect(text)?.to_lowercase())
    }

    /// `_smart_merge` (without the output-free `_get_languages` calls).
    fn smart_merge(&self, subs: Vec<Sub>) -> Result<Vec<Sub>, Error> {
        let mut subs = merge_same(subs);
        self.merge_middle(&mut subs)?;
        let mut subs = merge_same(subs);
        self.merge_middle(&mut subs)?;
        let mut subs = merge_same(subs);
        fill_unknown(&mut subs);
        self.merge_sides(&mut subs)?;
        let mut subs = merge_same(subs);
        self.merge_middle(&mut subs)?;
        Ok(merge_same(subs))
    }

    /// `_merge_middle_substr_to_two_side`: a middle piece between two pieces of the same language
    /// takes that language when it is unknown, short between long neighbours, or the detector
    /// lists that language for it. Relabelling is in place, so it affects the next window.
    fn merge_middle(&self, subs: &mut [Sub]) -> Result<(), Error> {
        if subs.len() <= 2 {
            return Ok(());
        }
        for i in 0..subs.len() - 2 {
            let (left, middle, right) = (&subs[i], &subs[i + 1], &subs[i + 2]);
            if left.lang != right.lang || left.lang == X || left.lang == NEWLINE {
                continue;
            }
            let no_kana = !contains_kana(&middle.text);
            let merge = middle.lang == X
                || (middle.len() <= 4 && left.len() + right.len() >= 6 && no_kana)
                || (no_kana && self.possible(&middle.text)?.iter().any(|l| l == left.lang));
            if merge {
                subs[i + 1].lang = subs[i].lang;
            }
        }
        Ok(())
    }

    /// `_is_cur_short_and_near_long`.
    fn short_next_to_long(&self, cur: &Sub, near: &Sub) -> Result<bool, Error> {
        if contains_kana(&cur.text) || contains_kana(&near.text) {
            return Ok(false);
        }
        if near.len() > cur.len() && near.len() >= 6 && near.lang == "zh" {
            return Ok(true);
        }
        Ok(self.possible(&cur.text)?.iter().any(|l| l == near.lang))
    }

    /// `_merge_side_substr_to_near`: the first and the last piece take their neighbour's language
    /// when unknown, short next to a long Chinese piece, or plausibly the same language.
    fn merge_sides(&self, subs: &mut [Sub]) -> Result<(), Error> {
        let n = subs.len();
        if n == 0 {
            return Ok(());
        }
        for (cur, near, search_left) in [(0, 1, false), (n - 1, n.wrapping_sub(2), true)] {
            let mut merge = subs[cur].lang == X;
            if !merge && n >= 2 {
                merge = self.short_next_to_long(&subs[cur], &subs[near])?
                    || (subs[near].len() <= 5
                        && self.possible(&subs[cur].text)?.iter().any(|l| l == subs[near].lang));
            }
            if merge {
                subs[cur].lang = nearest_lang(subs, cur, search_left);
            }
        }
        Ok(())
    }
}

/// `_merge_substrings`: concatenate adjacent pieces of the same label.
fn merge_same(subs: Vec<Sub>) -> Vec<Sub> {
    let mut out: Vec<Sub> = Vec::new();
    for sub in subs {
        match out.last_mut() {
            Some(last) if last.lang == sub.lang => last.text.push_str(&sub.text),
            _ => out.push(sub),
        }
    }
    out
}

/// `_get_nearest_lang_with_direction`: the closest label that is neither `x` nor `digit`, else
/// the piece's own.
fn nearest_lang(subs: &[Sub], index: usize, search_left: bool) -> Lang {
    let found = if search_left {
        subs[..index].iter().rev().find(|s| s.lang != X && s.lang != DIGIT)
    } else {
        subs[index + 1..].iter().find(|s| s.lang != X && s.lang != DIGIT)
    };
    found.map_or(subs[index].lang, |s| s.lang)
}

/// `_fill_unknown_language`: `x` pieces take the nearest label (middle pieces look towards the
/// longer neighbour, left on ties). In place, so earlier fills are seen by later ones.
fn fill_unknown(subs: &mut [Sub]) {
    let n = subs.len();
    for i in 0..n {
        if subs[i].lang != X {
            continue;
        }
        let search_left = if i == 0 {
            false
        } else if i == n - 1 {
            true
        } else {
            subs[i - 1].len() >= subs[i + 1].len()
        };
        subs[i].lang = nearest_lang(subs, i, search_left);
    }
}

/// `_merge_substrings_across_{punctuation,newline}_based_on_sections`: a `glue` section (one
/// punctuation mark or newline) is appended to the previous section, or a section that follows
/// it is appended to it (taking that section's kind); then adjacent sections of one kind are
/// joined, and inside each section glue pieces are attached to the preceding piece.
fn merge_sections(sections: Vec<Section>, glue: Kind, glue_lang: Lang) -> Vec<Section> {
    let mut new: Vec<Section> = Vec::new();
    for mut cur in sections {
        let Some(last) = new.last_mut() else {
            new.push(cur);
            continue;
        };
        if last.kind == glue {
            last.kind = cur.kind;
            last.text.push_str(&cur.text);
            if glue == Kind::Punctuation {
                // The first piece of `cur` is glued onto the punctuation piece and lends it its label.
                let mut rest = std::mem::take(&mut cur.subs).into_iter();
                if let (Some(first), Some(tail)) = (rest.next(), last.subs.last_mut()) {
                    tail.text.push_str(&first.text);
                    tail.lang = first.lang;
                }
                last.subs.extend(rest);
            } else {
                last.subs.append(&mut cur.subs);
            }
        } else if cur.kind == glue {
            last.text.push_str(&cur.text);
            if glue == Kind::Punctuation {
                let mut rest = std::mem::take(&mut cur.subs).into_iter();
                if let (Some(first), Some(tail)) = (rest.next(), last.subs.last_mut()) {
                    tail.text.push_str(&first.text);
                }
                last.subs.extend(rest);
            } else {
                last.subs.append(&mut cur.subs);
            }
        } else {
            new.push(cur);
        }
    }
    let mut merged: Vec<Section> = Vec::new();
    for mut section in new {
        match merged.last_mut() {
            Some(last) if last.kind == section.kind => {
                last.text.push_str(&section.text);
                last.subs.append(&mut section.subs);
            }
            _ => merged.push(section),
        }
    }
    for section in &mut merged {
        section.subs = merge_glue_pieces(std::mem::take(&mut section.subs), glue_lang);
    }
    merged
}

/// `_merge_substrings_across_{punctuation,newline}`. `[quirk]` the previous label is updated even
/// for glue pieces, so a piece after a glue piece is never merged into it unless it is glue itself.
fn merge_glue_pieces(subs: Vec<Sub>, glue_lang: Lang) -> Vec<Sub> {
    let mut out: Vec<Sub> = Vec::new();
    let mut last_lang: Option<Lang> = None;
    for sub in subs {
        let lang = sub.lang;
        match out.last_mut() {
            Some(last) if lang == glue_lang => last.text.push_str(&sub.text),
            Some(last) if last_lang == Some(lang) => {
                last.text.push_str(&sub.text);
                if last.lang == glue_lang {
                    last.lang = lang;
                }
            }
            _ => out.push(sub),
        }
        last_lang = Some(lang);
    }
    out
}

/// `_special_merge_for_zh_ja`: short pieces between/next to long Chinese or Japanese pieces are
/// absorbed; leftover `x` takes the most frequent label; Chinese becomes Japanese when Japanese is
/// ten times as frequent. `[quirk]` pieces absorbed from the right are not counted, so a section
/// whose Chinese was all absorbed counts zero Chinese and turns Japanese.
fn special_merge_for_zh_ja(subs: Vec<Sub>) -> Vec<Sub> {
    if subs.len() <= 1 {
        return subs;
    }
    // Counted labels in Python dict order (`max` returns the first maximum).
    const ORDER: [Lang; 6] = ["zh", "ja", X, DIGIT, PUNCT, NEWLINE];
    let mut counts = [0usize; 6];
    let n = subs.len();
    let mut out: Vec<Sub> = Vec::new();
    let mut i = 0;
    while i < n {
        let cur = &subs[i];
        if let Some(k) = ORDER.iter().position(|&l| l == cur.lang) {
            counts[k] += cur.len();
        }
        let zh_ja = |l: Lang| l == "zh" || l == "ja";
        if i == 0 {
            let right = &subs[1];
            if zh_ja(right.lang) && (zh_ja(cur.lang) || cur.lang == X) && cur.len() * 10 < right.len() {
                out.push(Sub { lang: right.lang, text: format!("{}{}", cur.text, right.text) });
                i += 1;
            } else {
                out.push(cur.clone());
            }
        } else if i == n - 1 {
            match out.last_mut() {
                Some(left)
                    if zh_ja(left.lang) && (zh_ja(cur.lang) || cur.lang == X) && cur.len() * 10 < left.len() =>
                {
                    left.text.push_str(&cur.text);
                    i += 1;
                }
                _ => out.push(cur.clone()),
            }
        } else {
            let right = &subs[i + 1];
            match out.last_mut() {
                Some(left)
                    if left.lang == right.lang
                        && zh_ja(left.lang)
                        && cur.lang != "en"
                        && cur.len() * 10 < left.len() + right.len() =>
                {
                    left.text.push_str(&cur.text);
                    left.text.push_str(&right.text);
                    i += 1;
                }
                _ => out.push(cur.clone()),
            }
        }
        i += 1;
    }
    if counts[2] > 0 {
        let mut best = 0;
        for k in 1..ORDER.len() {
            if counts[k] > counts[best] {
                best = k;
            }
        }
        for sub in &mut out {
            if sub.lang == X {
                sub.lang = ORDER[best];
            }
        }
    }
    if counts[1] >= counts[0] * 10 {
        for sub in &mut out {
            if sub.lang == "zh" {
                sub.lang = "ja";
            }
        }
    }
    merge_same(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budoux_chunks_match_python() {
        let ja = budoux::japanese().expect("model");
        let zh = budoux::simplified_chinese().expect("model");
        assert_eq!(ja.parse("今日はいい天気ですね。"), ["今日は", "いい", "天気ですね。"]);
        assert_eq!(zh.parse("今日はいい天気ですね。"), ["今日", "はい", "い", "天", "気で", "すね。"]);
        assert_eq!(ja.parse("我最喜欢的编程语言是"), ["我", "最喜欢的编程语", "言是"]);
        assert_eq!(zh.parse("我最喜欢的编程语言是"), ["我", "最", "喜欢", "的", "编程", "语言", "是"]);
        assert_eq!(zh.parse("你也喜欢まいご吗？"), ["你", "也", "喜欢", "ま", "いご", "吗？"]);
        assert!(zh.parse("").is_empty());
    }

    #[test]
    fn pre_split_sections() {
        let kinds: Vec<(Kind, String)> =
            pre_split("  我在Google's 3楼，\nok ").into_iter().map(|s| (s.kind, s.text)).collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::ZhJa, "我在".to_string()),
                (Kind::Others, "Google's ".to_string()),
                (Kind::Digit, "3".to_string()),
                (Kind::ZhJa, "楼".to_string()),
                (Kind::Punctuation, "，".to_string()),
                (Kind::Newline, "\n".to_string()),
                (Kind::Others, "ok".to_string()),
            ]
        );
        assert_eq!(parse_words("New York  City"), ["New ", "York  ", "City"]);
    }
}
