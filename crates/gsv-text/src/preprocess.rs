//! The text pipeline entry points: upstream `TextPreprocessor.preprocess` (target text) and
//! `get_phones_and_bert` (prompt text), without BERT features.
//!
//! `preprocess`: [`replace_consecutive_punctuation`] → [`pre_seg_text`] → per segment
//! [`get_phones`]: collapse double spaces, split into language parts ([`langseg::segment`]),
//! `clean_text` per part, concatenate; when fewer than 6 phones result, redo once with `"."`
//! prepended. Segments whose normalised text is empty are kept in the output with `kept: false`
//! (upstream drops them); the synthesis pipeline should skip those.
use crate::langseg::{self, LangDetector, LanguageSetting, ScriptDetector};
use crate::lid;
use crate::split::{self, pre_seg_text, replace_consecutive_punctuation, SplitMethod};
use crate::symbols::cleaned_text_to_sequence;
use crate::{clean_text, Error, Language, Version};

/// `[quirk]` upstream retries a segment that yields fewer phones than this with a leading `"."`.
const MIN_PHONES: usize = 6;

/// One language part of a segment, after `clean_text`.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Language module used (`zh`, `en`, `ja`, `ko`, `yue`).
    pub lang: String,
    /// Part text as passed to `clean_text`.
    pub text: String,
    pub norm_text: String,
    pub phones: Vec<String>,
    pub phone_ids: Vec<i64>,
    /// zh/yue: phones per character of `norm_text` (BERT alignment); other languages: `None`.
    pub word2ph: Option<Vec<usize>>,
}

/// One segment (sentence) ready for the models.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The segment as cut by `pre_seg_text`.
    pub segment: String,
    /// Text of the final G2P attempt (`"." + segment` after the retry).
    pub g2p_text: String,
    pub retried_with_dot: bool,
    /// Per language part, in order; BERT features are computed per part.
    pub parts: Vec<Part>,
    /// Concatenations over `parts`.
    pub norm_text: String,
    pub phones: Vec<String>,
    pub phone_ids: Vec<i64>,
    /// Concatenated `word2ph` when every part has one (all-Chinese segment), else `None`; use
    /// `parts[i].word2ph` for mixed segments.
    pub word2ph: Option<Vec<usize>>,
    /// `false` when upstream would drop the segment (`norm_text == ""`).
    pub kept: bool,
}

/// The language module `clean_text` uses for a part label. `[quirk]` upstream's `clean_text`
/// treats a language outside its version's module map (v1: zh/ja/en; v2: + ko/yue; also leftovers
/// such as `punctuation` from `auto`) as English with the text `" "`.
fn module_language(lang: &str, version: Version) -> Option<Language> {
    let language = match lang {
        "zh" => Language::Zh,
        "en" => Language::En,
        "ja" => Language::Ja,
        "ko" => Language::Ko,
        "yue" => Language::Yue,
        _ => return None,
    };
    match (version, language) {
        (Version::V1, Language::Ko | Language::Yue) => None,
        _ => Some(language),
    }
}

fn clean_part(lang: &str, text: &str, version: Version) -> Result<Part, Error> {
    let (language, input) = match module_language(lang, version) {
        Some(language) => (language, text),
        None => (Language::En, " "),
    };
    let cleaned = clean_text(input, language, version)?;
    let phone_ids = cleaned_text_to_sequence(&cleaned.phones, version)?;
    Ok(Part {
        lang: format!("{language:?}").to_lowercase(),
        text: text.to_string(),
        norm_text: cleaned.norm_text,
        phones: cleaned.phones,
        phone_ids,
        word2ph: cleaned.word2ph,
    })
}

fn attempt(text: &str, setting: LanguageSetting, version: Version, detector: &dyn LangDetector) -> Result<Vec<Part>, Error> {
    langseg::segment(text, setting, detector)?
        .iter()
        .map(|p| clean_part(&p.lang, &p.text, version))
        .collect()
}

