//! The GPT stage, `Text2SemanticDecoder` (upstream `GPT_SoVITS/AR/models/t2s_model.py`, spec §5):
//! phones + BERT features + prompt semantic tokens → semantic tokens.
//!
//! - `config`: the dimensions read from the checkpoint;
//! - `model`: the network, its loading and its eager forward passes;
//! - `cache`: the per-layer key/value buffers;
//! - `step`: the decode step as one compiled graph over whole cache buffers;
//! - `fused`: the same step with custom CUDA kernels (fewer graph nodes per layer);
//! - `gemv`: its matrix-vector kernels for a few rows;
//! - `layer_kernel`: a whole layer of that step as one grid-synchronised kernel;
//! - `sampling`: upstream's sampler on the device;
//! - `sampler_kernel`: the same sampler as one custom CUDA kernel (with the fused step);
//! - `decode`: the batched, pipelined decode loop with upstream's stop rules.
pub mod cache;
pub mod config;
pub mod decode;
pub mod fused;
pub mod gemv;
pub mod layer_kernel;
pub mod model;
pub mod sampler_kernel;
pub mod sampling;
pub mod step;

pub use config::GptConfig;
pub use model::{prefix_lm_keep, sine_rows, Block, PromptPassTrace, Text2SemanticDecoder};
