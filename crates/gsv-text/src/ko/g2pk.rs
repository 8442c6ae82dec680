//! g2pk2 0.0.3 `G2p.__call__` with its defaults (`descriptive=False`, `group_vowels=False`,
//! `to_syl=True`): idioms → English words → MeCab annotation → numbers → decomposition →
//! special rules → the coda/onset table → liaison → recomposition.
//!
//! The rules are g2pk2's regular expressions; every one of them is a fixed string or a
//! character class next to fixed jamo, so they are applied here as left-to-right scans with
//! the same non-overlapping match semantics.
use std::sync::OnceLock;

use super::jamo::{compose, h2j, last_jamo};
use super::numerals::convert_num;
use crate::mecab::Dictionary;
use crate::split::pychar;
use crate::Error;

/// g2pk2 `idioms.txt`: `from===to` replacements, applied in file order.
fn idioms() -> &'static [(String, String)] {
    static IDIOMS: OnceLock<Vec<(String, String)>> = OnceLock::new();
    IDIOMS.get_or_init(|| {
        include_str!("../../data/ko/idioms.txt")
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or_default().trim();
                let (from, to) = line.split_once("===")?;
                Some((from.to_string(), to.to_string()))
            })
            .collect()
    })
}

/// One cell of g2pk2's `table.csv`: `coda( ?)onset` → template, or `coda(\W|$)` → template
/// (`onset == None`); `\1` in the template is the captured group.
struct TableRule {
    coda: char,
    onset: Option<char>,
    template: String,
}

fn table() -> &'static [TableRule] {
    static TABLE: OnceLock<Vec<TableRule>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut lines = include_str!("../../data/ko/table.csv").lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let onsets: Vec<Option<char>> =
            header.iter().map(|h| h.strip_prefix("( ?)").and_then(|o| o.chars().next())).collect();
        let mut rules = Vec::new();
        for line in lines {
            let cols: Vec<&str> = line.split(',').collect();
            let Some(coda) = cols.first().and_then(|c| c.chars().next()) else { continue };
            for (i, cell) in cols.iter().enumerate().skip(1).take(onsets.len() - 1) {
                if cell.is_empty() {
                    continue;
                }
                // `cell.split("(")[0]`: the rule ids after "(" are comments (and some cells are
                // malformed, e.g. `ᆯ\1ᄏ(ᄑ(10)`; the part before the first "(" is what applies).
                let template = cell.split('(').next().unwrap_or_default().to_string();
                rules.push(TableRule { coda, onset: onsets[i], template });
            }
        }
        rules
    })
}