/// Upstream `get_phones_and_bert(text, language, version)` without BERT, with an explicit
/// language detector (see [`langseg`]). The returned segment's `segment` is `text`.
pub fn get_phones_with(
    text: &str,
    setting: LanguageSetting,
    version: Version,
    detector: &dyn LangDetector,
) -> Result<Segment, Error> {
    let collapsed = langseg::collapse_spaces(text);
    let mut g2p_text = collapsed.clone();
    let mut parts = attempt(&g2p_text, setting, version, detector)?;
    let mut retried = false;
    if parts.iter().map(|p| p.phones.len()).sum::<usize>() < MIN_PHONES {
        g2p_text = format!(".{collapsed}");
        parts = attempt(&g2p_text, setting, version, detector)?;
        retried = true;
    }
    let norm_text: String = parts.iter().map(|p| p.norm_text.as_str()).collect();
    let phones: Vec<String> = parts.iter().flat_map(|p| p.phones.iter().cloned()).collect();
    let phone_ids: Vec<i64> = parts.iter().flat_map(|p| p.phone_ids.iter().copied()).collect();
    let word2ph = parts
        .iter()
        .map(|p| p.word2ph.clone())
        .collect::<Option<Vec<_>>>()
        .map(|w| w.concat());
    Ok(Segment {
        segment: text.to_string(),
        g2p_text,
        retried_with_dot: retried,
        kept: !norm_text.is_empty(),
        parts,
        norm_text,
        phones,
        phone_ids,
        word2ph,
    })
}

/// The detector the pipeline uses for `setting`: the fastText language identifier
/// ([`lid::builtin`]) when its model is installed. Without it `auto`/`auto_yue` fail with
/// [`Error::Unavailable`] and the other settings fall back to [`ScriptDetector`] (which differs
/// from upstream only for pieces fastText labels outside zh/ja/ko/en).
pub fn builtin_detector(setting: LanguageSetting) -> Result<&'static dyn LangDetector, Error> {
    match lid::builtin() {
        Ok(d) => Ok(d),
        Err(e) if setting.needs_language_detection() => {
            Err(Error::Unavailable(format!("language `{setting}` needs the fastText language identifier: {e}")))
        }
        Err(_) => Ok(&ScriptDetector),
    }
}

/// [`get_phones_with`] with the [`builtin_detector`].
pub fn get_phones(text: &str, setting: LanguageSetting, version: Version) -> Result<Segment, Error> {
    get_phones_with(text, setting, version, builtin_detector(setting)?)
}

/// The prompt (reference) text as `TTS.run` processes it: [`split::prompt_text`] (strip newlines,
/// append `。`/`.`), then [`get_phones`].
pub fn prompt_phones(text: &str, setting: LanguageSetting, version: Version) -> Result<Segment, Error> {
    let text = split::prompt_text(text, setting.as_str())?;
    get_phones(&text, setting, version)
}

/// The segments of `pre_seg_text`, with the text after `replace_consecutive_punctuation`.
pub fn segments(text: &str, setting: LanguageSetting, method: SplitMethod) -> Result<(String, Vec<String>), Error> {
    let merged = replace_consecutive_punctuation(text);
    let segments = pre_seg_text(&merged, setting.as_str(), method)?;
    Ok((merged, segments))
}

/// Upstream `TextPreprocessor.preprocess` without BERT, with an explicit language detector.
pub fn preprocess_with(
    text: &str,
    setting: LanguageSetting,
    method: SplitMethod,
    version: Version,
    detector: &dyn LangDetector,
) -> Result<Vec<Segment>, Error> {
    let (_, segments) = segments(text, setting, method)?;
    segments.iter().map(|s| get_phones_with(s, setting, version, detector)).collect()
}

/// The pipeline's entry point: target text → segments with phones and ids.
///
/// Errors: [`Error::EmptyText`] for text with nothing to speak; [`Error::UnsupportedLanguage`]
/// for languages whose G2P is missing; [`Error::Unavailable`] for `auto`/`auto_yue` without the
/// language identifier model (see [`builtin_detector`]).
pub fn preprocess(text: &str, setting: LanguageSetting, method: SplitMethod, version: Version) -> Result<Vec<Segment>, Error> {
    preprocess_with(text, setting, method, version, builtin_detector(setting)?)
}
