//! Japanese: upstream text/japanese.py on pyopenjtalk 0.4.1 with `open_jtalk_dic_utf_8-1.11`.
//!
//! Pipeline (`cleaner.clean_text(text, "ja", version)`):
//! 1. `text_normalize`: runs of punctuation collapse to their first mark (nothing else).
//! 2. `g2p`: `％` → `パーセント`; lower-case; split on every character outside upstream's
//!    "Japanese" class ([`is_japanese_char`]); each run goes through OpenJTalk ([`openjtalk`])
//!    and [`prosody::g2p_prosody`] (utterance marks dropped); every separator character is
//!    kept as its own phone (a space is dropped), then mapped by `post_replace_ph`.
//!
//! Phones outside the symbol table (the accent-phrase border `#`, `「`, …) become `UNK` in
//! `clean_text`, exactly as upstream. There is no `word2ph` for Japanese.
//!
//! The dictionary is OpenJTalk's naist-jdic (`open_jtalk_dic_utf_8-1.11`; Debian's
//! `open-jtalk-mecab-naist-jdic` ships the same files). It is loaded once, on first use, from
//! [`set_dictionary_dir`], else `$GSV_JA_DICTIONARY`, else [`DEFAULT_DICTIONARY_DIR`].
//! No user dictionary: upstream's `ja_userdic/userdict.csv` is not applied.
mod accent_type;
mod openjtalk;
mod prosody;

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::{split, symbols, Cleaned, Error, Version};

pub use openjtalk::OpenJtalk;
pub use prosody::g2p_prosody;

/// Where Debian's `open-jtalk-mecab-naist-jdic` installs the dictionary.
pub const DEFAULT_DICTIONARY_DIR: &str = "/var/lib/mecab/dic/open-jtalk/naist-jdic";
/// Environment variable naming the dictionary directory (also the server's `text.ja_dictionary`).
pub const DICTIONARY_ENV: &str = "GSV_JA_DICTIONARY";

static CONFIGURED_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The front end, loaded on first use, with the directory it was read from.
static FRONTEND: OnceLock<(PathBuf, Result<OpenJtalk, Error>)> = OnceLock::new();

/// Use `dir` as the naist-jdic directory (the server's `text.ja_dictionary`). Call it before
/// the first Japanese text is processed; a different directory after that is an error.
pub fn set_dictionary_dir(dir: impl Into<PathBuf>) -> Result<(), Error> {
    let dir = dir.into();
    let configured = CONFIGURED_DIR.get_or_init(|| dir.clone());
    let loaded = FRONTEND.get().map(|(d, _)| d);
    if *configured != dir || loaded.is_some_and(|d| *d != dir) {
        let current = loaded.unwrap_or(configured);
        return Err(Error::Invalid(format!("the Japanese dictionary directory is already {}", current.display())));
    }
    Ok(())
}

/// The naist-jdic directory: [`set_dictionary_dir`], else `$GSV_JA_DICTIONARY`, else
/// [`DEFAULT_DICTIONARY_DIR`].
pub fn dictionary_dir() -> PathBuf {
    if let Some(dir) = CONFIGURED_DIR.get() {
        return dir.clone();
    }
    std::env::var_os(DICTIONARY_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DICTIONARY_DIR))
}

/// The shared OpenJTalk front end, loading the dictionary on first use.
pub fn frontend() -> Result<&'static OpenJtalk, Error> {
    let (_, loaded) = FRONTEND.get_or_init(|| {
        let dir = dictionary_dir();
        let loaded = OpenJtalk::open(&dir);
        (dir, loaded)
    });
    loaded.as_ref().map_err(Clone::clone)
}

/// Loads the dictionary now instead of on first use.
pub fn warm_up() -> Result<(), Error> {
    frontend().map(|_| ())
}

