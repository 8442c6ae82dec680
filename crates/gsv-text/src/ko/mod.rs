//! Korean: upstream text/korean.py (v2+) on g2pk2 0.0.3 with MeCab and mecab-ko-dic 2.1.1.
//!
//! Pipeline (`cleaner.clean_text(text, "ko", version)`; korean.py has no `text_normalize`, so
//! `norm_text` is the input):
//! 1. Latin letters → Hangul letter names (`a` → 에이, ...; case-insensitive as Python's
//!    `re.IGNORECASE`, so `K` (Kelvin), `ſ`, `İ` and `ı` count too).
//! 2. g2pk2 ([`g2pk`]): idioms, MeCab part-of-speech annotation ([`crate::mecab`] on
//!    mecab-ko-dic), numbers with counters, special rules, the coda/onset table, liaison.
//! 3. Decompose into compatibility jamo and split complex vowels (ㅘ → ㅗㅏ, ...).
//! 4. korean.py's fix for g2pk2's ㄹ-liaison error (`ㅇㅡㄹ ㄹ` / `ㄹㅡㄹ ㄹ` → `... ㄴ`).
//! 5. `.` after a final jamo; then per character: punctuation map, space → `空`, anything not in
//!    the v2 symbol table → `停`.
//!
//! The dictionary is read from [`dictionary_dir`] when Korean is first used (see there).
mod g2pk;
mod jamo;
mod numerals;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::mecab::Dictionary;
use crate::{symbols, Cleaned, Error, Version};

/// Environment variable naming the mecab-ko-dic directory.
pub const DICTIONARY_ENV: &str = "GSV_MECAB_KO_DIC";
/// Where scripts/setup.sh installs mecab-ko-dic, relative to the project root.
pub const DEFAULT_DICTIONARY_DIR: &str = ".gsv-data/mecab-ko-dic";

static CONFIGURED_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The dictionary, loaded on first use, with the directory it was read from.
static DICTIONARY: OnceLock<(PathBuf, Result<Dictionary, String>)> = OnceLock::new();

/// Use `dir` as the mecab-ko-dic directory (the server's `text.mecab_ko_dic`). Call it before
/// the first Korean text is processed; a different directory after that is an error.
pub fn set_dictionary_dir(dir: impl Into<PathBuf>) -> Result<(), Error> {
    let dir = dir.into();
    let configured = CONFIGURED_DIR.get_or_init(|| dir.clone());
    let loaded = DICTIONARY.get().map(|(d, _)| d);
    if *configured != dir || loaded.is_some_and(|d| *d != dir) {
        let current = loaded.unwrap_or(configured);
        return Err(Error::Invalid(format!("the mecab-ko-dic directory is already {}", current.display())));
    }
    Ok(())
}

/// The mecab-ko-dic directory: [`set_dictionary_dir`], else `$GSV_MECAB_KO_DIC`, else
/// `.gsv-data/mecab-ko-dic` under the working directory, else under this source checkout.
pub fn dictionary_dir() -> PathBuf {
    if let Some(dir) = CONFIGURED_DIR.get() {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os(DICTIONARY_ENV).filter(|d| !d.is_empty()) {
        return dir.into();
    }
    let local = Path::new(DEFAULT_DICTIONARY_DIR);
    if local.join("sys.dic").exists() {
        return local.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(DEFAULT_DICTIONARY_DIR)
}

/// The loaded mecab-ko-dic (loaded once, on first use).
pub fn dictionary() -> Result<&'static Dictionary, Error> {
    let (dir, loaded) = DICTIONARY.get_or_init(|| {
        let dir = dictionary_dir();
        let loaded = Dictionary::open(&dir).map_err(|e| e.to_string());
        (dir, loaded)
    });
    loaded.as_ref().map_err(|e| {
        Error::Unavailable(format!(
            "Korean needs mecab-ko-dic 2.1.1 at {} (scripts/setup.sh installs it; set {DICTIONARY_ENV} or text.mecab_ko_dic): {e}",
            dir.display()
        ))
    })
}

/// korean.py `_latin_to_hangul`: the Korean names of the Latin letters.
const LETTER_NAMES: [&str; 26] = [
    "에이", "비", "시", "디", "이", "에프", "지", "에이치", "아이", "제이", "케이", "엘", "엠", "엔", "오", "피", "큐",
    "아르", "에스", "티", "유", "브이", "더블유", "엑스", "와이", "제트",
];

fn latin_to_hangul(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for c in text.chars() {
        // Python's case-insensitive matching also folds these onto ASCII letters.
        let folded = match c {
            '\u{212A}' => 'k',
            '\u{017F}' => 's',
            '\u{0130}' | '\u{0131}' => 'i',
            c => c.to_ascii_lowercase(),
        };
        if folded.is_ascii_lowercase() {
            out.push_str(LETTER_NAMES[folded as usize - 'a' as usize]);
        } else {
            out.push(c);
        }
    }
    out
}

/// korean.py `_hangul_divided`: complex vowels as two simple ones.
const DIVIDED: [(char, &str); 13] = [
    ('ㅘ', "ㅗㅏ"),
    ('ㅙ', "ㅗㅐ"),
    ('ㅚ', "ㅗㅣ"),
    ('ㅝ', "ㅜㅓ"),
    ('ㅞ', "ㅜㅔ"),
    ('ㅟ', "ㅜㅣ"),
    ('ㅢ', "ㅡㅣ"),
    ('ㅑ', "ㅣㅏ"),
    ('ㅒ', "ㅣㅐ"),
    ('ㅕ', "ㅣㅓ"),
    ('ㅖ', "ㅣㅔ"),
    ('ㅛ', "ㅣㅗ"),
    ('ㅠ', "ㅣㅜ"),
];

fn divide_hangul(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    for c in jamo::j2hcj(&jamo::h2j(text)).chars() {
        match DIVIDED.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.extend(to.chars()),
            None => out.push(c),
        }
    }
    out
}

