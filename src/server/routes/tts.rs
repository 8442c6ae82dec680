//! `POST /v1/tts`: the native synthesis route (JSON, or multipart with an uploaded reference clip).
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;

use crate::audio::encode::AudioFormat;
use crate::engine::{SAMPLE_RATE, VoiceSelect};
use crate::server::error::{ApiError, ApiErrorKind, AppJson};
use crate::server::params::{build_job, inline_voice, token_chunking, RawParams};
use crate::server::{respond, AppState};

/// Body of `POST /v1/tts` (JSON, or the `request` part of a multipart form).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TtsRequest {
    /// A configured model (`GET /v1/models`: name or alias). Default: the voice's model, else the
    /// default model.
    pub model: Option<String>,
    /// Text to speak.
    #[schema(example = "Hello there, how are you today?")]
    pub text: String,
    /// A configured voice (`GET /v1/voices`). Either this or `reference`.
    pub voice: Option<String>,
    /// A reference clip sent with the request instead of a named voice.
    pub reference: Option<InlineReference>,
    /// Language of `text` (`auto`, `en`, `zh`, `ja`, `ko`, `yue`, `all_zh`, ...). Default: the voice's.
    pub language: Option<String>,
    /// GPT sampling: top-k (default 15).
    pub top_k: Option<i64>,
    /// GPT sampling: nucleus probability (default 1.0).
    pub top_p: Option<f32>,
    /// GPT sampling: temperature (default 1.0).
    pub temperature: Option<f32>,
    /// GPT sampling: repetition penalty (default 1.35).
    pub repetition_penalty: Option<f32>,
    /// Random seed; absent or negative = random. Echoed in `x-seed`.
    pub seed: Option<i64>,
    /// Speaking rate, 0.25–4.0 (default 1.0).
    pub speed: Option<f32>,
    /// Sentence splitting: `cut0`..`cut5` (default `cut5`, split at punctuation).
    pub text_split_method: Option<String>,
    /// Sentences per GPT batch within this request (default 1).
    pub batch_size: Option<i64>,
    /// Silence after each sentence, seconds (default 0.3).
    pub fragment_interval: Option<f32>,
    /// `wav` (default), `pcm` (s16le mono), `mp3`, `opus` (Ogg), `flac`.
    pub format: Option<String>,
    /// Stream audio as it is produced (chunked transfer) instead of one complete file.
    pub stream: Option<bool>,
}

/// A reference clip supplied with the request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReference {
    /// The clip (WAV/FLAC/MP3..., 3–10 s), base64. In a multipart request send it as the
    /// `reference_audio` file part instead.
    pub audio_base64: Option<String>,
    /// What the clip says; empty = reference-free mode.
    #[serde(default)]
    pub transcript: String,
    /// Language of the transcript.
    pub language: String,
}

/// Synthesize speech. Non-streaming: a complete file with timing headers. Streaming
/// (`"stream": true`): one container header, then audio chunks as the engine produces them.
#[utoipa::path(post, path = "/v1/tts", tag = "tts",
    request_body(description = "JSON; or multipart/form-data with a `request` part (this JSON) and a `reference_audio` file part",
        content((TtsRequest = "application/json"), (TtsRequest = "multipart/form-data"))),
    responses(
        (status = 200, description = "Audio. Headers: x-seed, x-sample-rate, x-queue-time-ms; non-streaming also x-inference-time-ms, x-time-to-first-audio-ms, x-audio-seconds, x-semantic-tokens, x-tokens-per-second",
            content(("audio/wav"), ("audio/pcm"), ("audio/mpeg"), ("audio/ogg"), ("audio/flac"))),
        (status = 400, description = "Invalid request (the field is named in `param`)", body = crate::server::error::ErrorResponse,
            example = json!({"error": "`speed` must be between 0.25 and 4, got 9", "error_type": "invalid_input", "param": "speed"})),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::ErrorResponse),
        (status = 413, description = "Body larger than limits.max_body_bytes", body = crate::server::error::ErrorResponse),
        (status = 415, description = "Not JSON or multipart", body = crate::server::error::ErrorResponse),
        (status = 429, description = "Queue full; retry after `Retry-After` seconds", body = crate::server::error::ErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::ErrorResponse),
        (status = 500, description = "Synthesis failed", body = crate::server::error::ErrorResponse),
    ))]
