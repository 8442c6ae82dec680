//! The pronunciation dictionaries of upstream `english.py` (`get_dict`, `get_namedict`,
//! `en_G2p.__init__`) and g2p_en's homograph table.
//!
//! The data files are embedded with `include_str!` and parsed once, lazily, into maps whose
//! keys and values borrow the embedded text, so building the 270k-entry CMU map allocates
//! nothing per entry. Upstream lower-cases the CMU keys; here they stay as written (all
//! upper-case, checked by a test) and lookups upper-case the query instead, which is the
//! same for the ASCII words the tokenizer produces.
use std::collections::HashMap;
use std::sync::LazyLock;

const CMUDICT: &str = include_str!("../../data/cmudict.rep");
const CMUDICT_FAST: &str = include_str!("../../data/cmudict-fast.rep");
const ENGDICT_HOT: &str = include_str!("../../data/engdict-hot.rep");
const NAMEDICT: &str = include_str!("../../data/namedict.tsv");
const HOMOGRAPHS: &str = include_str!("../../data/en/homographs.en");

/// A pronunciation: phone symbols separated by single spaces, exactly as upstream's
/// `str.split(" ")` would cut them (empty pieces included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pron(&'static str);

impl Pron {
    pub(crate) fn phones(self) -> impl Iterator<Item = &'static str> {
        self.0.split(' ')
    }
}

/// Upstream `read_dict_new()` + `hot_reload_hot()` minus the deleted keys.
static CMU: LazyLock<HashMap<&'static str, Pron>> = LazyLock::new(build_cmu);

/// Upstream `namedict_cache.pickle`, exported as `namedict.tsv`.
static NAMES: LazyLock<HashMap<&'static str, Pron>> = LazyLock::new(|| {
    let mut map = HashMap::with_capacity(20_000);
    for line in NAMEDICT.lines() {
        if let Some((word, pron)) = line.split_once('\t') {
            map.insert(word, Pron(pron));
        }
    }
    map
});

/// g2p_en's `homographs.en` with GPT-SoVITS's overrides of `read` and `complex`.
static HOMOGRAPHS_MAP: LazyLock<HashMap<String, Homograph>> = LazyLock::new(build_homographs);

/// One homograph entry: `pron1` when the POS tag matches `pos1`, else `pron2`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Homograph {
    pub(crate) pron1: Pron,
    pub(crate) pron2: Pron,
    pub(crate) pos1: &'static str,
}

/// Python `str.strip()` for these ASCII data files.
fn py_strip(line: &str) -> &str {
    line.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

fn build_cmu() -> HashMap<&'static str, Pron> {
    let mut map: HashMap<&'static str, Pron> = HashMap::with_capacity(300_000);
    // cmudict.rep: entries from line 57 on, `WORD  PH PH ...`; later duplicates win.
    for line in CMUDICT.lines().skip(56) {
        let line = py_strip(line);
        let mut parts = line.split("  ");
        let word = parts.next().unwrap_or_default();
        // [quirk] upstream takes the piece between the first and a possible second double space.
        if let Some(pron) = parts.next() {
            map.insert(word, Pron(pron));
        }
    }
    // cmudict-fast.rep: `WORD PH PH ...`, only words not yet present.
    for line in CMUDICT_FAST.lines() {
        let line = py_strip(line);
        let (word, pron) = line.split_once(' ').unwrap_or((line, ""));
        map.entry(word).or_insert(Pron(pron));
    }
    // engdict-hot.rep: overrides.
    for line in ENGDICT_HOT.lines() {
        let line = py_strip(line);
        let (word, pron) = line.split_once(' ').unwrap_or((line, ""));
        map.insert(word, Pron(pron));
    }
    // Upstream deletes these abbreviations so that they are spelled out letter by letter.
    for word in ["AE", "AI", "AR", "IOS", "HUD", "OS"] {
        map.remove(word);
    }
    map
}

fn build_homographs() -> HashMap<String, Homograph> {
    let mut map = HashMap::with_capacity(400);
    for line in HOMOGRAPHS.lines() {
        if line.starts_with('#') {
            continue;
        }
        let fields: Vec<&'static str> = line.trim().split('|').collect();
        if let [head, pron1, pron2, pos1] = fields[..] {
            let entry = Homograph {
                pron1: Pron(pron1),
                pron2: Pron(pron2),
                pos1,
            };
            map.insert(head.to_lowercase(), entry);
        }
    }
    // GPT-SoVITS's corrections (`en_G2p.__init__`).
    map.insert(
        "read".into(),
        Homograph {
            pron1: Pron("R IY1 D"),
            pron2: Pron("R EH1 D"),
            pos1: "VBP",
        },
    );
    map.insert(
        "complex".into(),
        Homograph {
            pron1: Pron("K AH0 M P L EH1 K S"),
            pron2: Pron("K AA1 M P L EH0 K S"),
            pos1: "JJ",
        },
    );
    map
}

/// CMU lookup (upstream `self.cmu[word.lower()][0]`).
pub(crate) fn cmu(word: &str) -> Option<Pron> {
    CMU.get(word.to_uppercase().as_str()).copied()
}

/// Name-dictionary lookup, `word` already lower-cased.
pub(crate) fn name(word: &str) -> Option<Pron> {
    NAMES.get(word).copied()
}

pub(crate) fn homograph(word: &str) -> Option<Homograph> {
    HOMOGRAPHS_MAP.get(word).copied()
}

/// Forces the lazy dictionaries to load (server start-up warm-up).
pub(crate) fn warm_up() {
    LazyLock::force(&CMU);
    LazyLock::force(&NAMES);
    LazyLock::force(&HOMOGRAPHS_MAP);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones(p: Pron) -> Vec<&'static str> {
        p.phones().collect()
    }

    #[test]
    fn dictionary_sources_and_overrides() {
        assert_eq!(
            phones(cmu("hello").expect("hello")),
            ["HH", "AH0", "L", "OW1"]
        );
        // From cmudict-fast only.
        assert!(cmu("adblock").is_some());
        // Hot dictionary override.
        assert_eq!(
            phones(cmu("conda").expect("conda")),
            ["K", "AA1", "N", "D", "AH0"]
        );
        for deleted in ["ae", "ai", "ar", "ios", "hud", "os"] {
            assert!(cmu(deleted).is_none(), "{deleted} must be deleted");
        }
        assert_eq!(
            phones(name("kavya").expect("kavya")),
            ["K", "AA1", "V", "Y", "AH0"]
        );
        let read = homograph("read").expect("read");
        assert_eq!(read.pos1, "VBP");
    }

    #[test]
    fn cmu_keys_are_upper_case_so_upper_casing_the_query_equals_lower_casing_the_keys() {
        for key in CMU.keys() {
            assert_eq!(key.to_lowercase().to_uppercase(), *key, "key {key:?}");
        }
    }
}
