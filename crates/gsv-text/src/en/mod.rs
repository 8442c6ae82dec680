//! English: upstream `text/english.py` (`text_normalize`, `g2p`, the `en_G2p` class built on
//! g2p_en 2.1.0), phone for phone.
//!
//! Pipeline: [`normalize::text_normalize`] → NLTK `TweetTokenizer` ([`tokenize`]) → per
//! token: punctuation kept, single letters and homographs handled first, then `qryword`
//! (CMU dictionary → name dictionary → spelling of ≤3-letter words → possessive `'s` →
//! `wordsegment` compound split → g2p_en's GRU) → upstream's phone filter → `","` prepended
//! when fewer than 4 phones result (`cleaner.clean_text`).
//!
//! [quirk] POS tags: upstream picks homograph pronunciations with NLTK's averaged-perceptron
//! tagger. The golden fixtures were recorded without the tagger data, which made every token
//! `NN`, and exclude sentences with homographs; this port reproduces that variant by tagging
//! every token `NN` (so `N`-tagged homographs get their first pronunciation, all others
//! their second).
//!
//! Known divergences (none is hit by the fixtures or the 9,900-input differential run
//! against upstream that `data/en/upstream_reference.jsonl` samples):
//! - wordsegment's recursive search raises Python's `RecursionError` when one chunk of a
//!   single unknown token (250 letters plus up to five carried-over words) exceeds about
//!   330 letters; the depth limit depends on the caller's stack, so this port segments such
//!   tokens instead of failing.
//! - The GRU sums in f64 where numpy uses BLAS f32 sums; an argmax near-tie could in
//!   principle resolve differently (not observed on 4,500 out-of-vocabulary words).
mod dict;
mod inflect;
mod neural;
mod normalize;
mod segment;
mod tokenize;

use crate::{Cleaned, Error, Version};

/// The POS tag every token gets (see the module docs).
const POS_TAG: &str = "NN";

/// ARPAbet symbols of upstream's `arpa` set (all in both symbol tables).
const ARPA: [&str; 71] = [
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2", "AW0",
    "AW1", "AW2", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER", "ER0",
    "ER1", "ER2", "EY0", "EY1", "EY2", "F", "G", "HH", "IH", "IH0", "IH1", "IH2", "IY0", "IY1",
    "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1", "OW2", "OY0", "OY1", "OY2", "P", "R", "S",
    "SH", "T", "TH", "UH0", "UH1", "UH2", "UW0", "UW1", "UW2", "V", "W", "Y", "Z", "ZH",
];

/// `clean_text(text, "en", version)`: normalised text and phones; `word2ph` is `None`.
///
/// Both versions give the same phones: upstream's `replace_phs` always filters with the v2
/// table, and every phone it keeps is also a v1 symbol.
pub fn clean(text: &str, _version: Version) -> Result<Cleaned, Error> {
    let norm_text = normalize::text_normalize(text)?;
    let mut phones = g2p(&norm_text)?;
    if phones.len() < 4 {
        phones.insert(0, ",".to_string());
    }
    Ok(Cleaned {
        norm_text,
        phones,
        word2ph: None,
    })
}

/// Normalisation alone (upstream `english.text_normalize`).
pub fn text_normalize(text: &str) -> Result<String, Error> {
    normalize::text_normalize(text)
}

/// Loads the dictionaries, the word-segmentation counts and the GRU weights now instead of
/// on first use.
pub fn warm_up() -> Result<(), Error> {
    dict::warm_up();
    segment::warm_up()?;
    neural::warm_up()
}

/// Upstream `english.g2p`: phones of normalised text, filtered like upstream.
pub fn g2p(norm_text: &str) -> Result<Vec<String>, Error> {
    let mut phones = Vec::new();
    for token in tokenize::tokenize(norm_text) {
        for phone in token_phones(&token)? {
            match phone.as_str() {
                // Word separators and decoder symbols that upstream drops ("UW" sic).
                " " | "<pad>" | "UW" | "</s>" | "<s>" => {}
                "<unk>" => phones.push("UNK".to_string()),
                // `replace_phs`: symbols are kept, "'" becomes "-", the rest is dropped.
                "'" => phones.push("-".to_string()),
                p if is_symbol(p) => phones.push(phone),
                _ => {}
            }
        }
    }
    Ok(phones)
}

