//! `POST /v1/audio/speech`, `GET /v1/models` and `GET /v1/models/{id}`: OpenAI's speech and model
//! contracts, so the official client libraries work against this server. Errors use OpenAI's
//! `{"error": {...}}` shape.
use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::audio::encode::{AudioFormat, StreamEncoder};
use crate::config::GENERIC_MODEL_IDS;
use crate::engine::{JobUpdate, ModelInfo, VoiceSelect, SAMPLE_RATE};
use crate::server::error::{ApiError, ApiErrorKind, AppJson};
use crate::server::params::{check_chars, shown, RawParams};
use crate::server::{respond, AppState};

/// OpenAI's hard limit on `input`.
pub const MAX_INPUT_CHARS: usize = 4096;
/// OpenAI's `pcm` is 24 kHz.
const PCM_RATE: u32 = 24_000;

/// OpenAI `CreateSpeechRequest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SpeechRequest {
    /// One of `GET /v1/models`: a configured model's name or alias, or a generic id (`tts-1`,
    /// `tts-1-hd`, `gpt-4o-mini-tts`, `gpt-sovits`, `gpt-sovits-v2`) meaning the voice's model
    /// (else the default model).
    #[schema(example = "tts-1")]
    pub model: String,
    /// Text to speak, at most 4096 characters.
    #[schema(example = "The quick brown fox jumped over the lazy dog.", min_length = 1, max_length = 4096)]
    pub input: String,
    /// A configured voice name (`GET /v1/voices`), or `{"id": name}`.
    #[schema(value_type = String, example = "narrator")]
    pub voice: VoiceParam,
    /// Accepted and ignored (GPT-SoVITS takes its style from the reference clip); at most 4096 characters.
    #[schema(max_length = 4096)]
    pub instructions: Option<String>,
    /// mp3 (default), opus, flac, wav, pcm (**24 kHz** s16le, OpenAI's rate; every other route's
    /// pcm is 32 kHz). `aac` is not supported.
    #[schema(pattern = "^(mp3|opus|flac|wav|pcm)$")]
    pub response_format: Option<String>,
    /// 0.25 to 4.0 (default 1.0).
    #[schema(minimum = 0.25, maximum = 4.0)]
    pub speed: Option<f32>,
    /// `audio` (default): the audio bytes, streamed as produced. `sse`: Server-Sent Events with
    /// `speech.audio.delta` (base64 audio) and `speech.audio.done`.
    #[schema(pattern = "^(audio|sse)$")]
    pub stream_format: Option<String>,
    /// Extension (not OpenAI's): the text language, upstream's names (`zh`, `en`, `ja`, `ko`,
    /// `yue`, `auto`, `auto_yue`, `all_zh`, `all_ja`, `all_ko`, `all_yue`); default: the voice's
    /// language.
    #[schema(example = "auto")]
    pub language: Option<String>,
}

/// `voice`: a name, or an object with an `id`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum VoiceParam {
    Name(String),
    Object { id: String },
}

/// Synthesize speech (OpenAI-compatible).
#[utoipa::path(post, path = "/v1/audio/speech", tag = "openai", request_body = SpeechRequest,
    responses(
        (status = 200, description = "Audio in `response_format`, streamed as produced; or `text/event-stream` when `stream_format` is `sse`",
            content(("audio/mpeg"), ("audio/ogg"), ("audio/flac"), ("audio/wav"), ("audio/pcm"), ("text/event-stream"))),
        (status = 400, description = "Invalid request", body = crate::server::error::OpenAiErrorResponse,
            example = json!({"error": {"message": "`response_format` `aac` is not supported (supported: mp3, opus, flac, wav, pcm)", "type": "invalid_request_error", "param": "response_format", "code": "unsupported_format"}})),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::OpenAiErrorResponse),
        (status = 408, description = "Longer than server.request_timeout_s", body = crate::server::error::OpenAiErrorResponse),
        (status = 413, description = "Body larger than limits.max_body_bytes", body = crate::server::error::OpenAiErrorResponse),
        (status = 415, description = "Not JSON", body = crate::server::error::OpenAiErrorResponse),
        (status = 429, description = "Queue full or too much work admitted", body = crate::server::error::OpenAiErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::OpenAiErrorResponse),
    ))]
