//! Chinese: upstream text/chinese2.py (v2) and text/chinese.py (v1), pypinyin path.
use crate::{Cleaned, Error, Version};

pub fn clean(_text: &str, _version: Version) -> Result<Cleaned, Error> {
    Err(Error::UnsupportedLanguage("zh".into()))
}