/// Membership in the v2 symbol table for everything an English pronunciation can contain:
/// the dictionaries hold ARPAbet plus a few non-symbols (`#`, `FOREIGN`, ``…), tokens are
/// punctuation of `'.,?!-`, and the GRU emits ARPAbet and `UNK` (after mapping).
fn is_symbol(phone: &str) -> bool {
    ARPA.contains(&phone) || matches!(phone, "!" | "?" | "…" | "," | "." | "-" | "UNK")
}

fn single_letter(letter: &str) -> Result<Vec<String>, Error> {
    let pron = dict::cmu(letter)
        .ok_or_else(|| Error::Invalid(format!("no pronunciation for the letter `{letter}`")))?;
    Ok(pron.phones().map(str::to_string).collect())
}

/// Upstream `en_G2p.__call__` for one token.
fn token_phones(token: &str) -> Result<Vec<String>, Error> {
    let word = token.to_lowercase();
    if !word.chars().any(|c| c.is_ascii_lowercase()) {
        return Ok(vec![word]);
    }
    if word.chars().count() == 1 {
        // [quirk] a capital "A" standing alone is the letter name; lower-case "a" is AH0.
        return if token == "A" {
            Ok(vec!["EY1".into()])
        } else {
            single_letter(&word)
        };
    }
    if let Some(h) = dict::homograph(&word) {
        let pos1 = h.pos1;
        let first =
            POS_TAG.starts_with(pos1) || (POS_TAG.len() < pos1.len() && pos1.starts_with(POS_TAG));
        let pron = if first { h.pron1 } else { h.pron2 };
        return Ok(pron.phones().map(str::to_string).collect());
    }
    qryword(token)
}

/// Python `str.istitle()`.
fn is_title(s: &str) -> bool {
    let (mut cased, mut previous_cased) = (false, false);
    for c in s.chars() {
        if c.is_uppercase() {
            if previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else if c.is_lowercase() {
            if !previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else {
            previous_cased = false;
        }
    }
    cased
}

/// Upstream `en_G2p.qryword`: dictionary, names, spelling, possessives, compounds, GRU.
fn qryword(o_word: &str) -> Result<Vec<String>, Error> {
    let word = o_word.to_lowercase();
    let len = word.chars().count();
    if len > 1 {
        if let Some(pron) = dict::cmu(&word) {
            return Ok(pron.phones().map(str::to_string).collect());
        }
    }
    // Names only for title-case tokens ("Kavya", not "kavya").
    if is_title(o_word) {
        if let Some(pron) = dict::name(&word) {
            return Ok(pron.phones().map(str::to_string).collect());
        }
    }
    // Short unknown words are read letter by letter.
    if len <= 3 {
        let mut phones = Vec::new();
        for c in word.chars() {
            if c == 'a' {
                phones.push("EY1".to_string());
            } else if !c.is_alphabetic() {
                phones.push(c.to_string());
            } else {
                phones.extend(single_letter(c.encode_utf8(&mut [0; 4]))?);
            }
        }
        return Ok(phones);
    }
    // Possessive 's: voiceless ending → S, sibilant → AH0 Z, otherwise Z.
    if let Some(stem) = word
        .strip_suffix("'s")
        .filter(|s| s.chars().all(|c| c.is_ascii_lowercase()))
    {
        let mut phones = qryword(stem)?;
        let last = phones
            .last()
            .ok_or_else(|| Error::Invalid(format!("no phones for the stem of `{o_word}`")))?;
        match last.as_str() {
            "P" | "T" | "K" | "F" | "TH" | "HH" => phones.push("S".into()),
            "S" | "Z" | "SH" | "ZH" | "CH" | "JH" => {
                phones.extend(["AH0".to_string(), "Z".to_string()])
            }
            _ => phones.push("Z".into()),
        }
        return Ok(phones);
    }
    let parts = segment::segment(&word)?;
    if parts.len() == 1 {
        return Ok(neural::predict(&word)?
            .into_iter()
            .map(str::to_string)
            .collect());
    }
    let mut phones = Vec::new();
    for part in parts {
        phones.extend(qryword(&part)?);
    }
    Ok(phones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_case_like_python() {
        assert!(is_title("Kavya"));
        assert!(!is_title("kavya"));
        assert!(!is_title("KAVYA"));
        assert!(!is_title("Kavya's"));
        assert!(is_title("O'Neil"));
        assert!(!is_title("'"));
    }
}
