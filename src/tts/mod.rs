//! The TTS pipeline over the models: voices, text → GPT tokens → waveform, chunked streaming.
//!
//! Everything here runs on the engine's inference thread: it owns MLX objects and is driven one
//! decode step at a time ([`Pipeline::step`]).
pub mod chunker;
pub mod models;
pub mod pipeline;
pub mod voice;
pub mod warmup;

pub use chunker::ChunkPlan;
pub use models::{ModelFiles, Models, SharedNets};
pub use pipeline::{Delivery, Event, JobId, Pipeline, Request, Stats};
pub use voice::{Clip, Voice, VoiceSource};

/// Why a voice or a job failed; `InvalidInput` is the caller's fault, the rest are not.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<gsv_text::Error> for TtsError {
    fn from(e: gsv_text::Error) -> Self {
        match e {
            gsv_text::Error::UnsupportedLanguage(_) => TtsError::InvalidInput(e.to_string()),
            // A frontend resource the server lacks (a dictionary, the language identifier model).
            gsv_text::Error::Unavailable(_) => TtsError::Unavailable(e.to_string()),
            _ => TtsError::InvalidInput(e.to_string()),
        }
    }
}

impl From<crate::audio::Error> for TtsError {
    fn from(e: crate::audio::Error) -> Self {
        // Every audio error comes from the clip the user gave (undecodable, too short/long, …).
        TtsError::InvalidInput(e.to_string())
    }
}

impl From<crate::models::Error> for TtsError {
    fn from(e: crate::models::Error) -> Self {
        match e {
            crate::models::Error::Invalid(m) => TtsError::InvalidInput(m),
            other => TtsError::Internal(other.to_string()),
        }
    }
}

impl From<mlx_rs::error::Exception> for TtsError {
    fn from(e: mlx_rs::error::Exception) -> Self {
        TtsError::Internal(e.to_string())
    }
}
