//! MLX networks: Arrays in, Arrays out. No tokio, axum or serde_json on the hot path.
//!
//! One file per upstream network; `weights` is the only place that reads files and maps names.
pub mod cuda_kernel;
pub mod error;
pub mod graph;
pub mod layers;
pub mod weights;

pub use error::{Error, Result};

pub mod bert;
pub mod gpt;
pub mod hubert;
pub mod sovits;