pub async fn speech(State(state): State<AppState>, AppJson(req): AppJson<SpeechRequest>) -> Result<Response, ApiError> {
    check_chars("input", &req.input, MAX_INPUT_CHARS)?;
    // Ignored, but bounded like any text a client sends.
    check_chars("instructions", req.instructions.as_deref().unwrap_or(""), MAX_INPUT_CHARS)?;
    let chars = req.input.chars().count();
    let format_name = req.response_format.unwrap_or_else(|| "mp3".into()).to_ascii_lowercase();
    let format = match format_name.as_str() {
        "mp3" | "opus" | "flac" | "wav" | "pcm" => AudioFormat::parse(&format_name),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid("response_format", format!("`response_format` `{}` is not supported (supported: mp3, opus, flac, wav, pcm)", shown(&format_name)))
            .with_code("unsupported_format")
    })?;
    let sse = match req.stream_format.as_deref().unwrap_or("audio") {
        "audio" => false,
        "sse" => true,
        other => return Err(ApiError::invalid("stream_format", format!("`stream_format` must be `audio` or `sse`, got `{}`", shown(other)))),
    };
    let voice = match req.voice {
        VoiceParam::Name(n) | VoiceParam::Object { id: n } => n,
    };
    let known = state.voice_names();
    if !known.contains(&voice) {
        let mut e = ApiError::new(ApiErrorKind::UnknownVoice, format!("`voice` `{}` does not exist (available: {})", shown(&voice), known.join(", ")))
            .with_code("voice_not_found");
        e.param = Some("voice".into());
        return Err(e);
    }
    let raw = RawParams { model: Some(req.model), text: req.input, language: req.language, voice: Some(VoiceSelect::Named(voice)), speed: req.speed, ..Default::default() };
    let job = state.build_job(raw).map_err(|e| e.rename_param("text", "input"))?;
    let seed = job.sampling.seed;
    let span = tracing::info_span!("job", route = "openai", chars, seed);
    let started = respond::started(state.engine.submit(job, span)?).await?;
    let rate = if format == AudioFormat::Pcm { PCM_RATE } else { SAMPLE_RATE };
    if sse {
        sse_response(started, format, rate)
    } else {
        respond::stream_response(started, format, rate, seed)
    }
}

#[derive(Serialize)]
struct Usage {
    input_tokens: usize,
    output_tokens: usize,
    total_tokens: usize,
}

/// `stream_format=sse`: `speech.audio.delta` events carry base64 slices of the encoded stream,
/// `speech.audio.done` ends it (with token usage); a failure sends an `error` event.
fn sse_response(s: respond::Started, format: AudioFormat, rate: u32) -> Result<Response, ApiError> {
    let mut encoder = StreamEncoder::new(format, SAMPLE_RATE, rate).map_err(|e| ApiError::new(ApiErrorKind::Internal, e.to_string()))?;
    let head = encoder.header().map_err(|e| ApiError::new(ApiErrorKind::Internal, e.to_string()))?;
    let delta = |bytes: &[u8]| {
        let audio = base64::engine::general_purpose::STANDARD.encode(bytes);
        Event::default().data(serde_json::json!({"type": "speech.audio.delta", "audio": audio}).to_string())
    };
    let first = futures_util::stream::iter((!head.is_empty()).then(|| delta(&head)));
    let events = futures_util::stream::unfold(Some((s.handle, Some(encoder), 0usize)), move |state| async move {
        let (mut handle, mut enc, mut tokens) = state?;
        loop {
            let encoder = enc.as_mut()?;
            let (bytes, last) = match handle.updates.recv().await {
                Some(JobUpdate::Audio(a)) => (encoder.push(&a), false),
                Some(JobUpdate::Started { .. }) => continue,
                Some(JobUpdate::Done(r)) => {
                    tokens = r.stats.tokens;
                    (enc.take()?.finish(), true)
                }
                Some(JobUpdate::Failed(e)) => return Some((vec![error_event(&e.to_string())], None)),
                None => return Some((vec![error_event("the engine dropped the job")], None)),
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => return Some((vec![error_event(&e.to_string())], None)),
            };
            let mut out = Vec::new();
            if !bytes.is_empty() {
                out.push(delta(&bytes));
            }
            if last {
                let usage = Usage { input_tokens: 0, output_tokens: tokens, total_tokens: tokens };
                out.push(Event::default().data(serde_json::json!({"type": "speech.audio.done", "usage": usage}).to_string()));
                return Some((out, None));
            }
            if !out.is_empty() {
                return Some((out, Some((handle, enc, tokens))));
            }
        }
    })
    .flat_map(futures_util::stream::iter);
    let stream = first.chain(events).map(Ok::<_, Infallible>);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

fn error_event(message: &str) -> Event {
    tracing::warn!("sse stream failed: {message}");
    Event::default().data(
        serde_json::json!({"type": "error", "error": {"message": message, "type": "server_error", "param": null, "code": "synthesis_failed"}})
            .to_string(),
    )
}

/// OpenAI `GET /v1/models` list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<Model>,
}

