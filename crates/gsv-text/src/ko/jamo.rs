//! Hangul syllables and jamo as the `jamo` package (0.4.1) and g2pk2's `compose` handle them.
use std::collections::HashMap;
use std::sync::OnceLock;

const SYLLABLE_FIRST: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;
const LEAD_FIRST: u32 = 0x1100;
const VOWEL_FIRST: u32 = 0x1161;
/// Tail index 0 is "no tail"; tail 1 is U+11A8.
const TAIL_BASE: u32 = 0x11A7;

pub fn is_lead(c: char) -> bool {
    ('\u{1100}'..='\u{1112}').contains(&c)
}

pub fn is_vowel(c: char) -> bool {
    ('\u{1161}'..='\u{1175}').contains(&c)
}

pub fn is_tail(c: char) -> bool {
    ('\u{11A8}'..='\u{11C2}').contains(&c)
}

/// `jamo.h2j`: every precomposed syllable becomes its U+11xx lead, vowel and (optional) tail.
pub fn h2j(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for c in text.chars() {
        push_decomposed(&mut out, c);
    }
    out
}

fn push_decomposed(out: &mut String, c: char) {
    let cp = c as u32;
    if !(SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&cp) {
        out.push(c);
        return;
    }
    let index = cp - SYLLABLE_FIRST;
    let (lead, vowel, tail) = (index / 588, (index % 588) / 28, index % 28);
    out.extend(char::from_u32(LEAD_FIRST + lead));
    out.extend(char::from_u32(VOWEL_FIRST + vowel));
    if tail != 0 {
        out.extend(char::from_u32(TAIL_BASE + tail));
    }
}

/// `h2j(c)[-1]`: the last jamo of a syllable (the character itself otherwise).
pub fn last_jamo(c: char) -> char {
    let mut s = String::new();
    push_decomposed(&mut s, c);
    s.chars().last().unwrap_or(c)
}

fn compose_one(lead: char, vowel: char, tail: Option<char>) -> char {
    let l = lead as u32 - LEAD_FIRST;
    let v = vowel as u32 - VOWEL_FIRST;
    let t = tail.map_or(0, |t| t as u32 - TAIL_BASE);
    char::from_u32(SYLLABLE_FIRST + (l * 21 + v) * 28 + t).unwrap_or(lead)
}

/// g2pk2 `compose`: put the placeholder `ᄋ` before every vowel that no lead precedes, then
/// assemble lead+vowel+tail and lead+vowel sequences into syllables.
pub fn compose(letters: &str) -> String {
    let chars: Vec<char> = letters.chars().collect();
    // [quirk] `re.sub("(^|[^ᄀ-ᄒ])([ᅡ-ᅵ])", r"\1ᄋ\2")`: a match consumes the character before
    // the vowel, so of two orphan vowels in a row only the first gets a placeholder (unless
    // the string starts with them).
    let mut placed = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        if i == 0 && is_vowel(chars[0]) {
            placed.extend(['ᄋ', chars[0]]);
            i = 1;
        } else if !is_lead(chars[i]) && chars.get(i + 1).is_some_and(|&v| is_vowel(v)) {
            placed.extend([chars[i], 'ᄋ', chars[i + 1]]);
            i += 2;
        } else {
            placed.push(chars[i]);
            i += 1;
        }
    }
    let mut out = String::with_capacity(letters.len());
    let mut i = 0;
    while i < placed.len() {
        let c = placed[i];
        if is_lead(c) && placed.get(i + 1).is_some_and(|&v| is_vowel(v)) {
            let tail = placed.get(i + 2).copied().filter(|&t| is_tail(t));
            out.push(compose_one(c, placed[i + 1], tail));
            i += if tail.is_some() { 3 } else { 2 };
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn hcj_table() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("../../data/ko/jamo_to_hcj.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (a, b) = l.split_once('\t')?;
                let a = char::from_u32(u32::from_str_radix(a, 16).ok()?)?;
                let b = char::from_u32(u32::from_str_radix(b, 16).ok()?)?;
                Some((a, b))
            })
            .collect()
    })
}

/// `jamo.j2hcj`: U+11xx jamo to Hangul Compatibility Jamo (U+31xx); anything else unchanged.
pub fn j2hcj(text: &str) -> String {
    let table = hcj_table();
    text.chars().map(|c| table.get(&c).copied().unwrap_or(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompose_and_compose_round_trip() {
        let text = "값이 없어요, 안녕!";
        assert_eq!(compose(&h2j(text)), text);
        assert_eq!(h2j("닭"), "\u{1103}\u{1161}\u{11B0}");
        assert_eq!(j2hcj(&h2j("닭")), "ㄷㅏㄺ");
        assert_eq!(last_jamo('갈'), '\u{11AF}');
        assert_eq!(last_jamo('가'), '\u{1161}');
        assert_eq!(last_jamo('a'), 'a');
    }

    #[test]
    fn compose_places_lead_placeholders_like_g2pk2() {
        assert_eq!(compose("\u{1161}"), "아");
        assert_eq!(compose("\u{1161}\u{1161}"), "아\u{1161}");
        assert_eq!(compose("x\u{1161}\u{1161}\u{1161}"), "x아\u{1161}아");
        assert_eq!(compose("\u{1161}\u{1161}\u{1161}"), "아\u{1161}아");
    }
}
