//! `GET/POST /tts`: the upstream GPT-SoVITS `api_v2.py` contract (spec §8.1), so existing clients
//! work unchanged. Differences, all documented in docs/api.md: `ref_audio_path` must be a
//! configured voice's clip or a file under `[upstream] allowed_ref_dirs` (never an arbitrary
//! file); `ogg` is Ogg Opus (upstream: Ogg Vorbis); `aac` is refused (no encoder); errors use the
//! real status instead of returning silence with 200.
use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::audio::encode::AudioFormat;
use crate::engine::{Chunking, ModelInfo, WeightsChange, SAMPLE_RATE};
use crate::server::error::{ApiError, AppJson, AppQuery};
use crate::server::params::{build_job, check_language, upstream_voice, RawParams};
use crate::server::{respond, AppState};

/// api_v2 `TTS_Request` (query string for GET, JSON for POST). Unknown fields are ignored, as
/// upstream does.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpstreamRequest {
    /// Text to speak (required).
    pub text: Option<String>,
    /// Language of `text` (required): auto, auto_yue, en, zh, ja, yue, ko, all_zh, all_ja, all_yue, all_ko.
    pub text_lang: Option<String>,
    /// Reference clip (required): a configured voice's clip, or a file under `[upstream] allowed_ref_dirs`.
    pub ref_audio_path: Option<String>,
    /// Not supported (several references): must be empty.
    #[param(value_type = Option<Vec<String>>)]
    pub aux_ref_audio_paths: Option<Vec<String>>,
    /// Transcript of the reference clip ("" = reference-free mode).
    pub prompt_text: Option<String>,
    /// Language of `prompt_text` (required).
    pub prompt_lang: Option<String>,
    pub top_k: Option<i64>,
    pub top_p: Option<f32>,
    pub temperature: Option<f32>,
    /// cut0..cut5 (default cut5).
    pub text_split_method: Option<String>,
    pub batch_size: Option<i64>,
    /// Accepted for compatibility; bucketing is the engine's business.
    pub batch_threshold: Option<f32>,
    /// Accepted for compatibility.
    pub split_bucket: Option<bool>,
    pub speed_factor: Option<f32>,
    pub fragment_interval: Option<f32>,
    /// -1 = random.
    pub seed: Option<i64>,
    /// wav (default), raw, ogg (Ogg Opus), mp3, flac. `aac` is refused.
    pub media_type: Option<String>,
    /// 0/false: whole file; 1/true: one chunk per sentence; 2: token chunks at silences; 3: fixed token chunks.
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<String>)]
    pub streaming_mode: Option<StreamingMode>,
    /// Accepted for compatibility (the engine always batches across requests).
    pub parallel_infer: Option<bool>,
    pub repetition_penalty: Option<f32>,
    /// v3/v4 only; accepted and ignored.
    pub sample_steps: Option<i64>,
    /// v3 only; accepted and ignored.
    pub super_sampling: Option<bool>,
    /// Semantic-token overlap between streamed chunks (default 2).
    pub overlap_length: Option<i64>,
    /// Minimum semantic tokens per streamed chunk (default 16).
    pub min_chunk_length: Option<i64>,
}

/// `streaming_mode` as upstream accepts it: a bool, an int, or (query strings) their text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StreamingMode {
    Bool(bool),
    Int(i64),
    Text(String),
}

impl StreamingMode {
    fn level(&self) -> Option<u8> {
        match self {
            StreamingMode::Bool(b) => Some(u8::from(*b)),
            StreamingMode::Int(i @ 0..=3) => Some(*i as u8),
            StreamingMode::Int(_) => None,
            StreamingMode::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "false" => Some(0),
                "true" => Some(1),
                s => s.parse::<u8>().ok().filter(|v| *v <= 3),
            },
        }
    }
}

