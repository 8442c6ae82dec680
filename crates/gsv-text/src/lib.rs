//! GPT-SoVITS text frontend in pure Rust: normalisation, G2P, sentence splitting, symbol ids —
//! phone for phone what upstream (`GPT_SoVITS/text`, `TTS_infer_pack/TextPreprocessor.py`) produces.
//!
//! Module ownership (one home per concern):
//! - `symbols`: symbol tables v1/v2 and `cleaned_text_to_sequence`.
//! - `split`: cut0..cut5, punctuation collapsing, short-segment merging, prompt-text rule.
//! - `langseg`: splitting mixed text into language parts for the zh/en/all_zh modes.
//! - `cleaner`: `clean_text` — dispatch to one language module.
//! - `zh`: Chinese normalisation and G2P (pypinyin path of upstream `chinese2`/`chinese`).
//! - `en`: English normalisation and G2P (dictionaries + g2p_en's neural model).
//! - `ko`: Korean G2P (korean.py on g2pk2), on `mecab` with mecab-ko-dic.
//! - `mecab`: a pure-Rust MeCab (compiled dictionary reader + lattice/Viterbi analysis).
//! - `preprocess`: the one entry point the pipeline uses: (text, language, version) → segments.
//! - `check`: runs a corpus file in the fixture record format and reports match rates.

pub mod check;
pub mod cleaner;
pub mod en;
pub mod error;
pub mod ko;
pub mod langseg;
pub mod mecab;
pub mod preprocess;
pub mod split;
pub mod symbols;
pub mod zh;

pub use cleaner::{clean_text, Cleaned};
pub use error::Error;

/// Which symbol table / language modules to use (upstream `version`; v2Pro etc. use v2's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
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
pub use check::{run_check, CheckReport};
