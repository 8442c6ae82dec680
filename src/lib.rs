//! gsv-server: GPT-SoVITS text-to-speech on MLX, served over HTTP and WebSocket.
//!
//! Dependency direction: `server → engine → {models, audio, text}`. Only the engine's inference
//! thread touches MLX objects; `server` never sees an `Array`.
pub mod bench;
pub mod device;
pub mod models;
pub mod parity;
pub mod audio;
pub mod config;
pub mod engine;
pub mod server;
pub mod tts;
