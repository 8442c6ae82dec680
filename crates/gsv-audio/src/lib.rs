//! Reference-clip decoding and resampling for gsv-server: plain `Vec<f32>` work on the CPU with
//! no MLX, so the same code serves the server (`gsv_server::audio`) and the `reference_audio`
//! fuzz target (fuzz/), which builds this crate alone.
use std::path::PathBuf;

pub mod decode;
pub mod resample;

pub use decode::{decode_bytes, decode_bytes_limited, decode_file, decode_file_limited, DecodeLimits, DecodedAudio};
pub use resample::resample;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a clip could not be read or resampled.
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
