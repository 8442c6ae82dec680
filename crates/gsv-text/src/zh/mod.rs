//! Chinese: upstream text/chinese2.py (v2) and text/chinese.py (v1), pypinyin path.
//!
//! Pipeline (`cleaner.clean_text(text, "zh", version)`):
//! 1. `￥` / `^` in the input take upstream's `clean_special` path: the symbol becomes `,`
//!    and every `,` phone of the result becomes `SP2` / `SP3`.
//! 2. `text_normalize`: `TextNormalizer.normalize` ([`normalize`]), per sentence
//!    `replace_punctuation`, then runs of punctuation collapse to their first mark.
//! 3. `g2p`: cut after each punctuation mark; per piece jieba_fast `posseg.lcut` ([`jieba`]),
//!    `ToneSandhi.pre_merge_for_modify`, pypinyin initials/finals ([`pinyin`]),
//!    `modified_tone` ([`sandhi`]), v2 only `_merge_erhua`, then opencpop phones ([`phones`]).
//!
//! Every phone this produces is in both symbol tables (checked against upstream's tables), so
//! the `UNK` substitution of `clean_text` never applies to Chinese.
mod hmm;
mod jieba;
mod phones;
mod pinyin;
mod py;
mod sandhi;
mod tn;
mod tn_num;

pub(crate) use hmm::gunzip;

use crate::{Cleaned, Error, Version};

/// Punctuation kept by the Chinese frontend (upstream `symbols.punctuation`).
pub(crate) const PUNCTUATION: &str = "!?…,.-";

/// `TextNormalizer().normalize(text)`: upstream's sentence list before punctuation mapping
/// (the `tn_sentences` of the fixtures). On input where upstream raises (a non-ASCII digit
/// reaching a digit table, …) this returns the error.
pub fn normalize(text: &str) -> Result<Vec<String>, Error> {
    tn::normalize(text)
}

/// `rep_map` of chinese2.py / chinese.py, in upstream's (alternation) order.
const REP_MAP: [(&str, &str); 15] = [
    ("：", ","),
    ("；", ","),
    ("，", ","),
    ("。", "."),
    ("！", "!"),
    ("？", "?"),
    ("\n", "."),
    ("·", ","),
    ("、", ","),
    ("...", "…"),
    ("$", "."),
    ("/", ","),
    ("—", "-"),
    ("~", "…"),
    ("～", "…"),
];

/// `replace_punctuation`: 嗯→恩, 呣→母, map punctuation, keep only U+4E00..U+9FA5 and `!?…,.-`.
fn replace_punctuation(text: &str) -> String {
    map_punctuation(&text.replace('嗯', "恩").replace('呣', "母"), &REP_MAP)
}

/// Replaces the first matching `rep_map` key at each position (upstream's one regex alternation
/// in table order), then keeps only U+4E00..U+9FA5 and `!?…,.-`. Cantonese uses it with its own table.
pub(crate) fn map_punctuation(text: &str, rep_map: &[(&str, &str)]) -> String {
    let mut mapped = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(c) = rest.chars().next() {
        for (from, to) in rep_map {
            if let Some(after) = rest.strip_prefix(from) {
                mapped.push_str(to);
                rest = after;
                continue 'outer;
            }
        }
        mapped.push(c);
        rest = &rest[c.len_utf8()..];
    }
    mapped.chars().filter(|&c| ('\u{4e00}'..='\u{9fa5}').contains(&c) || PUNCTUATION.contains(c)).collect()
}

/// `replace_consecutive_punctuation`: a run of punctuation marks keeps only its first mark.
fn collapse_punctuation(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_punct = false;
    for c in text.chars() {
        let is_punct = PUNCTUATION.contains(c);
        if !(is_punct && prev_punct) {
            out.push(c);
        }
        prev_punct = is_punct;
    }
    out
}

/// `text_normalize` of chinese2.py / chinese.py.
pub(crate) fn text_normalize(text: &str) -> Result<String, Error> {
    let sentences = tn::normalize(text)?;
    let joined: String = sentences.iter().map(|s| replace_punctuation(s)).collect();
    Ok(collapse_punctuation(&joined))
}

/// Upstream `clean_text(text, "zh", version)`: normalised text, phones and word2ph.
pub fn clean(text: &str, version: Version) -> Result<Cleaned, Error> {
    // upstream cleaner.special: ￥ is checked before ^.
    for (symbol, target) in [('￥', "SP2"), ('^', "SP3")] {
        if text.contains(symbol) {
            let text = text.replace(symbol, ",");
            let norm_text = text_normalize(&text)?;
            let (phones, word2ph) = phones::g2p(&norm_text, version)?;
            let phones = phones.into_iter().map(|p| if p == "," { target.to_string() } else { p }).collect();
            return Ok(Cleaned { norm_text, phones, word2ph: Some(word2ph) });
        }
    }
    let norm_text = text_normalize(text)?;
    let (phones, word2ph) = phones::g2p(&norm_text, version)?;
    // upstream asserts len(norm_text) == len(word2ph) (only on this path, not in clean_special).
    if norm_text.chars().count() != word2ph.len() {
        return Err(Error::Invalid(format!(
            "zh: AssertionError: {} word2ph entries for the {} characters of `{}`",
            word2ph.len(),
            norm_text.chars().count(),
            py::preview(&norm_text)
        )));
    }
    Ok(Cleaned { norm_text, phones, word2ph: Some(word2ph) })
}
