//! ToJyutping 3.2.0's dictionary and its `get_jyutping_list`: greedy longest match over a trie
//! of words, one jyutping syllable per character.
//!
//! The data is ToJyutping's own `trie.txt` (BSD-2-Clause, `data/yue/LICENSE.ToJyutping`),
//! gzip-compressed, in its packed format: keys are runs of characters ≥ U+0100 (each run extends
//! the current node), values are pairs of characters in `!`..`z` encoding one syllable id as
//! `(a - 33) * 90 + (b - 33)`; `~` after a pair adds a syllable without advancing to the next
//! character; `{` descends into the node just read, `}` returns to its parent. A node may list
//! several pronunciations; the converter uses the first.
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::zh::gunzip;
use crate::Error;

const TRIE_GZ: &[u8] = include_bytes!("../../data/yue/tojyutping_trie.txt.gz");

const ONSETS: [&str; 20] =
    ["", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "ng", "gw", "kw", "w", "h", "z", "c", "s", "j"];
const NUCLEI: [&str; 6] = ["aa", "a", "e", "i", "o", "u"];
const CODAS: [&str; 9] = ["", "i", "u", "m", "n", "ng", "p", "t", "k"];
/// Rhymes outside the nucleus × coda grid, numbered from 54.
const RHYMES: [&str; 13] = ["oe", "oen", "oeng", "oet", "oek", "eoi", "eon", "eot", "yu", "yun", "yut", "m", "ng"];

/// `Jyutping(id).jyutping`: onset `id / 402`, rhyme `id % 402 / 6`, tone `id % 6 + 1`.
fn syllable(id: u16) -> Result<String, Error> {
    let id = id as usize;
    let onset = ONSETS.get(id / 402);
    let rhyme_id = id % 402 / 6;
    let rhyme = if rhyme_id >= 54 {
        RHYMES.get(rhyme_id - 54).map(|r| r.to_string())
    } else {
        NUCLEI.get(rhyme_id / 9).map(|n| format!("{n}{}", CODAS[rhyme_id % 9]))
    };
    match (onset, rhyme) {
        (Some(o), Some(r)) => Ok(format!("{o}{r}{}", id % 6 + 1)),
        _ => Err(Error::Invalid(format!("yue: bad jyutping id {id} in the ToJyutping data"))),
    }
}

/// Node path (the characters from the root) → syllables of its first pronunciation; `None`
/// for a node that only leads to longer words.
pub(crate) struct Trie {
    nodes: HashMap<String, Option<Vec<u16>>>,
}

fn parse(text: &str) -> Result<Trie, Error> {
    let s: Vec<char> = text.chars().collect();
    let bad = |i: usize| Error::Invalid(format!("yue: malformed ToJyutping trie at character {i}"));
    let at = |i: usize| s.get(i).copied().ok_or_else(|| bad(i));
    let mut nodes: HashMap<String, Option<Vec<u16>>> = HashMap::new();
    let mut stack: Vec<(String, usize)> = vec![(String::new(), 0)];
    let mut i = 1; // skip the opening `{` of the root
    while let Some((parent, depth)) = stack.last() {
        let (mut path, mut depth) = (parent.clone(), *depth);
        while at(i)? as u32 >= 256 {
            path.push(s[i]);
            nodes.entry(path.clone()).or_insert(None);
            i += 1;
            depth += 1;
        }
        let mut first: Option<Vec<u16>> = None;
        while (at(i)? as u32) < 123 {
            if depth == 0 {
                return Err(bad(i));
            }
            let mut done = 0;
            let mut value = Vec::new();
            while done < depth {
                let (a, b) = (at(i)? as u32, at(i + 1)? as u32);
                if !(33..123).contains(&a) || !(33..123).contains(&b) {
                    return Err(bad(i));
                }
                value.push(((a - 33) * 90 + (b - 33)) as u16);
                i += 2;
                if at(i)? == '~' {
                    i += 1;
                } else {
                    done += 1;
                }
            }
            first.get_or_insert(value);
        }
        if first.is_some() {
            nodes.insert(path.clone(), first);
        }
        match at(i)? {
            '{' => {
                i += 1;
                stack.push((path, depth));
            }
            '}' => {
                i += 1;
                stack.pop();
            }
            _ => {}
        }
    }
    Ok(Trie { nodes })
}

pub(crate) fn trie() -> Result<&'static Trie, Error> {
    static TRIE: OnceLock<Result<Trie, Error>> = OnceLock::new();
    TRIE.get_or_init(|| parse(&gunzip(TRIE_GZ, "tojyutping_trie.txt.gz")?)).as_ref().map_err(Clone::clone)
}

impl Trie {
    /// `ToJyutping.get_jyutping_list(text)`: per character, its syllable(s) or `None`. At each
    /// position the longest dictionary word wins; a single character with several syllables
    /// gives them space-separated.
    pub(crate) fn jyutping_list(&self, text: &str) -> Result<Vec<(char, Option<String>)>, Error> {
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let mut best: Option<(&Vec<u16>, usize)> = None;
            let mut key = String::new();
            for (j, &c) in chars.iter().enumerate().skip(i) {
                key.push(c);
                match self.nodes.get(&key) {
                    None => break,
                    Some(Some(value)) => best = Some((value, j)),
                    Some(None) => {}
                }
            }
            match best {
                Some((value, k)) if k > i => {
                    for (n, &c) in chars[i..=k].iter().enumerate() {
                        let id = value.get(n).ok_or_else(|| {
                            Error::Invalid(format!("yue: ToJyutping entry for {:?} is short", &chars[i..=k]))
                        })?;
                        out.push((c, Some(syllable(*id)?)));
                    }
                    i = k + 1;
                }
                other => {
                    let reading = match other {
                        Some((value, _)) => Some(value.iter().map(|&id| syllable(id)).collect::<Result<Vec<_>, _>>()?.join(" ")),
                        None => None,
                    };
                    out.push((chars[i], reading));
                    i += 1;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllable_ids_decode() {
        // id = tone + rhyme * 6 + onset * 402; "nei5": onset n (7), rhyme ei (e=2, i=1 → 19), tone 5.
        assert_eq!(syllable(4 + 19 * 6 + 7 * 402).expect("valid"), "nei5");
        // Rhyme 65 is the syllabic "m" (唔 m4).
        assert_eq!(syllable(3 + 65 * 6).expect("valid"), "m4");
        assert!(syllable(u16::MAX).is_err());
    }

    #[test]
    fn dictionary_words_and_characters() {
        let t = trie().expect("embedded data parses");
        let got = t.jyutping_list("香港人a").expect("converts");
        let readings: Vec<Option<&str>> = got.iter().map(|(_, r)| r.as_deref()).collect();
        assert_eq!(readings, vec![Some("hoeng1"), Some("gong2"), Some("jan4"), None]);
        // 行 reads hang4 alone but hong4 in 銀行.
        let got = t.jyutping_list("银行").expect("converts");
        assert_eq!(got[1].1.as_deref(), Some("hong4"));
        assert!(t.jyutping_list("").expect("empty").is_empty());
    }
}
