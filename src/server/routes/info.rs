//! `/health`, `/metrics`.
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::engine::{ModelInfo, Readiness};
use crate::server::AppState;

/// `/health` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ready`, `loading`, `no_models` or `failed`.
    pub status: String,
    /// Why the server is not ready (absent when ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Missing model files (status `no_models`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// How to get the missing files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What the loaded model set cannot do (e.g. Chinese with a BERT narrower than the GPT
    /// expects); such requests are answered 400.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limitations: Vec<String>,
    pub voices: usize,
    /// The configured models with their SoVITS version and residency (`GET /v1/models` too).
    pub models: Vec<ModelInfo>,
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub active_jobs: usize,
    pub version: String,
}

/// Ready (200) once the models and voices are loaded; otherwise 503 saying what is missing.
#[utoipa::path(get, path = "/health", tag = "service",
    responses(
        (status = 200, description = "Ready to synthesize", body = Health),
        (status = 503, description = "Loading, models missing, or failed to load", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> Response {
    let s = state.engine.status();
    let (status, message, missing, hint) = match s.readiness {
        Readiness::Ready => ("ready", None, Vec::new(), None),
        Readiness::Loading { message } => ("loading", Some(message), Vec::new(), None),
        Readiness::NoModels { missing, hint } => {
            ("no_models", Some(format!("model files are missing: {}", missing.join(", "))), missing, Some(hint))
        }
        Readiness::Failed { message } => ("failed", Some(message), Vec::new(), None),
    };
    let body = Health {
        status: status.into(),
        message,
        missing,
        hint,
        limitations: s.limitations.clone(),
        voices: s.voices.len(),
        models: s.models,
        queue_depth: state.engine.queued(),
        queue_capacity: state.engine.queue_capacity(),
        active_jobs: state.engine.active_jobs(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let code = if status == "ready" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

/// Prometheus text exposition (`gsv_*` metrics).
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