pub fn clean(text: &str, version: Version) -> Result<Cleaned, Error> {
    let norm_text = text_normalize(text);
    let phones = g2p(&norm_text)?;
    Ok(Cleaned { phones: symbols::substitute_unk(&phones, version)?, norm_text, word2ph: None })
}

/// `japanese.text_normalize`: only `replace_consecutive_punctuation` (upstream's `punctuation`
/// list, the same marks the preprocessor collapses).
pub fn text_normalize(text: &str) -> String {
    split::replace_consecutive_punctuation(text)
}

/// `_japanese_characters` of japanese.py. [quirk] Full-width `０` (U+FF10) is outside the listed
/// ranges but inside `\d`, which (in Python as in the `regex` crate) is every Unicode decimal
/// digit.
const JAPANESE_CHARACTERS: &str =
    r"^[A-Za-z\d\x{3005}\x{3040}-\x{30ff}\x{4e00}-\x{9fff}\x{ff11}-\x{ff19}\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}\x{ff66}-\x{ff9d}]$";

/// Whether `c` belongs to a run OpenJTalk reads (anything else separates runs).
pub fn is_japanese_char(c: char) -> bool {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let mut buf = [0u8; 4];
    RE.get_or_init(|| regex::Regex::new(JAPANESE_CHARACTERS).expect("static pattern")).is_match(c.encode_utf8(&mut buf))
}

/// `post_replace_ph`: a separator character → upstream's punctuation phone.
fn post_replace_ph(mark: char) -> String {
    match mark {
        '：' | '；' | '，' | '·' | '、' => ",".to_string(),
        '。' | '\n' => ".".to_string(),
        '！' => "!".to_string(),
        '？' => "?".to_string(),
        other => other.to_string(),
    }
}

/// `japanese.g2p(norm_text)` (`preprocess_jap(text, with_prosody=True)` + `post_replace_ph`),
/// before the `UNK` substitution.
pub fn g2p(norm_text: &str) -> Result<Vec<String>, Error> {
    let text = norm_text.replace('％', "パーセント").to_lowercase();
    let mut phones = Vec::new();
    let mut run = String::new();
    for c in text.chars() {
        if is_japanese_char(c) {
            run.push(c);
            continue;
        }
        run_phones(&run, &mut phones)?;
        run.clear();
        if c != ' ' {
            phones.push(post_replace_ph(c));
        }
    }
    run_phones(&run, &mut phones)?;
    Ok(phones)
}

/// `pyopenjtalk_g2p_prosody(run)[1:-1]` for one run of Japanese characters.
fn run_phones(run: &str, phones: &mut Vec<String>) -> Result<(), Error> {
    if run.is_empty() {
        return Ok(());
    }
    let labels = frontend()?.labels(run)?;
    let prosody = g2p_prosody(&labels);
    // [quirk] `[1:-1]` drops the first and last element whatever they are (normally `^` and
    // `$`/`?`); a question's `?` therefore never survives from the labels.
    if prosody.len() > 2 {
        phones.extend(prosody[1..prosody.len() - 1].iter().cloned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_class_matches_upstream_ranges() {
        for c in ['a', 'Z', '7', '０', '５', '々', 'ぁ', 'ー', '・', '漢', 'ｱ', 'Ａ', 'ｚ', '٣'] {
            assert!(is_japanese_char(c), "{c}");
        }
        for c in [' ', '、', '。', '！', '「', '％', '\u{ff9e}', '\u{ff20}', 'é', '①', '〇'] {
            assert!(!is_japanese_char(c), "{c}");
        }
    }

    #[test]
    fn separators_map_like_post_replace_ph() {
        let got: Vec<String> = "：；，·、。\n！？「".chars().map(post_replace_ph).collect();
        assert_eq!(got, [",", ",", ",", ",", ",", ".", ".", "!", "?", "「"]);
    }

    #[test]
    fn normalisation_only_collapses_punctuation_runs() {
        assert_eq!(text_normalize("ええ!!?、そう…,."), "ええ!、そう…");
    }
}
