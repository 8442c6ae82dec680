//! upstream: text/cleaner.py::clean_text
use crate::{Error, Language, Version};

/// Output of one language module.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cleaned {
    pub norm_text: String,
    /// Phone symbols (after the `UNK` substitution for symbols missing from the table).
    pub phones: Vec<String>,
    /// zh/yue: one count per character of `norm_text`; other languages: `None`.
    pub word2ph: Option<Vec<usize>>,
}

pub fn clean_text(text: &str, language: Language, version: Version) -> Result<Cleaned, Error> {
    match language {
        Language::Zh => crate::zh::clean(text, version),
        Language::En => crate::en::clean(text, version),
        Language::Ko => crate::ko::clean(text, version),
        other => Err(Error::UnsupportedLanguage(format!("{other:?}").to_lowercase())),
    }
}
