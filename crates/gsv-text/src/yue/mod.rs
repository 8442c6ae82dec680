//! Cantonese: upstream `text/cantonese.py` (v2 only).
//!
//! `clean_text(text, "yue", "v2")`:
//! 1. `text_normalize`: the Chinese `TextNormalizer` ([`crate::zh::normalize`], which also maps
//!    traditional characters to simplified ones), then per sentence this module's own
//!    `replace_punctuation` (a wider `rep_map` than Mandarin's — brackets and quotes become `'`,
//!    which is then dropped — no 嗯/呣 rewrite and no collapsing of punctuation runs).
//! 2. `g2p`: ToJyutping's jyutping per character ([`jyutping`]); each syllable is split into an
//!    "initial" (the first prefix in upstream's `INITIALS` list, in list order) and a "final" (the
//!    rest with the tone digit, or the initial's last letter when nothing is left); both get a
//!    `Y` prefix so they never collide with Mandarin symbols. Punctuation stays as it is.
//!    `word2ph` is 2 per character and 1 per punctuation mark.
mod jyutping;

use crate::zh::PUNCTUATION;
use crate::{Cleaned, Error};

/// `rep_map` of cantonese.py, in upstream's (alternation) order.
const REP_MAP: [(&str, &str); 31] = [
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
    ("“", "'"),
    ("”", "'"),
    ("\"", "'"),
    ("‘", "'"),
    ("’", "'"),
    ("（", "'"),
    ("）", "'"),
    ("(", "'"),
    (")", "'"),
    ("《", "'"),
    ("》", "'"),
    ("【", "'"),
    ("】", "'"),
    ("[", "'"),
    ("]", "'"),
    ("—", "-"),
    ("～", "-"),
    ("~", "-"),
    ("「", "'"),
    ("」", "'"),
];

/// `[quirk]` upstream's prefix list, tried in this order: `aa` comes before `aai`, `a` before
/// `ai`-less finals, so the first match is not always the longest.
const INITIALS: [&str; 47] = [
    "aa", "aai", "aak", "aap", "aat", "aau", "ai", "au", "ap", "at", "ak", "a", "p", "b", "e", "ts", "t", "dz", "d",
    "kw", "k", "gw", "g", "f", "h", "l", "m", "ng", "n", "s", "y", "w", "c", "z", "j", "ong", "on", "ou", "oi", "ok",
    "o", "uk", "ung", "sp", "spl", "spn", "sil",
];

/// `replace_punctuation`: map punctuation with Cantonese's table, keep only U+4E00..U+9FA5 and `!?…,.-`.
fn replace_punctuation(text: &str) -> String {
    crate::zh::map_punctuation(text, &REP_MAP)
}

/// `text_normalize` of cantonese.py.
pub fn text_normalize(text: &str) -> Result<String, Error> {
    Ok(crate::zh::normalize(text)?.iter().map(|s| replace_punctuation(s)).collect())
}

/// `get_jyutping`: one entry per character — the punctuation mark itself or its syllable(s).
fn get_jyutping(text: &str) -> Result<Vec<String>, Error> {
    jyutping::trie()?
        .jyutping_list(text)?
        .into_iter()
        .map(|(c, reading)| {
            if PUNCTUATION.contains(c) {
                return Ok(c.to_string());
            }
            // Upstream: `re.search(pattern, None)` raises for a character without a reading.
            reading.ok_or_else(|| Error::Invalid(format!("yue: no jyutping for {c:?} (upstream raises TypeError)")))
        })
        .collect()
}

/// `jyuping_to_initials_finals_tones`: phones and word2ph.
fn syllables_to_phones(syllables: &[String]) -> Result<(Vec<String>, Vec<usize>), Error> {
    let mut phones = Vec::with_capacity(syllables.len() * 2);
    let mut word2ph = Vec::with_capacity(syllables.len());
    for syllable in syllables {
        if syllable.chars().count() == 1 && PUNCTUATION.contains(syllable.as_str()) {
            phones.push(syllable.clone());
            word2ph.push(1);
            continue;
        }
        let (body, tone) = match syllable.chars().last().and_then(|c| c.to_digit(10)) {
            Some(t) => (&syllable[..syllable.len() - 1], Some(t)),
            None => (syllable.as_str(), None),
        };
        let Some(initial) = INITIALS.iter().find(|i| body.starts_with(**i)) else {
            // Upstream appends nothing and then fails its `len(norm_text) == len(word2ph)` assert.
            return Err(Error::Invalid(format!("yue: AssertionError: no initial for jyutping {syllable:?}")));
        };
        let (initial, rest) = if body.starts_with("nga") { body.split_at(2) } else { body.split_at(initial.len()) };
        let last = &body[body.len() - 1..];
        let final_ = if rest.is_empty() { last } else { rest };
        phones.push(format!("Y{initial}"));
        // A tone of 0 counts as "no tone" upstream (`b not in [-1, 0]`).
        phones.push(match tone {
            Some(t) if t != 0 => format!("Y{final_}{t}"),
            _ => format!("Y{final_}"),
        });
        word2ph.push(2);
    }
    Ok((phones, word2ph))
}

/// Upstream `clean_text(text, "yue", "v2")` (before the `UNK` substitution).
pub fn clean(text: &str) -> Result<Cleaned, Error> {
    let norm_text = text_normalize(text)?;
    let (phones, word2ph) = syllables_to_phones(&get_jyutping(&norm_text)?)?;
    if norm_text.chars().count() != word2ph.len() {
        return Err(Error::Invalid(format!(
            "yue: AssertionError: {} word2ph entries for the {} characters of {norm_text:?}",
            word2ph.len(),
            norm_text.chars().count()
        )));
    }
    Ok(Cleaned { norm_text, phones, word2ph: Some(word2ph) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn initials_in_upstream_order() {
        let (phones, word2ph) = syllables_to_phones(&s(&["aa3", "ng5", "nga4", "m4", "gwong2", ","])).expect("ok");
        assert_eq!(phones, s(&["Yaa", "Ya3", "Yng", "Yg5", "Yng", "Ya4", "Ym", "Ym4", "Ygw", "Yong2", ","]));
        assert_eq!(word2ph, vec![2, 2, 2, 2, 2, 1]);
        // A character with two syllables stays one "syllable" upstream.
        let (phones, _) = syllables_to_phones(&s(&["gung1 fan1"])).expect("ok");
        assert_eq!(phones, s(&["Yg", "Yung1 fan1"]));
    }

    #[test]
    fn punctuation_map_drops_brackets() {
        assert_eq!(replace_punctuation("「你好」（係）～…"), "你好係-…");
        assert_eq!(replace_punctuation("a...b"), "…");
    }
}