pub async fn synthesize(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (body, upload) = if is_multipart {
        read_multipart(Multipart::from_request(req, &()).await.map_err(|e| multipart_error(&e.body_text()))?).await?
    } else {
        (AppJson::<TtsRequest>::from_request(req, &()).await?.0, None)
    };
    run(state, body, upload).await
}

fn multipart_error(text: &str) -> ApiError {
    if text.contains("length limit") {
        ApiError::new(ApiErrorKind::PayloadTooLarge, "the request body is larger than limits.max_body_bytes")
    } else {
        ApiError::invalid("reference_audio", format!("invalid multipart body: {text}"))
    }
}

/// Reads the `request` JSON part and the optional `reference_audio` file part.
async fn read_multipart(mut mp: Multipart) -> Result<(TtsRequest, Option<Vec<u8>>), ApiError> {
    let mut request = None;
    let mut audio = None;
    while let Some(field) = mp.next_field().await.map_err(|e| multipart_error(&e.body_text()))? {
        match field.name().unwrap_or("") {
            "request" => {
                let text = field.text().await.map_err(|e| multipart_error(&e.body_text()))?;
                let r: TtsRequest = serde_json::from_str(&text)
                    .map_err(|e| ApiError::invalid("request", format!("invalid JSON in the `request` part: {e}")))?;
                request = Some(r);
            }
            "reference_audio" => {
                audio = Some(field.bytes().await.map_err(|e| multipart_error(&e.body_text()))?.to_vec());
            }
            other => return Err(ApiError::invalid(other, format!("unknown multipart part `{other}` (expected `request` and `reference_audio`)"))),
        }
    }
    let request = request.ok_or_else(|| ApiError::invalid("request", "the multipart body has no `request` part"))?;
    Ok((request, audio))
}

async fn run(state: AppState, body: TtsRequest, upload: Option<Vec<u8>>) -> Result<Response, ApiError> {
    let format_name = body.format.clone().unwrap_or_else(|| "wav".into());
    let format = AudioFormat::parse(&format_name).ok_or_else(|| {
        ApiError::invalid("format", format!("`format` `{format_name}` is not supported (supported: wav, pcm, mp3, opus, flac)"))
    })?;
    let voice = match (body.voice.clone(), body.reference) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("voice", "send either `voice` or `reference`, not both")),
        (Some(name), None) => {
            if upload.is_some() {
                return Err(ApiError::invalid("reference_audio", "`reference_audio` was uploaded but `voice` names a configured voice"));
            }
            Some(VoiceSelect::Named(name))
        }
        (None, Some(r)) => {
            let audio = match (upload, r.audio_base64) {
                (Some(a), None) => a,
                (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| ApiError::invalid("reference.audio_base64", format!("`reference.audio_base64` is not valid base64: {e}")))?,
                (Some(_), Some(_)) => return Err(ApiError::invalid("reference.audio_base64", "send the clip either as base64 or as the `reference_audio` part, not both")),
                (None, None) => return Err(ApiError::invalid("reference.audio_base64", "`reference` needs `audio_base64` or a `reference_audio` part")),
            };
            Some(inline_voice(&state.settings, audio, r.transcript, r.language)?)
        }
        (None, None) => None,
    };
    let stream = body.stream.unwrap_or(false);
    let raw = RawParams {
        model: body.model,
        text: body.text,
        language: body.language,
        voice,
        top_k: body.top_k,
        top_p: body.top_p,
        temperature: body.temperature,
        repetition_penalty: body.repetition_penalty,
        seed: body.seed,
        speed: body.speed,
        text_split_method: body.text_split_method,
        batch_size: body.batch_size,
        fragment_interval: body.fragment_interval,
        chunking: stream.then(|| token_chunking(&state.settings)),
    };
    let job = build_job(&state.settings, raw)?;
    let seed = job.sampling.seed;
    let span = tracing::info_span!("job", voice = ?voice_name(&job.voice), chars = job.text.chars().count(), seed);
    let handle = state.engine.submit(job, span)?;
    let started = respond::started(handle).await?;
    if stream {
        respond::stream_response(started, format, SAMPLE_RATE, seed)
    } else {
        respond::file_response(started, format, SAMPLE_RATE, seed).await
    }
}

pub fn voice_name(v: &VoiceSelect) -> String {
    match v {
        VoiceSelect::Named(n) => n.clone(),
        VoiceSelect::Inline(s) => s.name.clone(),
    }
}
