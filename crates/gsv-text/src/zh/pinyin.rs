//! pypinyin 0.55.0 as upstream calls it: `lazy_pinyin(word, neutral_tone_with_five=True,
//! style=Style.INITIALS | Style.FINALS_TONE3)` (strict mode, heteronym off).
//! - segmentation of the word: Han / non-Han runs, Han runs by pypinyin's forward maximum
//!   matching over its phrase dictionary (`mmseg`, `no_non_phrases=True`);
//! - readings: the phrase entry, else per character the first reading of the single dict;
//! - style conversion of each tone-marked reading to initials / finals + tone digit.
//!
//! Data: `data/zh/pypinyin_single.txt.gz`, `data/zh/pypinyin_phrases.txt.gz` (pypinyin, MIT).
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use super::hmm::gunzip;
use crate::Error;

struct Dicts {
    /// code point → first reading (tone marks).
    single: HashMap<char, String>,
    /// phrase → first reading per character.
    phrases: HashMap<String, Vec<String>>,
    /// every prefix of every phrase (pypinyin's `PrefixSet`).
    prefixes: HashSet<String>,
}

static DICTS: LazyLock<Result<Dicts, Error>> = LazyLock::new(|| {
    let single_text = gunzip(include_bytes!("../../data/zh/pypinyin_single.txt.gz"), "pypinyin_single.txt.gz")?;
    let phrase_text =
        gunzip(include_bytes!("../../data/zh/pypinyin_phrases.txt.gz"), "pypinyin_phrases.txt.gz")?;
    let mut single = HashMap::new();
    for line in single_text.lines() {
        let Some((code, readings)) = line.split_once('\t') else { continue };
        let Some(c) = u32::from_str_radix(code, 16).ok().and_then(char::from_u32) else { continue };
        single.insert(c, readings.split(',').next().unwrap_or("").to_string());
    }
    let mut phrases = HashMap::new();
    let mut prefixes = HashSet::new();
    for line in phrase_text.lines() {
        let Some((phrase, readings)) = line.split_once('\t') else { continue };
        let first: Vec<String> =
            readings.split(' ').map(|g| g.split(',').next().unwrap_or("").to_string()).collect();
        for (i, _) in phrase.char_indices().skip(1) {
            prefixes.insert(phrase[..i].to_string());
        }
        prefixes.insert(phrase.to_string());
        phrases.insert(phrase.to_string(), first);
    }
    Ok(Dicts { single, phrases, prefixes })
});

/// pypinyin `RE_HANS`: characters treated as Han (looked up in the dictionaries).
fn is_hans(c: char) -> bool {
    matches!(c as u32,
        0x3007 | 0xE815..=0xE864 | 0xFA18 | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        | 0x20000..=0x2A6DF | 0x2A703..=0x2B73F | 0x2B740..=0x2B81D | 0x2B825..=0x2BF6E
        | 0x2C029..=0x2CE93 | 0x2D016 | 0x2D11B..=0x2EBD9 | 0x2F80A..=0x2FA1F
        | 0x30000..=0x3134A | 0x31350..=0x32389)
}

/// One item of `lazy_pinyin`'s output before styling.
pub(crate) enum Item {
    /// A Han character's reading (or the character itself when it has none; styling it then
    /// yields "", as in pypinyin).
    Reading(String),
    /// A run of non-Han characters, returned verbatim (`errors='default'`).
    Verbatim(String),
}

/// `mmseg.seg.cut` with `no_non_phrases=True`.
fn mmseg<'a>(d: &Dicts, text: &'a str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut remain = text;
    while !remain.is_empty() {
        let mut last_valid: Option<usize> = None;
        let mut failed = false;
        for (i, c) in remain.char_indices() {
            let end = i + c.len_utf8();
            let word = &remain[..end];
            if d.prefixes.contains(word) {
                if d.phrases.contains_key(word) {
                    last_valid = Some(end);
                }
            } else {
                let cut = last_valid.unwrap_or(remain.chars().next().map_or(1, char::len_utf8));
                out.push(&remain[..cut]);
                remain = &remain[cut..];
                failed = true;
                break;
            }
        }
        if failed {
            continue;
        }
        // The whole remainder is a prefix of some phrase.
        match last_valid {
            Some(end) => {
                out.push(&remain[..end]);
                remain = &remain[end..];
            }
            None => {
                if d.phrases.contains_key(remain) {
                    out.push(remain);
                } else {
                    // [quirk] the remainder is emitted character by character.
                    out.extend(remain.char_indices().map(|(i, c)| &remain[i..i + c.len_utf8()]));
                }
                remain = "";
            }
        }
    }
    out
}

