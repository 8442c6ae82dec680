use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Mlx(#[from] mlx_rs::error::Exception),
    #[error("{path}: {source}")]
    Archive {
        path: PathBuf,
        #[source]
        source: torch_archive::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{source_name}: weights do not match the model:{details}")]
    Keys { source_name: String, details: String },
    #[error("{source_name}: bad config: {message}")]
    Config { source_name: String, message: String },
    #[error("{0}")]
    Invalid(String),
}