/// An OpenAI model object, with this server's extensions for configured models.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Model {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
    /// Configured models: the SoVITS version (`v1`, `v2`, `v2Pro`, `v2ProPlus`), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Configured models: loaded now (a request for one that is not loads it first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resident: Option<bool>,
    /// Configured models: the default one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
    /// Configured models: other ids that name it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Configured models: why the last load failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Model {
    fn generic(id: &str) -> Model {
        Model {
            id: id.into(),
            object: "model".into(),
            created: 0,
            owned_by: "gsv-server".into(),
            version: None,
            resident: None,
            default: None,
            aliases: Vec::new(),
            error: None,
        }
    }

    fn configured(m: ModelInfo) -> Model {
        Model {
            version: m.version,
            resident: Some(m.resident),
            default: Some(m.default),
            aliases: m.spec.aliases,
            error: m.error,
            ..Model::generic(&m.spec.name)
        }
    }
}

/// Configured models as the engine reports them, or (before it has) as configured.
fn configured_models(state: &AppState) -> Vec<ModelInfo> {
    let models = state.engine.status().models;
    if !models.is_empty() {
        return models;
    }
    let specs = state.settings.model_specs().unwrap_or_default();
    specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| ModelInfo { spec, version: None, resident: false, default: i == 0, error: None, warm_up_seconds: None, warm_up_error: None })
        .collect()
}

/// The configured models (with version and residency), then the generic ids that speak with the
/// voice's model.
#[utoipa::path(get, path = "/v1/models", tag = "openai", responses(
    (status = 200, description = "Models", body = ModelList),
    (status = 401, description = "Missing or wrong API key", body = crate::server::error::OpenAiErrorResponse),
))]
pub async fn models(State(state): State<AppState>) -> Json<ModelList> {
    let configured = configured_models(&state);
    let taken: Vec<String> = configured.iter().flat_map(|m| std::iter::once(m.spec.name.clone()).chain(m.spec.aliases.clone())).collect();
    let generic = GENERIC_MODEL_IDS.iter().filter(|id| !taken.iter().any(|t| t == *id)).map(|id| Model::generic(id));
    let data = configured.into_iter().map(Model::configured).chain(generic).collect();
    Json(ModelList { object: "list".into(), data })
}

/// One model by id (a configured name or alias, or a generic id); OpenAI `models.retrieve`.
#[utoipa::path(get, path = "/v1/models/{id}", tag = "openai", params(("id" = String, Path, description = "Model id or alias")),
    responses(
        (status = 200, description = "The model", body = Model),
        (status = 404, description = "No such model", body = crate::server::error::OpenAiErrorResponse),
    ))]
pub async fn model(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Model>, ApiError> {
    let found = configured_models(&state).into_iter().find(|m| m.spec.name == id || m.spec.aliases.contains(&id));
    match found {
        Some(m) => Ok(Json(Model::configured(m))),
        None if GENERIC_MODEL_IDS.contains(&id.as_str()) => Ok(Json(Model::generic(&id))),
        None => {
            let mut e = ApiError::new(ApiErrorKind::NotFound, format!("the model `{id}` does not exist")).with_code("model_not_found");
            e.param = Some("model".into());
            Err(e)
        }
    }
}
