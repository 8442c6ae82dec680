//! gsv-server: GPT-SoVITS text-to-speech on MLX, served over HTTP and WebSocket.
//!
//! Dependency direction: `server → engine → {models, audio, text}`. Only the engine's inference
//! thread touches MLX objects; `server` never sees an `Array`.
pub mod bench;
pub mod device;
pub mod doctor;
pub mod models;
pub mod parity;
pub mod audio;
pub mod config;
pub mod engine;
pub mod server;
pub mod tts;

/// Structured logs to stderr: `RUST_LOG` filters (default `info`), JSON lines when `json`.
/// Safe to call more than once (later calls are no-ops).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
