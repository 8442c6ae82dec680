//! MLX networks: Arrays in, Arrays out. No tokio, axum or serde_json on the hot path.
//!
//! One file per upstream network; `weights` is the only place that reads files and maps names.
pub mod error;
pub mod layers;
pub mod weights;

pub use error::{Error, Result};

pub mod bert;
pub mod gpt;
pub mod gpt_bench;
pub mod gpt_decode;
pub mod gpt_step;
pub mod gpt_step_bench;
pub mod hubert;
pub mod kv_cache;
pub mod sampling;
pub mod sovits;
pub mod sv;