fn apply_rule(text: &[char], rule: &TableRule) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len() + 4);
    let mut i = 0;
    while i < text.len() {
        if text[i] == rule.coda {
            // (captured group, characters consumed)
            let matched: Option<(Option<char>, usize)> = match rule.onset {
                Some(onset) if text.get(i + 1) == Some(&' ') && text.get(i + 2) == Some(&onset) => Some((Some(' '), 3)),
                Some(onset) if text.get(i + 1) == Some(&onset) => Some((None, 2)),
                Some(_) => None,
                None => match text.get(i + 1) {
                    None => Some((None, 1)),
                    Some(&c) if !pychar::is_word(c) => Some((Some(c), 2)),
                    Some(_) => None,
                },
            };
            if let Some((group, len)) = matched {
                // [quirk] a template without `\1` drops the captured character (row ㅀ of the
                // `(\W|$)` column eats the punctuation after it).
                let group = group.map(String::from).unwrap_or_default();
                out.extend(rule.template.replace("\\1", &group).chars());
                i += len;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// g2pk2 `annotate`: tag the last character of morphemes that later rules need — `/J` on the
/// particle 의, `/E` on an ending whose syllable ends in ㄹ, `/P` on a verb/adjective syllable
/// ending in ㄴ/ㅁ-like codas, `/B` on bound nouns (NNBC). Unchanged when MeCab's surfaces do
/// not spell the text without its spaces (e.g. tabs or newlines in it).
fn annotate(text: &str, dict: &Dictionary) -> String {
    let nodes = dict.analyse(text);
    let surfaces: String = nodes.iter().map(|n| n.surface.as_str()).collect();
    if text.replace(' ', "") != surfaces {
        return text.to_string();
    }
    let mut tags: Vec<char> = Vec::with_capacity(text.len());
    for node in &nodes {
        let pos = node.feature.split(',').next().unwrap_or_default();
        let tag = pos.rsplit('+').next().unwrap_or_default();
        let tag = if tag == "NNBC" { 'B' } else { tag.chars().next().unwrap_or('_') };
        let n = node.surface.chars().count();
        tags.extend(std::iter::repeat_n('_', n.saturating_sub(1)));
        tags.push(tag);
    }
    for (i, c) in text.chars().enumerate() {
        if c == ' ' {
            tags.insert(i.min(tags.len()), ' ');
        }
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (c, tag) in text.chars().zip(tags) {
        out.push(c);
        match tag {
            'J' if c == '의' => out.push_str("/J"),
            'E' if last_jamo(c) == 'ᆯ' => out.push_str("/E"),
            'V' if "ᆫᆬᆷᆱᆰᆲᆴ".contains(last_jamo(c)) => out.push_str("/P"),
            'B' => out.push_str("/B"),
            _ => {}
        }
    }
    out
}

/// Plain replacements, in order (each a fixed-string `re.sub` of g2pk2).
fn replace_all(mut text: String, pairs: &[(&str, &str)]) -> String {
    for (from, to) in pairs {
        if text.contains(from) {
            text = text.replace(from, to);
        }
    }
    text
}

/// `special.py` in g2pk2's order: jyeo, ye, consonant_ui, josa_ui, vowel_ui | jamo |
/// rieulgiyeok, rieulbieub, verb_nieun | balb | palatalize, modifying_rieul. `ye` and
/// `vowel_ui` only act when `descriptive`. Fixed-string rules are lists of replacements; `jamo`
/// and `balb` use character classes and are scans ([`jamo_rules`], [`balb`]).
const SPECIAL_BEFORE_JAMO: &[(&str, &str)] = &[
    // jyeo: ㅈ/ㅉ/ㅊ + ㅕ → ㅓ
    ("\u{110C}\u{1167}", "\u{110C}\u{1165}"),
    ("\u{110D}\u{1167}", "\u{110D}\u{1165}"),
    ("\u{110E}\u{1167}", "\u{110E}\u{1165}"),
    // consonant_ui: consonant + ㅢ → ㅣ
    ("\u{1100}\u{1174}", "\u{1100}\u{1175}"),
    ("\u{1101}\u{1174}", "\u{1101}\u{1175}"),
    ("\u{1102}\u{1174}", "\u{1102}\u{1175}"),
    ("\u{1103}\u{1174}", "\u{1103}\u{1175}"),
    ("\u{1104}\u{1174}", "\u{1104}\u{1175}"),
    ("\u{1105}\u{1174}", "\u{1105}\u{1175}"),
    ("\u{1106}\u{1174}", "\u{1106}\u{1175}"),
    ("\u{1107}\u{1174}", "\u{1107}\u{1175}"),
    ("\u{1108}\u{1174}", "\u{1108}\u{1175}"),
    ("\u{1109}\u{1174}", "\u{1109}\u{1175}"),
    ("\u{110A}\u{1174}", "\u{110A}\u{1175}"),
    ("\u{110C}\u{1174}", "\u{110C}\u{1175}"),
    ("\u{110D}\u{1174}", "\u{110D}\u{1175}"),
    ("\u{110E}\u{1174}", "\u{110E}\u{1175}"),
    ("\u{110F}\u{1174}", "\u{110F}\u{1175}"),
    ("\u{1110}\u{1174}", "\u{1110}\u{1175}"),
    ("\u{1111}\u{1174}", "\u{1111}\u{1175}"),
    ("\u{1112}\u{1174}", "\u{1112}\u{1175}"),
    // josa_ui (not descriptive): drop the tag
    ("/J", ""),
];

const SPECIAL_BEFORE_BALB: &[(&str, &str)] = &[
    // rieulgiyeok: ㄺ/P + ㄱ/ㄲ → ㄹㄲ
    ("\u{11B0}/P\u{1100}", "\u{11AF}\u{1101}"),
    ("\u{11B0}/P\u{1101}", "\u{11AF}\u{1101}"),
    // rieulbieub: ㄼ/ㄾ/P + lenis → tense
    ("\u{11B2}/P\u{1100}", "\u{11B2}\u{1101}"),
    ("\u{11B4}/P\u{1100}", "\u{11B4}\u{1101}"),
    ("\u{11B2}/P\u{1103}", "\u{11B2}\u{1104}"),
    ("\u{11B4}/P\u{1103}", "\u{11B4}\u{1104}"),
    ("\u{11B2}/P\u{1109}", "\u{11B2}\u{110A}"),
    ("\u{11B4}/P\u{1109}", "\u{11B4}\u{110A}"),
    ("\u{11B2}/P\u{110C}", "\u{11B2}\u{110D}"),
    ("\u{11B4}/P\u{110C}", "\u{11B4}\u{110D}"),
    // verb_nieun: ㄴ/ㅁ/P + lenis → tense
    ("\u{11AB}/P\u{1100}", "\u{11AB}\u{1101}"),
    ("\u{11B7}/P\u{1100}", "\u{11B7}\u{1101}"),
    ("\u{11AB}/P\u{1103}", "\u{11AB}\u{1104}"),
    ("\u{11B7}/P\u{1103}", "\u{11B7}\u{1104}"),
    ("\u{11AB}/P\u{1109}", "\u{11AB}\u{110A}"),
    ("\u{11B7}/P\u{1109}", "\u{11B7}\u{110A}"),
    ("\u{11AB}/P\u{110C}", "\u{11AB}\u{110D}"),
    ("\u{11B7}/P\u{110C}", "\u{11B7}\u{110D}"),
    // verb_nieun: ㄵ/P → ㄴ + tense
    ("\u{11AC}/P\u{1100}", "\u{11AB}\u{1101}"),
    ("\u{11AC}/P\u{1103}", "\u{11AB}\u{1104}"),
    ("\u{11AC}/P\u{1109}", "\u{11AB}\u{110A}"),
    ("\u{11AC}/P\u{110C}", "\u{11AB}\u{110D}"),
    // verb_nieun: ㄻ/P → ㅁ + tense
    ("\u{11B1}/P\u{1100}", "\u{11B7}\u{1101}"),
    ("\u{11B1}/P\u{1103}", "\u{11B7}\u{1104}"),
    ("\u{11B1}/P\u{1109}", "\u{11B7}\u{110A}"),
    ("\u{11B1}/P\u{110C}", "\u{11B7}\u{110D}"),
];

const SPECIAL_AFTER_BALB: &[(&str, &str)] = &[
    // palatalize: ㄷ+이/여 → 지/져
    ("\u{11AE}\u{110B}\u{1175}", "\u{110C}\u{1175}"),
    ("\u{11AE}\u{110B}\u{1167}", "\u{110C}\u{1167}"),
    // palatalize: ㅌ+이/여 → 치/쳐
    ("\u{11C0}\u{110B}\u{1175}", "\u{110E}\u{1175}"),
    ("\u{11C0}\u{110B}\u{1167}", "\u{110E}\u{1167}"),
    // palatalize: ㄾ+이/여 → ㄹ치/ㄹ쳐
    ("\u{11B4}\u{110B}\u{1175}", "\u{11AF}\u{110E}\u{1175}"),
    ("\u{11B4}\u{110B}\u{1167}", "\u{11AF}\u{110E}\u{1167}"),
    // palatalize: ㄷ+히 → 치
    ("\u{11AE}\u{1112}\u{1175}", "\u{110E}\u{1175}"),
    // modifying_rieul: ㄹ/E + lenis → tense
    ("\u{11AF}/E \u{1100}", "\u{11AF} \u{1101}"),
    ("\u{11AF}/E \u{1103}", "\u{11AF} \u{1104}"),
    ("\u{11AF}/E \u{1107}", "\u{11AF} \u{1108}"),
    ("\u{11AF}/E \u{1109}", "\u{11AF} \u{110A}"),
    ("\u{11AF}/E \u{110C}", "\u{11AF} \u{110D}"),
    // modifying_rieul: ㄹ + 걸/밖에/세라/수록/지라도/지언정/진대 → tense
    ("\u{11AF}\u{1100}\u{1165}\u{11AF}", "\u{11AF}\u{1101}\u{1165}\u{11AF}"),
    ("\u{11AF}\u{1107}\u{1161}\u{11A9}\u{110B}\u{1166}", "\u{11AF}\u{1108}\u{1161}\u{1101}\u{1166}"),
    ("\u{11AF}\u{1109}\u{1166}\u{1105}\u{1161}", "\u{11AF}\u{110A}\u{1166}\u{1105}\u{1161}"),
    ("\u{11AF}\u{1109}\u{116E}\u{1105}\u{1169}\u{11A8}", "\u{11AF}\u{110A}\u{116E}\u{1105}\u{1169}\u{11A8}"),
    ("\u{11AF}\u{110C}\u{1175}\u{1105}\u{1161}\u{1103}\u{1169}", "\u{11AF}\u{110D}\u{1175}\u{1105}\u{1161}\u{1103}\u{1169}"),
    ("\u{11AF}\u{110C}\u{1175}\u{110B}\u{1165}\u{11AB}\u{110C}\u{1165}\u{11BC}", "\u{11AF}\u{110D}\u{1175}\u{110B}\u{1165}\u{11AB}\u{110C}\u{1165}\u{11BC}"),
    ("\u{11AF}\u{110C}\u{1175}\u{11AB}\u{1103}\u{1162}", "\u{11AF}\u{110D}\u{1175}\u{11AB}\u{1103}\u{1162}"),
];

/// One pass of `re.sub("([A])[B]C", r"\1R")` for single characters: `first`, one of `codas`,
/// then `onset` become `first` and `replacement`.
fn sub_class(text: &[char], firsts: &[char], codas: &[char], onset: char, replacement: char) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if i + 2 < text.len() && firsts.contains(&text[i]) && codas.contains(&text[i + 1]) && text[i + 2] == onset {
            out.extend([text[i], replacement]);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

const LEAD_G: char = '\u{1100}';
const LEAD_B: char = '\u{1107}';
const LEAD_N: char = '\u{1102}';
const LEAD_S: char = '\u{1109}';
const LEAD_NG: char = '\u{110B}';
const LEAD_H: char = '\u{1112}';
const VOWEL_A: char = '\u{1161}';
const VOWEL_EO: char = '\u{1165}';
const VOWEL_EU: char = '\u{1173}';
const VOWEL_U: char = '\u{116E}';
const TAIL_LB: char = '\u{11B2}';
const TAIL_B: char = '\u{11B8}';

/// g2pk2 `jamo` (rule 16). [quirk] Its patterns `([그])` and `([으])` are written with
/// decomposed jamo, so they are character classes: {ㄱ, ㅡ} and {ㅇ, ㅡ} followed by a coda and
/// an empty onset, not the syllables 그/으.
fn jamo_rules(text: Vec<char>) -> Vec<char> {
    let text = sub_class(&text, &[LEAD_G, VOWEL_EU], &['\u{11AE}'], LEAD_NG, LEAD_S);
    let text = sub_class(&text, &[LEAD_NG, VOWEL_EU], &['\u{11BD}', '\u{11BE}', '\u{11C0}', '\u{11C2}'], LEAD_NG, LEAD_S);
    let text = sub_class(&text, &[LEAD_NG, VOWEL_EU], &['\u{11BF}'], LEAD_NG, LEAD_G);
    sub_class(&text, &[LEAD_NG, VOWEL_EU], &['\u{11C1}'], LEAD_NG, LEAD_B)
}

/// g2pk2 `balb` (rule 10.1): 밟 before a consonant or at the end, and 넓 before 죽/둥-like
/// syllables, read their ㄼ as ㅂ.
fn balb(text: Vec<char>) -> Vec<char> {
    // `(바)ᆲ($|[^ᄋᄒ])`: the following character is consumed by the match.
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(&[LEAD_B, VOWEL_A, TAIL_LB]) {
            let next = text.get(i + 3).copied();
            let at_end = next.is_none() || (next == Some('\n') && i + 4 == text.len());
            if at_end || !matches!(next, Some(LEAD_NG | LEAD_H)) {
                out.extend([LEAD_B, VOWEL_A, TAIL_B]);
                i += 3;
                if !at_end {
                    out.extend(next);
                    i += 1;
                }
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    // `(너)ᆲ([ᄌᄍ]ᅮ|[ᄃᄄ]ᅮ)`
    let text = out;
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(&[LEAD_N, VOWEL_EO, TAIL_LB])
            && matches!(text.get(i + 3), Some('\u{110C}' | '\u{110D}' | '\u{1103}' | '\u{1104}'))
            && text.get(i + 4) == Some(&VOWEL_U)
        {
            out.extend([LEAD_N, VOWEL_EO, TAIL_B, text[i + 3], VOWEL_U]);
            i += 5;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}


/// `regular.py` link1, link2 (link3 is commented out upstream) and link4.
const LINKS: &[(&str, &str)] = &[
    // link1: a single coda moves to an empty (ㅇ) onset
    ("\u{11A8}\u{110B}", "\u{1100}"),
    ("\u{11A9}\u{110B}", "\u{1101}"),
    ("\u{11AB}\u{110B}", "\u{1102}"),
    ("\u{11AE}\u{110B}", "\u{1103}"),
    ("\u{11AF}\u{110B}", "\u{1105}"),
    ("\u{11B7}\u{110B}", "\u{1106}"),
    ("\u{11B8}\u{110B}", "\u{1107}"),
    ("\u{11BA}\u{110B}", "\u{1109}"),
    ("\u{11BB}\u{110B}", "\u{110A}"),
    ("\u{11BD}\u{110B}", "\u{110C}"),
    ("\u{11BE}\u{110B}", "\u{110E}"),
    ("\u{11BF}\u{110B}", "\u{110F}"),
    ("\u{11C0}\u{110B}", "\u{1110}"),
    ("\u{11C1}\u{110B}", "\u{1111}"),
    // link2: a double coda keeps its first part and moves the second
    ("\u{11AA}\u{110B}", "\u{11A8}\u{110A}"),
    ("\u{11AC}\u{110B}", "\u{11AB}\u{110C}"),
    ("\u{11B0}\u{110B}", "\u{11AF}\u{1100}"),
    ("\u{11B1}\u{110B}", "\u{11AF}\u{1106}"),
    ("\u{11B2}\u{110B}", "\u{11AF}\u{1107}"),
    ("\u{11B3}\u{110B}", "\u{11AF}\u{110A}"),
    ("\u{11B4}\u{110B}", "\u{11AF}\u{1110}"),
    ("\u{11B5}\u{110B}", "\u{11AF}\u{1111}"),
    ("\u{11B9}\u{110B}", "\u{11B8}\u{110A}"),
    // link4: ㅎ-final codas before an empty onset
    ("\u{11C2}\u{110B}", "\u{110B}"),
    ("\u{11AD}\u{110B}", "\u{1102}"),
    ("\u{11B6}\u{110B}", "\u{1105}"),
];

/// `re.sub("/[PJEB]", "", text)`.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek().is_some_and(|n| "PJEB".contains(*n)) {
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// g2pk2 `G2p()(text)`: Hangul spelled as pronounced.
pub fn g2p(text: &str, dict: &Dictionary) -> Result<String, Error> {
    let mut text = text.to_string();
    for (from, to) in idioms() {
        if text.contains(from.as_str()) {
            text = text.replace(from.as_str(), to);
        }
    }
    // [quirk] `convert_eng` only rewrites `[A-Za-z']+` words found in CMUdict; korean.py has
    // already spelled every Latin letter in Hangul, and no apostrophe-only word is in CMUdict,
    // so it never changes the text here.
    let annotated = annotate(&text, dict);
    let numbered = convert_num(&annotated)?;
    let text = replace_all(h2j(&numbered), SPECIAL_BEFORE_JAMO);
    let text = jamo_rules(text.chars().collect()).into_iter().collect();
    let text = replace_all(text, SPECIAL_BEFORE_BALB);
    let text = balb(text.chars().collect()).into_iter().collect();
    let text = replace_all(text, SPECIAL_AFTER_BALB);
    let mut chars: Vec<char> = strip_tags(&text).chars().collect();
    for rule in table() {
        if chars.contains(&rule.coda) {
            chars = apply_rule(&chars, rule);
        }
    }
    let linked = replace_all(chars.into_iter().collect(), LINKS);
    Ok(compose(&linked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idioms_are_literal_so_plain_replacement_is_re_sub() {
        assert!(idioms().len() > 100);
        for (from, to) in idioms() {
            assert!(!from.chars().any(|c| ".^$*+?{}[]|()\\".contains(c)), "{from}");
            assert!(!to.contains('\\'), "{to}");
        }
    }

    #[test]
    fn table_reads_like_parse_table() {
        let rules = table();
        // As many rules as g2pk2 parse_table() returns; malformed cells keep the part before "(".
        assert_eq!(rules.len(), 402);
        let lb_k: Vec<&str> =
            rules.iter().filter(|r| r.coda == '\u{11B2}' && r.onset == Some('\u{110F}')).map(|r| r.template.as_str()).collect();
        assert_eq!(lb_k, ["\u{11AF}\\1\u{110F}"]);
        // ㅀ before a non-word character: the template has no \1, so the character is dropped.
        let rh_end = rules.iter().find(|r| r.coda == '\u{11B6}' && r.onset.is_none()).unwrap();
        assert_eq!(apply_rule(&['\u{11B6}', '.', 'x'], rh_end), ['\u{11AF}', 'x']);
    }

    #[test]
    fn jamo_and_balb_classes() {
        // 디귿이: ㅡ + ㄷ + empty onset → ㅡ + ㅅ (the class [그] is {ㄱ, ㅡ}).
        let digeut: Vec<char> = h2j("귿이").chars().collect();
        assert_eq!(jamo_rules(digeut).into_iter().collect::<String>(), h2j("그시"));
        let balpda: Vec<char> = h2j("밟고").chars().collect();
        assert_eq!(balb(balpda).into_iter().collect::<String>(), h2j("밥고"));
        let balba: Vec<char> = h2j("밟아").chars().collect();
        assert_eq!(balb(balba.clone()), balba);
        assert_eq!(strip_tags("가/P나/X//B"), "가나/X/");
    }
}
