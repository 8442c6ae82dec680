//! English: upstream text/english.py (g2p_en based).
use crate::{Cleaned, Error, Version};

pub fn clean(_text: &str, _version: Version) -> Result<Cleaned, Error> {
    Err(Error::UnsupportedLanguage("en".into()))
}
