#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Upstream raises `ValueError: Please enter valid text.` for input with nothing to speak.
    #[error("Please enter valid text.")]
    EmptyText,
    #[error("language `{0}` is not supported by the text frontend yet")]
    UnsupportedLanguage(String),
    #[error("{0}")]
    Invalid(String),
    /// A data file the language needs (e.g. the Korean MeCab dictionary) is missing or broken.
    #[error("{0}")]
    Unavailable(String),
}