/// Upstream-compatible synthesis (query string).
#[utoipa::path(get, path = "/tts", tag = "upstream", params(UpstreamRequest),
    responses(
        (status = 200, description = "Audio (`audio/wav`, raw PCM, `audio/ogg`, ...)", content(("audio/wav"), ("audio/pcm"), ("audio/ogg"))),
        (status = 400, description = "Invalid request", body = crate::server::error::UpstreamErrorResponse,
            example = json!({"message": "text_lang is required", "error_type": "invalid_input"})),
        (status = 429, description = "Queue full", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn tts_get(State(state): State<AppState>, AppQuery(req): AppQuery<UpstreamRequest>) -> Result<Response, ApiError> {
    run(state, req).await
}

/// Upstream-compatible synthesis (JSON body).
#[utoipa::path(post, path = "/tts", tag = "upstream", request_body = UpstreamRequest,
    responses(
        (status = 200, description = "Audio", content(("audio/wav"), ("audio/pcm"), ("audio/ogg"))),
        (status = 400, description = "Invalid request", body = crate::server::error::UpstreamErrorResponse),
        (status = 429, description = "Queue full", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn tts_post(State(state): State<AppState>, AppJson(req): AppJson<UpstreamRequest>) -> Result<Response, ApiError> {
    run(state, req).await
}

fn required(v: Option<String>, name: &str) -> Result<String, ApiError> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::invalid(name, format!("{name} is required"))),
    }
}

async fn run(state: AppState, req: UpstreamRequest) -> Result<Response, ApiError> {
    let text = required(req.text, "text")?;
    let text_lang = required(req.text_lang, "text_lang")?.to_ascii_lowercase();
    let ref_audio_path = required(req.ref_audio_path, "ref_audio_path")?;
    let prompt_lang = required(req.prompt_lang, "prompt_lang")?.to_ascii_lowercase();
    check_language("text_lang", &text_lang)?;
    check_language("prompt_lang", &prompt_lang)?;
    if req.aux_ref_audio_paths.as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(ApiError::invalid("aux_ref_audio_paths", "aux_ref_audio_paths is not supported by this server"));
    }
    let media = req.media_type.unwrap_or_else(|| "wav".into()).to_ascii_lowercase();
    let format = AudioFormat::parse(&media).ok_or_else(|| {
        ApiError::invalid("media_type", format!("media_type {media} is not supported (supported: wav, raw, ogg, mp3, flac)"))
    })?;
    let level = match &req.streaming_mode {
        None => 0,
        Some(m) => m.level().ok_or_else(|| {
            ApiError::invalid("streaming_mode", "the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)")
        })?,
    };
    let min_tokens = req.min_chunk_length.unwrap_or(state.settings.defaults.stream_chunk_tokens as i64);
    if !(1..=256).contains(&min_tokens) {
        return Err(ApiError::invalid("min_chunk_length", "min_chunk_length must be between 1 and 256"));
    }
    let overlap = req.overlap_length.unwrap_or(2);
    if !(0..=16).contains(&overlap) {
        return Err(ApiError::invalid("overlap_length", "overlap_length must be between 0 and 16"));
    }
    let chunking = match level {
        0 | 1 => Chunking::Sentence,
        // Upstream's first chunk waits for min_chunk_length tokens too.
        l => Chunking::Tokens { first_tokens: min_tokens as usize, min_tokens: min_tokens as usize, overlap: overlap as usize, fixed_length: l == 3 },
    };
    let prompt_text = req.prompt_text.unwrap_or_default();
    let voice = upstream_voice(&state.settings, &ref_audio_path, &prompt_text, &prompt_lang)?;
    let raw = RawParams {
        model: None,
        text,
        language: Some(text_lang),
        voice: Some(voice),
        top_k: req.top_k,
        top_p: req.top_p,
        temperature: req.temperature,
        repetition_penalty: req.repetition_penalty,
        seed: req.seed,
        speed: req.speed_factor,
        text_split_method: req.text_split_method,
        batch_size: req.batch_size,
        fragment_interval: req.fragment_interval,
        chunking: Some(chunking),
    };
    let job = build_job(&state.settings, raw).map_err(|e| e.rename_param("speed", "speed_factor").rename_param("language", "text_lang"))?;
    let seed = job.sampling.seed;
    let span = tracing::info_span!("job", route = "upstream", chars = job.text.chars().count(), seed);
    let started = respond::started(state.engine.submit(job, span)?).await?;
    if level == 0 {
        respond::file_response(started, format, SAMPLE_RATE, seed).await
    } else {
        respond::stream_response(started, format, SAMPLE_RATE, seed)
    }
}

