//! The server's reference-audio decoding (`src/audio/decode.rs`) and resampling
//! (`src/audio/resample.rs`), compiled here from the server's own files so the fuzzer does not
//! need MLX. Only the error type is this harness's: the server's also wraps MLX errors.
use std::path::PathBuf;

#[path = "../../src/audio/decode.rs"]
pub mod decode;
#[path = "../../src/audio/resample.rs"]
pub mod resample;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The variants `decode` and `resample` raise (same shape as the server's `audio::Error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("could not decode audio {source_name}: {message}")]
    Decode { source_name: String, message: String },
    #[error("audio {source_name} contains no samples")]
    Empty { source_name: String },
    #[error("resampling {from} Hz to {to} Hz failed: {message}")]
    Resample { from: u32, to: u32, message: String },
}