/// `lazy_pinyin(word)` before styling: one item per Han character, one per non-Han run.
pub(crate) fn readings(word: &str) -> Result<Vec<Item>, Error> {
    let d = DICTS.as_ref().map_err(Clone::clone)?;
    let mut items = Vec::new();
    let mut start = 0;
    let mut cur: Option<bool> = None;
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    for (i, c) in word.char_indices() {
        let h = is_hans(c);
        if cur.is_some_and(|k| k != h) {
            pieces.push((cur.unwrap_or(false), &word[start..i]));
            start = i;
        }
        cur = Some(h);
    }
    if let Some(k) = cur {
        pieces.push((k, &word[start..]));
    }
    for (han, piece) in pieces {
        if !han {
            items.push(Item::Verbatim(piece.to_string()));
            continue;
        }
        for phrase in mmseg(d, piece) {
            if let Some(r) = d.phrases.get(phrase) {
                items.extend(r.iter().map(|s| Item::Reading(s.clone())));
            } else {
                for c in phrase.chars() {
                    let r = d.single.get(&c).cloned().unwrap_or_else(|| c.to_string());
                    items.push(Item::Reading(r));
                }
            }
        }
    }
    Ok(items)
}

const INITIALS: [&str; 21] =
    ["b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "zh", "ch", "sh", "r", "z", "c", "s"];

const FINALS: [&str; 37] = [
    "i", "u", "ü", "a", "ia", "ua", "o", "uo", "e", "ie", "üe", "ai", "uai", "ei", "uei", "ao", "iao", "ou", "iou",
    "an", "ian", "uan", "üan", "en", "in", "uen", "ün", "ang", "iang", "uang", "eng", "ing", "ueng", "ong", "iong",
    "er", "ê",
];

fn get_initials(py: &str, strict: bool) -> &'static str {
    let extra: &[&'static str] = if strict { &[] } else { &["y", "w"] };
    INITIALS.iter().chain(extra.iter()).find(|i| py.starts_with(**i)).copied().unwrap_or("")
}

/// `Style.INITIALS` (strict).
pub(crate) fn initials(item: &Item) -> String {
    match item {
        Item::Reading(py) => get_initials(py, true).to_string(),
        Item::Verbatim(s) => s.clone(),
    }
}

/// Tone-marked vowel → (plain letters, tone digit), pypinyin's `phonetic_symbol`.
fn tone_mark(c: char) -> Option<(&'static str, char)> {
    Some(match c {
        'ā' => ("a", '1'),
        'á' => ("a", '2'),
        'ǎ' => ("a", '3'),
        'à' => ("a", '4'),
        'ē' => ("e", '1'),
        'é' => ("e", '2'),
        'ě' => ("e", '3'),
        'è' => ("e", '4'),
        'ō' => ("o", '1'),
        'ó' => ("o", '2'),
        'ǒ' => ("o", '3'),
        'ò' => ("o", '4'),
        'ī' => ("i", '1'),
        'í' => ("i", '2'),
        'ǐ' => ("i", '3'),
        'ì' => ("i", '4'),
        'ū' => ("u", '1'),
        'ú' => ("u", '2'),
        'ǔ' => ("u", '3'),
        'ù' => ("u", '4'),
        'ü' => ("v", '\0'),
        'ǖ' => ("v", '1'),
        'ǘ' => ("v", '2'),
        'ǚ' => ("v", '3'),
        'ǜ' => ("v", '4'),
        'ń' => ("n", '2'),
        'ň' => ("n", '3'),
        'ǹ' => ("n", '4'),
        'ḿ' => ("m", '2'),
        'ế' => ("ê", '2'),
        'ề' => ("ê", '4'),
        _ => return None,
    })
}

/// `replace_symbol_to_number`: tone marks → letters + digit (in place, like pypinyin).
fn symbols_to_numbers(py: &str) -> String {
    let mut out = String::new();
    for c in py.chars() {
        match tone_mark(c) {
            Some((letters, tone)) => {
                out.push_str(letters);
                if tone != '\0' {
                    out.push(tone);
                }
            }
            None => out.push(c),
        }
    }
    out.replace("m\u{304}", "m1").replace("m\u{300}", "m4").replace("ê\u{304}", "ê1").replace("ê\u{30c}", "ê3")
}

/// pypinyin `standard.convert_finals` on a toneless reading (strict mode restores the
/// written-out finals: yu → ü, iu → iou, ui → uei, un → uen, ju → jü, …).
fn convert_finals(py: &str) -> String {
    let mut p = py.to_string();
    // convert_zero_consonant
    if let Some(rest) = py.strip_prefix('y') {
        p = match rest.chars().next() {
            Some('u') => format!("ü{}", &rest[1..]),
            Some('i') => rest.to_string(),
            _ => format!("i{rest}"),
        };
    }
    if let Some(rest) = py.strip_prefix('w') {
        p = match rest.chars().next() {
            Some('u') => rest.to_string(),
            _ => format!("u{rest}"),
        };
    }
    if !FINALS.contains(&p.as_str()) {
        p = py.to_string();
    }
    // convert_uv: ^(j|q|x)u(.*)$
    if let Some(first) = p.chars().next().filter(|c| "jqx".contains(*c)) {
        if p[1..].starts_with('u') {
            p = format!("{first}ü{}", &p[2..]);
        }
    }
    // convert_iou / convert_uei / convert_uen: ([a-z]+)(iu|ui|un)$ with at least one letter before.
    let lower_before = |p: &str, suffix: &str| {
        p.strip_suffix(suffix).is_some_and(|head| !head.is_empty() && head.chars().all(|c| c.is_ascii_lowercase()))
    };
    if lower_before(&p, "iu") {
        p = format!("{}iou", &p[..p.len() - 2]);
    }
    if let Some(pos) = ui_un_match(&p, "ui") {
        p = format!("{}uei{}", &p[..pos], &p[pos + 2..]);
    }
    if let Some(pos) = ui_un_match(&p, "un") {
        p = format!("{}uen{}", &p[..pos], &p[pos + 2..]);
    }
    p
}

/// `re.sub(r"([a-z]+)(ui)$", …)` (searched, not anchored at the start): the position of the
/// final `ui`/`un` when a run of a-z letters directly precedes it.
fn ui_un_match(p: &str, suffix: &str) -> Option<usize> {
    let head = p.strip_suffix(suffix)?;
    let last = head.chars().next_back()?;
    last.is_ascii_lowercase().then_some(head.len())
}

/// `get_finals(pinyin, strict=True)` on a toneless reading.
fn get_finals_strict(py: &str) -> String {
    let p = convert_finals(py);
    let initials = get_initials(&p, true);
    let finals = &p[initials.len()..];
    if FINALS.contains(&finals) {
        return finals.to_string();
    }
    let initials = get_initials(&p, false);
    let finals = &p[initials.len()..];
    if FINALS.contains(&finals) {
        finals.to_string()
    } else {
        String::new()
    }
}

/// `Style.FINALS_TONE3` (strict) with `neutral_tone_with_five=True`.
pub(crate) fn finals_tone3(item: &Item) -> String {
    let py = match item {
        Item::Reading(py) => py,
        Item::Verbatim(s) => return s.clone(),
    };
    let py = py.replace('5', "");
    let numbered = symbols_to_numbers(&py);
    let toneless: String = numbered.chars().filter(|c| !c.is_ascii_digit()).collect();
    let finals = get_finals_strict(&toneless.replace('v', "ü")).replace('ü', "v");
    if finals.is_empty() {
        return finals;
    }
    match numbered.chars().find(|c| c.is_ascii_digit()) {
        Some(d) => format!("{finals}{d}"),
        None => format!("{finals}5"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every distinct reading of both pypinyin dictionaries, with what pypinyin 0.55.0's
    /// `Style.INITIALS` / `Style.FINALS_TONE3` (strict, neutral tone 5) make of it.
    #[test]
    fn style_conversion_matches_pypinyin_for_every_reading() {
        let expected = include_str!("../../data/zh/pypinyin_style_expected.txt");
        let mut bad = Vec::new();
        let mut n = 0;
        for line in expected.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 3, "malformed line {line:?}");
            n += 1;
            let item = Item::Reading(f[0].to_string());
            let got = (initials(&item), finals_tone3(&item));
            if got.0 != f[1] || got.1 != f[2] {
                bad.push(format!("{}: expected ({:?}, {:?}), got {got:?}", f[0], f[1], f[2]));
            }
        }
        assert!(n > 1000);
        assert!(bad.is_empty(), "{} readings differ:\n{}", bad.len(), bad.join("\n"));
    }

    #[test]
    fn lazy_pinyin_segments_words_like_pypinyin() {
        let styled = |w: &str| -> Vec<String> {
            readings(w).map(|items| items.iter().map(finals_tone3).collect()).unwrap_or_default()
        };
        // 一丁点儿 is a phrase entry (er without tone → er5); 你好, is Han + a verbatim run.
        assert_eq!(styled("一丁点儿"), ["i1", "ing1", "ian3", "er5"]);
        assert_eq!(styled("你好,"), ["i3", "ao3", ","]);
    }
}
