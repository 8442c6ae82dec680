//! The engine's one error type. `kind()` is what the server's status table reads; the message
//! names the offending input and is what a client sees for 4xx kinds (5xx details are logged only).
use thiserror::Error;

/// What went wrong, coarse enough to pick an HTTP status and a metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or out of range (text too long, bad language, bad clip, ...).
    InvalidInput,
    /// The request names a voice that is not configured (or failed to load).
    UnknownVoice,
    /// The job queue is full: retry later.
    Overloaded,
    /// The engine cannot take work: models missing, still loading, or the worker stopped.
    Unavailable,
    /// A bug or a backend failure (including a panic caught inside a job).
    Internal,
    /// The client went away; never rendered, only counted.
    Cancelled,
}

impl ErrorKind {
    /// The label used in JSON (`error_type`) and in metrics (`kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::UnknownVoice => "unknown_voice",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

/// Errors raised by the engine or by a [`crate::engine::Backend`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EngineError {
    #[error("{message}")]
    InvalidInput {
        message: String,
        /// The request field at fault, when there is one (`text`, `language`, `voice`, ...).
        param: Option<String>,
    },
    #[error("unknown voice `{0}`")]
    UnknownVoice(String),
    #[error("the synthesis queue is full ({capacity} jobs waiting); retry later")]
    Overloaded { capacity: usize },
    /// The admitted jobs' token budgets (worst-case work) already fill `engine.max_pending_tokens`.
    #[error("the engine has {held} semantic tokens of work admitted (limit {limit}); retry later or send shorter text")]
    OverBudget { held: usize, limit: usize },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error("the client disconnected")]
    Cancelled,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::InvalidInput { .. } => ErrorKind::InvalidInput,
            EngineError::UnknownVoice(_) => ErrorKind::UnknownVoice,
            EngineError::Overloaded { .. } | EngineError::OverBudget { .. } => ErrorKind::Overloaded,
            EngineError::Unavailable(_) => ErrorKind::Unavailable,
            EngineError::Internal(_) => ErrorKind::Internal,
            EngineError::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// An invalid-input error about one request field.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        EngineError::InvalidInput { message: message.into(), param: Some(param.to_string()) }
    }

    /// The request field at fault, if known.
    pub fn param(&self) -> Option<&str> {
        match self {
            EngineError::InvalidInput { param, .. } => param.as_deref(),
            EngineError::UnknownVoice(_) => Some("voice"),
            _ => None,
        }
    }
}
