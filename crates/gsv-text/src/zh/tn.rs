//! upstream: text/zh_normalization/text_normlization.py (`TextNormalizer`, from PaddleSpeech)
//! and char_convert.py (traditional → simplified).
use std::collections::HashMap;
use std::sync::LazyLock;

use super::py::{strip, Rx};
use super::tn_num::*;
use crate::Error;

/// Effective traditional → simplified table of upstream's char_convert.py (identity pairs omitted).
static T2S: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    include_str!("../../data/zh/t2s.txt")
        .lines()
        .filter_map(|line| {
            let mut it = line.split('\t').filter_map(|f| f.chars().next());
            Some((it.next()?, it.next()?))
        })
        .collect()
});

fn traditional_to_simplified(text: &str) -> String {
    text.chars().map(|c| T2S.get(&c).copied().unwrap_or(c)).collect()
}

/// Full-width ASCII letters and digits and the ideographic space to their half-width forms.
fn full_to_half(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '０'..='９' => char::from_u32(c as u32 - 65248).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

static RE_SPLITOR: Rx = Rx::new(r"([：、，；。？！,;?!][”’]?)");

/// Characters `_split` deletes ("——《》【】<>{}()（）#&@“”^_|\").
const SPLIT_DELETE: &str = "—《》【】<>{}()（）#&@“”^_|\\";
/// Characters `_post_replace` deletes (the same plus `-` and `=`).
const POST_DELETE: &str = "-—《》【】<=>{}()（）#&@“”^_|\\";

/// `TextNormalizer._split`: delete spaces and bracket-like symbols, cut after sentence
/// punctuation, strip each sentence.
fn split(text: &str) -> Result<Vec<String>, Error> {
    let text: String = text.chars().filter(|&c| c != ' ' && !SPLIT_DELETE.contains(c)).collect();
    let text = RE_SPLITOR.sub(&text, |c| Ok(format!("{}\n", super::py::group(c, 1))))?;
    let text = strip(&text);
    if text.is_empty() {
        return Ok(vec![String::new()]);
    }
    // `re.split(r"\n+")` on a stripped text: only runs of newlines make empty pieces.
    Ok(text.split('\n').filter(|p| !p.is_empty()).map(|p| strip(p).to_string()).collect())
}

const POST_REPLACE: [(&str, &str); 44] = [
    ("/", "每"),
    ("①", "一"),
    ("②", "二"),
    ("③", "三"),
    ("④", "四"),
    ("⑤", "五"),
    ("⑥", "六"),
    ("⑦", "七"),
    ("⑧", "八"),
    ("⑨", "九"),
    ("⑩", "十"),
    ("α", "阿尔法"),
    ("β", "贝塔"),
    ("γ", "伽玛"),
    ("Γ", "伽玛"),
    ("δ", "德尔塔"),
    ("Δ", "德尔塔"),
    ("ε", "艾普西龙"),
    ("ζ", "捷塔"),
    ("η", "依塔"),
    ("θ", "西塔"),
    ("Θ", "西塔"),
    ("ι", "艾欧塔"),
    ("κ", "喀帕"),
    ("λ", "拉姆达"),
    ("Λ", "拉姆达"),
    ("μ", "缪"),
    ("ν", "拗"),
    ("ξ", "克西"),
    ("Ξ", "克西"),
    ("ο", "欧米克伦"),
    ("π", "派"),
    ("Π", "派"),
    ("ρ", "肉"),
    ("ς", "西格玛"),
    ("Σ", "西格玛"),
    ("σ", "西格玛"),
    ("τ", "套"),
    ("υ", "宇普西龙"),
    ("φ", "服艾"),
    ("Φ", "服艾"),
    ("χ", "器"),
    ("ψ", "普赛"),
    ("Ψ", "普赛"),
];

const POST_REPLACE_2: [(&str, &str); 7] =
    [("ω", "欧米伽"), ("Ω", "欧米伽"), ("+", "加"), ("-", "减"), ("×", "乘"), ("÷", "除"), ("=", "等")];

/// `_post_replace`: leftover symbols to words, then delete bracket-like symbols.
fn post_replace(sentence: &str) -> String {
    let mut s = sentence.to_string();
    for (from, to) in POST_REPLACE.iter().chain(POST_REPLACE_2.iter()) {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s.chars().filter(|&c| !POST_DELETE.contains(c)).collect()
}

/// `TextNormalizer.normalize_sentence`: the verbalisation passes, in upstream's order.
fn normalize_sentence(sentence: &str) -> Result<String, Error> {
    let s = full_to_half(&traditional_to_simplified(sentence));
    let s = RE_DATE.sub(&s, replace_date)?;
    let s = RE_DATE2.sub(&s, replace_date2)?;
    let s = RE_TIME_RANGE.sub(&s, replace_time)?;
    let s = RE_TIME.sub(&s, replace_time)?;
    let s = RE_TO_RANGE.sub(&s, replace_to_range)?;
    let s = RE_TEMPERATURE.sub(&s, replace_temperature)?;
    let mut s = replace_measure(&s);
    while RE_ASMD.is_match(&s)? {
        s = RE_ASMD.sub(&s, replace_asmd)?;
    }
    let s = RE_POWER.sub(&s, replace_power)?;
    let s = RE_FRAC.sub(&s, replace_frac)?;
    let s = RE_PERCENTAGE.sub(&s, replace_percentage)?;
    let s = RE_MOBILE_PHONE.sub(&s, replace_mobile)?;
    let s = RE_TELEPHONE.sub(&s, replace_phone)?;
    let s = RE_NATIONAL_UNIFORM_NUMBER.sub(&s, replace_phone)?;
    let s = RE_RANGE.sub(&s, replace_range)?;
    let s = RE_INTEGER.sub(&s, replace_negative_num)?;
    let s = RE_VERSION_NUM.sub(&s, replace_version_num)?;
    let s = RE_DECIMAL_NUM.sub(&s, replace_number)?;
    let s = RE_POSITIVE_QUANTIFIERS.sub(&s, replace_positive_quantifier)?;
    let s = RE_DEFAULT_NUM.sub(&s, replace_default_num)?;
    let s = RE_NUMBER.sub(&s, replace_number)?;
    Ok(post_replace(&s))
}

/// `TextNormalizer().normalize(text)`: the list of normalised sentences.
pub fn normalize(text: &str) -> Result<Vec<String>, Error> {
    split(text)?.iter().map(|s| normalize_sentence(s)).collect()
}