/// korean.py `fix_g2pk2_error`: g2pk2 leaves `을 ㄹ`/`를 ㄹ` where the second ㄹ should be ㄴ.
fn fix_g2pk2_error(text: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i + 4 < text.len() {
        let head = &text[i..i + 3];
        if (head == ['ㅇ', 'ㅡ', 'ㄹ'] || head == ['ㄹ', 'ㅡ', 'ㄹ']) && text[i + 3] == ' ' && text[i + 4] == 'ㄹ' {
            out.extend_from_slice(head);
            out.extend([' ', 'ㄴ']);
            i += 5;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&text[i..]);
    out
}

fn is_compat_jamo(c: char) -> bool {
    ('\u{3131}'..='\u{3163}').contains(&c)
}

/// korean.py `post_replace_ph` for one character.
fn post_replace(c: char, table: &symbols::SymbolTable) -> String {
    let mapped = match c {
        '：' | '；' | '，' | '、' | '·' => ",",
        '。' | '\n' => ".",
        '！' => "!",
        '？' => "?",
        ' ' => "空",
        _ => "",
    };
    let ph = if mapped.is_empty() { c.to_string() } else { mapped.to_string() };
    if table.contains(&ph) {
        ph
    } else {
        "停".to_string()
    }
}

/// korean.py `g2p` with a given dictionary.
pub fn g2p_with(text: &str, dict: &Dictionary) -> Result<Vec<String>, Error> {
    let spoken = g2pk::g2p(&latin_to_hangul(text), dict)?;
    let mut chars = fix_g2pk2_error(&divide_hangul(&spoken));
    // `re.sub(r"([\u3131-\u3163])$", r"\1.")`: `$` also matches before a final newline.
    let n = chars.len();
    if n > 0 && is_compat_jamo(chars[n - 1]) {
        chars.push('.');
    } else if n > 1 && chars[n - 1] == '\n' && is_compat_jamo(chars[n - 2]) {
        chars.insert(n - 1, '.');
    }
    let table = symbols::table(Version::V2)?;
    Ok(chars.into_iter().map(|c| post_replace(c, table)).collect())
}

/// Upstream `clean_text(text, "ko", version)` (v2 symbol set; v1 has no Korean module).
pub fn clean(text: &str, version: Version) -> Result<Cleaned, Error> {
    if version == Version::V1 {
        return Err(Error::UnsupportedLanguage("ko (v1 models have no Korean)".into()));
    }
    let phones = g2p_with(text, dictionary()?)?;
    let phones = symbols::substitute_unk(&phones, version)?;
    Ok(Cleaned { norm_text: text.to_string(), phones, word2ph: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_letters_fold_like_python_ignorecase() {
        assert_eq!(latin_to_hangul("KBS a\u{212A}"), "케이비에스 에이케이");
        assert_eq!(latin_to_hangul("ß한"), "ß한");
    }

    #[test]
    fn rieul_liaison_fix() {
        let chars: Vec<char> = "ㅇㅡㄹ ㄹㅏ ㄹㅡㄹ ㄹ".chars().collect();
        let fixed: String = fix_g2pk2_error(&chars).into_iter().collect();
        assert_eq!(fixed, "ㅇㅡㄹ ㄴㅏ ㄹㅡㄹ ㄴ");
        let untouched: Vec<char> = "ㅇㅡㄹㄹ ㅇㅡㄹ  ㄹ".chars().collect();
        assert_eq!(fix_g2pk2_error(&untouched), untouched);
    }
}
