//! MLX networks: Arrays in, Arrays out. No tokio, axum or serde_json on the hot path.
//!
//! One file per upstream network; `weights` is the only place that reads files and maps names.
pub mod cuda_kernel;
pub mod error;
pub mod graph;
pub mod layers;
pub mod weights;

pub use error::{Error, Result};

/// Whether MLX's default device is a GPU (where per-op overhead dominates and the CPU-oriented
/// rewrites are not the fast forms).
pub fn default_device_is_gpu() -> bool {
    mlx_rs::Device::try_default().and_then(|d| d.get_type()).is_ok_and(|t| matches!(t, mlx_rs::DeviceType::Gpu))
}

pub mod bert;
pub mod gpt;
pub mod hubert;
pub mod sovits;
pub mod sv;
