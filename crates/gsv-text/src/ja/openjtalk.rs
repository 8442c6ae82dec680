//! OpenJTalk's front end as pyopenjtalk 0.4.1 runs it (`run_frontend` + `make_label`):
//! `text2mecab` → MeCab with naist-jdic → `mecab2njd` → NJD rules (`set_pronunciation`,
//! `set_digit`, `set_accent_phrase`, `set_accent_type`, `set_unvoiced_vowel`;
//! `set_long_vowel` is a no-op in OpenJTalk 1.11) → `njd2jpcommon` → full-context labels.
//!
//! MeCab is [`crate::mecab`] (MeCab's own algorithm on the compiled dictionary); `text2mecab`,
//! the NJD rules and JPCommon are the `jpreprocess` crates (a Rust port of OpenJTalk), fed
//! with the dictionary's feature strings exactly as `mecab2njd` receives them; the accent-type
//! rule is our own ([`super::accent_type`]), where jpreprocess departs from OpenJTalk.
use std::path::Path;

use jpreprocess_core::word_entry::WordEntry;
use jpreprocess_njd::{accent_phrase, digit, digit_sequence, pronunciation, unvoiced_vowel, NJDNode, NJD};

use crate::mecab::Dictionary;
use crate::Error;

/// Number of fields of a naist-jdic (OpenJTalk) feature string: pos, pos_group1..3, ctype,
/// cform, orig, read, pron, acc/mora_size, chain_rule (`chain_flag` is added by NJD).
const FEATURE_FIELDS: usize = 12;
const CHAIN_RULE: usize = 10;

/// A loaded OpenJTalk dictionary; immutable, shared by every thread.
pub struct OpenJtalk {
    dict: Dictionary,
}

impl OpenJtalk {
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let dict = Dictionary::open(dir).map_err(|e| {
            Error::Unavailable(format!(
                "Japanese needs OpenJTalk's naist-jdic (open_jtalk_dic_utf_8-1.11) at {} \
                 (scripts/setup.sh installs Debian's open-jtalk-mecab-naist-jdic; set {} or \
                 text.ja_dictionary): {e}",
                dir.display(),
                super::DICTIONARY_ENV
            ))
        })?;
        Ok(Self { dict })
    }

    /// `pyopenjtalk.make_label(pyopenjtalk.run_frontend(text))`.
    pub fn labels(&self, text: &str) -> Result<Vec<String>, Error> {
        let njd = self.run_frontend(text)?;
        Ok(jpreprocess_jpcommon::njdnodes_to_features(&njd.nodes).iter().map(ToString::to_string).collect())
    }

    /// The NJD nodes after OpenJTalk's rules (pyopenjtalk's `run_frontend`), one CSV line each,
    /// in jpreprocess' notation: for inspecting an analysis next to pyopenjtalk's.
    pub fn njd_features(&self, text: &str) -> Result<Vec<String>, Error> {
        Ok(self.run_frontend(text)?.into())
    }

    /// `text2mecab` + `Mecab_analysis` + `mecab2njd` + the NJD rules.
    fn run_frontend(&self, text: &str) -> Result<NJD, Error> {
        let mecab_input = jpreprocess::normalize_text_for_naist_jdic(text);
        let mut nodes = Vec::new();
        for morpheme in self.dict.analyse(&mecab_input) {
            let mut details: Vec<&str> = morpheme.feature.split(',').collect();
            details.resize(FEATURE_FIELDS, "");
            let chain_rule = super::accent_type::chain_rule_field(details[CHAIN_RULE]);
            details[CHAIN_RULE] = &chain_rule;
            let entry = WordEntry::load(&details).map_err(|e| {
                Error::Invalid(format!("naist-jdic entry `{},{}`: {e}", morpheme.surface, morpheme.feature))
            })?;
            nodes.extend(NJDNode::load(&morpheme.surface, &entry));
        }
        let mut njd = NJD { nodes };
        pronunciation::njd_set_pronunciation(&mut njd);
        digit_sequence::njd_digit_sequence(&mut njd);
        digit::njd_set_digit(&mut njd);
        accent_phrase::njd_set_accent_phrase(&mut njd);
        super::accent_type::njd_set_accent_type(&mut njd);
        unvoiced_vowel::njd_set_unvoiced_vowel(&mut njd);
        Ok(njd)
    }
}
