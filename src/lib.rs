//! gsv-server: GPT-SoVITS text-to-speech on MLX.
pub mod device;
