//! `GET/POST /tts`: the upstream GPT-SoVITS `api_v2.py` contract (spec §8.1), so existing clients
//! work unchanged. Differences, all documented in docs/api.md: `ref_audio_path` must be a
//! configured voice's clip or a file under `[upstream] allowed_ref_dirs` (never an arbitrary
//! file); `ogg` is Ogg Opus (upstream: Ogg Vorbis); `aac` is refused (no encoder); errors use the
//! real status instead of returning silence with 200.
use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::Extension;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::audio::encode::AudioFormat;
use crate::engine::{Chunking, ModelInfo, RefAudio, VoiceSelect, VoiceSpec, WeightsChange, SAMPLE_RATE};
use crate::server::error::{ApiError, AppJson, AppQuery};
use crate::server::error::ApiErrorKind;
use crate::server::listen::PeerWatch;
use crate::server::params::{check_language, shown, upstream_voice, RawParams, StoredClip};
use crate::server::{respond, AppState};

/// api_v2 `TTS_Request` (query string for GET, JSON for POST). Unknown fields are ignored, as
/// upstream does.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpstreamRequest {
    /// Text to speak (required).
    #[param(min_length = 1, max_length = 4096)]
    #[schema(min_length = 1, max_length = 4096)]
    pub text: Option<String>,
    /// Language of `text` (required): auto, auto_yue, en, zh, ja, yue, ko, all_zh, all_ja, all_yue, all_ko.
    #[param(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
    #[schema(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
    pub text_lang: Option<String>,
    /// Reference clip (required): a configured voice's clip, or a file under `[upstream] allowed_ref_dirs`.
    #[param(min_length = 1, max_length = 4096)]
    #[schema(min_length = 1, max_length = 4096)]
    pub ref_audio_path: Option<String>,
    /// Not supported (several references): must be empty.
    #[param(value_type = Option<Vec<String>>)]
    pub aux_ref_audio_paths: Option<Vec<String>>,
    /// Transcript of the reference clip ("" = reference-free mode).
    #[param(max_length = 512)]
    #[schema(max_length = 512)]
    pub prompt_text: Option<String>,
    /// Language of `prompt_text` (required).
    #[param(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
    #[schema(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
    pub prompt_lang: Option<String>,
    #[param(minimum = 1, maximum = 1024)]
    #[schema(minimum = 1, maximum = 1024)]
    pub top_k: Option<i64>,
    #[param(exclusive_minimum = 0.0, maximum = 1.0)]
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f32>,
    #[param(exclusive_minimum = 0.0, maximum = 2.0)]
    #[schema(exclusive_minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f32>,
    /// cut0..cut5 (default cut5).
    #[param(pattern = "^cut[0-5]$")]
    #[schema(pattern = "^cut[0-5]$")]
    pub text_split_method: Option<String>,
    #[param(minimum = 1, maximum = 64)]
    #[schema(minimum = 1, maximum = 64)]
    pub batch_size: Option<i64>,
    /// Accepted for compatibility; bucketing is the engine's business.
    pub batch_threshold: Option<f32>,
    /// Accepted for compatibility.
    pub split_bucket: Option<bool>,
    #[param(minimum = 0.25, maximum = 4.0)]
    #[schema(minimum = 0.25, maximum = 4.0)]
    pub speed_factor: Option<f32>,
    #[param(minimum = 0.0, maximum = 5.0)]
    #[schema(minimum = 0.0, maximum = 5.0)]
    pub fragment_interval: Option<f32>,
    /// -1 = random.
    pub seed: Option<i64>,
    /// wav (default), raw, ogg (Ogg Opus), mp3, flac. `aac` is refused.
    #[param(pattern = "^(wav|raw|pcm|ogg|opus|mp3|flac)$")]
    #[schema(pattern = "^(wav|raw|pcm|ogg|opus|mp3|flac)$")]
    pub media_type: Option<String>,
    /// 0/false: whole file; 1/true: one chunk per sentence; 2: token chunks at silences; 3: fixed token chunks.
    #[param(value_type = Option<String>, pattern = "^(0|1|2|3|true|false)$")]
    #[schema(value_type = Option<String>, pattern = "^(0|1|2|3|true|false)$")]
    pub streaming_mode: Option<StreamingMode>,
    /// Accepted for compatibility (the engine always batches across requests).
    pub parallel_infer: Option<bool>,
    #[param(minimum = 1.0, maximum = 2.0)]
    #[schema(minimum = 1.0, maximum = 2.0)]
    pub repetition_penalty: Option<f32>,
    /// v3/v4 only; accepted and ignored.
    pub sample_steps: Option<i64>,
    /// v3 only; accepted and ignored.
    pub super_sampling: Option<bool>,
    /// Semantic-token overlap between streamed chunks (default 2).
    #[param(minimum = 0, maximum = 16)]
    #[schema(minimum = 0, maximum = 16)]
    pub overlap_length: Option<i64>,
    /// Minimum semantic tokens per streamed chunk (default 16).
    #[param(minimum = 1, maximum = 256)]
    #[schema(minimum = 1, maximum = 256)]
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
        (status = 200, description = "Audio (`audio/wav`, raw PCM, `audio/ogg`, ...)",
            content(("audio/wav"), ("audio/pcm"), ("audio/ogg"), ("audio/mpeg"), ("audio/flac"))),
        (status = 400, description = "Invalid request", body = crate::server::error::UpstreamErrorResponse,
            example = json!({"message": "text_lang is required", "error_type": "invalid_input"})),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::UpstreamErrorResponse),
        (status = 408, description = "Longer than server.request_timeout_s", body = crate::server::error::UpstreamErrorResponse),
        (status = 429, description = "Queue full or too much work admitted", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn tts_get(
    State(state): State<AppState>,
    peer: Option<Extension<PeerWatch>>,
    AppQuery(req): AppQuery<UpstreamRequest>,
) -> Result<Response, ApiError> {
    run(state, req, peer.map(|p| p.0)).await
}

/// Upstream-compatible synthesis (JSON body).
#[utoipa::path(post, path = "/tts", tag = "upstream", request_body = UpstreamRequest,
    responses(
        (status = 200, description = "Audio", content(("audio/wav"), ("audio/pcm"), ("audio/ogg"), ("audio/mpeg"), ("audio/flac"))),
        (status = 400, description = "Invalid request", body = crate::server::error::UpstreamErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::UpstreamErrorResponse),
        (status = 408, description = "Longer than server.request_timeout_s", body = crate::server::error::UpstreamErrorResponse),
        (status = 413, description = "Body larger than limits.max_body_bytes", body = crate::server::error::UpstreamErrorResponse),
        (status = 415, description = "Not JSON", body = crate::server::error::UpstreamErrorResponse),
        (status = 429, description = "Queue full or too much work admitted", body = crate::server::error::UpstreamErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::UpstreamErrorResponse),
    ))]