/// `/set_gpt_weights` and `/set_sovits_weights` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WeightsQuery {
    /// A configured model's file, or a file under `[upstream] allowed_weight_dirs`.
    pub weights_path: Option<String>,
}

/// Answer of a weights change (upstream's `{"message": "success"}`, plus the default model now).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WeightsChanged {
    pub message: String,
    pub model: ModelInfo,
}

/// Loads a new GPT for the default model (upstream api_v2). Requests already running finish with
/// the weights they started with; other configured models are not affected.
#[utoipa::path(get, path = "/set_gpt_weights", tag = "upstream", params(WeightsQuery),
    responses(
        (status = 200, description = "The default model now uses these weights", body = WeightsChanged),
        (status = 400, description = "Path not allowed, or the file cannot be loaded (the reason is given)", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn set_gpt_weights(State(state): State<AppState>, AppQuery(q): AppQuery<WeightsQuery>) -> Result<Json<WeightsChanged>, ApiError> {
    let path = allowed_weights(&state, q.weights_path)?;
    set_weights(&state, WeightsChange { gpt: Some(path), sovits: None }).await
}

/// Loads a new SoVITS for the default model (upstream api_v2); see `/set_gpt_weights`.
#[utoipa::path(get, path = "/set_sovits_weights", tag = "upstream", params(WeightsQuery),
    responses(
        (status = 200, description = "The default model now uses these weights", body = WeightsChanged),
        (status = 400, description = "Path not allowed, or the file cannot be loaded (v3/v4, truncated, ...: the reason is given)", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn set_sovits_weights(State(state): State<AppState>, AppQuery(q): AppQuery<WeightsQuery>) -> Result<Json<WeightsChanged>, ApiError> {
    let path = allowed_weights(&state, q.weights_path)?;
    set_weights(&state, WeightsChange { gpt: None, sovits: Some(path) }).await
}

async fn set_weights(state: &AppState, change: WeightsChange) -> Result<Json<WeightsChanged>, ApiError> {
    let model = state.engine.set_weights(change).await?;
    Ok(Json(WeightsChanged { message: "success".into(), model }))
}

/// `weights_path` resolved to a file the server may load: a configured model's GPT/SoVITS file
/// or a file under `[upstream] allowed_weight_dirs`. Anything else (or a path that does not
/// exist) gets the same answer, so the route cannot probe the file system.
fn allowed_weights(state: &AppState, weights_path: Option<String>) -> Result<PathBuf, ApiError> {
    let requested = required(weights_path, "weights_path")?;
    let refused = || {
        ApiError::invalid(
            "weights_path",
            format!("`weights_path` `{requested}` is not a configured model file or a file under an allowed directory ([upstream] allowed_weight_dirs)"),
        )
    };
    let canon = Path::new(&requested).canonicalize().map_err(|_| refused())?;
    if !canon.is_file() {
        return Err(refused());
    }
    let canonical = |p: &Path| p.canonicalize().ok();
    let configured = state
        .settings
        .model_specs()
        .unwrap_or_default()
        .iter()
        .flat_map(|m| [canonical(&m.gpt), canonical(&m.sovits)])
        .any(|p| p.as_deref() == Some(canon.as_path()));
    let in_allowed_dir = state.settings.upstream.allowed_weight_dirs.iter().filter_map(|d| canonical(d)).any(|d| canon.starts_with(d));
    if configured || in_allowed_dir {
        Ok(canon)
    } else {
        Err(refused())
    }
}