pub async fn tts_post(
    State(state): State<AppState>,
    peer: Option<Extension<PeerWatch>>,
    AppJson(req): AppJson<UpstreamRequest>,
) -> Result<Response, ApiError> {
    run(state, req, peer.map(|p| p.0)).await
}

fn required(v: Option<String>, name: &str) -> Result<String, ApiError> {
    match v {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::invalid(name, format!("{name} is required"))),
    }
}

async fn run(state: AppState, req: UpstreamRequest, peer: Option<PeerWatch>) -> Result<Response, ApiError> {
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
        ApiError::invalid("media_type", format!("media_type {} is not supported (supported: wav, raw, ogg, mp3, flac)", shown(&media)))
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
        // Upstream's first chunk waits for min_chunk_length tokens too, and so does every later one.
        l => Chunking::Tokens { first_tokens: min_tokens as usize, min_tokens: min_tokens as usize, growth: 1.0, lead: 0.0, overlap: overlap as usize, fixed_length: l == 3 },
    };
    let prompt_text = req.prompt_text.unwrap_or_default();
    let voice = upstream_voice(&state.settings, &stored_clips(&state, &ref_audio_path)?, &ref_audio_path, &prompt_text, &prompt_lang)?;
    // The engine names the clip by its canonical (absolute) path; the client sees its own.
    let resolved = match &voice {
        VoiceSelect::Inline(VoiceSpec { ref_audio: RefAudio::Path(p), .. }) => Some(p.display().to_string()),
        _ => None,
    };
    let as_sent = |mut e: ApiError| {
        if let Some(r) = &resolved {
            e.message = e.message.replace(r.as_str(), &shown(&ref_audio_path));
        }
        e
    };
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
    let job = state.build_job(raw).map_err(|e| e.rename_param("speed", "speed_factor").rename_param("language", "text_lang")).map_err(as_sent)?;
    let seed = job.sampling.seed;
    let span = tracing::info_span!("job", route = "upstream", chars = job.text.chars().count(), seed);
    let started = respond::started(state.engine.submit(job, span)?).await.map_err(as_sent)?;
    if level == 0 {
        respond::file_response(started, format, SAMPLE_RATE, seed, peer).await.map_err(as_sent)
    } else {
        respond::stream_response(started, format, SAMPLE_RATE, seed)
    }
}

/// The voice library's clips for [`upstream_voice`]. A path inside the library folder whose voice
/// was deleted is an unknown voice (not a forbidden path): it was valid once.
fn stored_clips(state: &AppState, ref_audio_path: &str) -> Result<Vec<StoredClip>, ApiError> {
    let lib = &state.library;
    if let Some(name) = lib.voice_of_path(std::path::Path::new(ref_audio_path)) {
        if lib.get(&name).is_none() {
            let mut e = ApiError::new(ApiErrorKind::UnknownVoice, format!("`ref_audio_path` names voice `{name}` of the voice library, which does not exist"));
            e.param = Some("ref_audio_path".into());
            return Err(e.with_code("voice_not_found"));
        }
    }
    Ok(lib
        .list()
        .into_iter()
        .filter_map(|m| {
            let clip = lib.clip_path(&m)?;
            Some(StoredClip { name: m.name, clip, transcript: m.transcript, language: m.language })
        })
        .collect())
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
