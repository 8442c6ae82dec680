//! `POST /v1/tts`: the native synthesis route (JSON, or multipart with an uploaded reference clip).
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header;
use axum::response::Response;
use base64::Engine as _;
use serde::Deserialize;

use crate::audio::encode::AudioFormat;
use crate::engine::{SAMPLE_RATE, VoiceSelect};
use crate::server::error::{ApiError, ApiErrorKind, AppJson};
use crate::server::params::{inline_voice, token_chunking, RawParams};
use crate::server::listen::PeerWatch;
use crate::server::{respond, AppState};

/// Body of `POST /v1/tts` (JSON, or the `request` part of a multipart form).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TtsRequest {
    /// A configured model (`GET /v1/models`: name or alias). Default: the voice's model, else the
    /// default model.
    pub model: Option<String>,
    /// Text to speak (at most `limits.max_text_chars`, 4096 by default).
    #[schema(example = "Hello there, how are you today?", min_length = 1, max_length = 4096)]
    pub text: String,
    /// A configured voice (`GET /v1/voices`). Either this or `reference`.
    #[schema(max_length = 128)]
    pub voice: Option<String>,
    /// A reference clip sent with the request instead of a named voice.
    pub reference: Option<InlineReference>,
    /// Language of `text` (`auto`, `en`, `zh`, `ja`, `ko`, `yue`, `all_zh`, ...). Default: the voice's.
    #[schema(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
    pub language: Option<String>,
    /// GPT sampling: top-k, 1–1024 (default 15).
    #[schema(minimum = 1, maximum = 1024)]
    pub top_k: Option<i64>,
    /// GPT sampling: nucleus probability, (0, 1] (default 1.0).
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub top_p: Option<f32>,
    /// GPT sampling: temperature, (0, 2] (default 1.0).
    #[schema(exclusive_minimum = 0.0, maximum = 2.0)]
    pub temperature: Option<f32>,
    /// GPT sampling: repetition penalty, 1–2 (default 1.35).
    #[schema(minimum = 1.0, maximum = 2.0)]
    pub repetition_penalty: Option<f32>,
    /// Random seed; absent or negative = random. Echoed in `x-seed`.
    pub seed: Option<i64>,
    /// Speaking rate, 0.25–4.0 (default 1.0).
    #[schema(minimum = 0.25, maximum = 4.0)]
    pub speed: Option<f32>,
    /// Sentence splitting: `cut0`..`cut5` (default `cut5`, split at punctuation).
    #[schema(pattern = "^cut[0-5]$")]
    pub text_split_method: Option<String>,
    /// Sentences per GPT batch within this request, 1–64 (default 1).
    #[schema(minimum = 1, maximum = 64)]
    pub batch_size: Option<i64>,
    /// Silence after each sentence, 0–5 seconds (default 0.3).
    #[schema(minimum = 0.0, maximum = 5.0)]
    pub fragment_interval: Option<f32>,
    /// `wav` (default), `pcm` (s16le mono, 32 kHz), `mp3`, `opus` (Ogg), `flac`.
    #[schema(pattern = "^(wav|pcm|raw|mp3|opus|ogg|flac)$")]
    pub format: Option<String>,
    /// Stream audio as it is produced (chunked transfer) instead of one complete file.
    pub stream: Option<bool>,
}

/// A reference clip supplied with the request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineReference {
    /// The clip, base64: WAV (PCM or float), FLAC, MP3 or Ogg Vorbis; 4–384 kHz, at most 8
    /// channels, 3–10 s. In a multipart request send it as the `reference_audio` file part instead.
    pub audio_base64: Option<String>,
    /// What the clip says (at most `limits.max_transcript_chars`, 512 by default); empty =
    /// reference-free mode.
    #[serde(default)]
    #[schema(max_length = 512)]
    pub transcript: String,
    /// Language of the transcript.
    #[schema(pattern = "^(auto|auto_yue|en|zh|ja|yue|ko|all_zh|all_ja|all_yue|all_ko)$")]
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
        (status = 408, description = "Longer than server.request_timeout_s", body = crate::server::error::ErrorResponse),
        (status = 413, description = "Body larger than limits.max_body_bytes", body = crate::server::error::ErrorResponse),
        (status = 415, description = "Not JSON or multipart", body = crate::server::error::ErrorResponse),
        (status = 429, description = "Queue full; retry after `Retry-After` seconds", body = crate::server::error::ErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::ErrorResponse),
        (status = 500, description = "Synthesis failed", body = crate::server::error::ErrorResponse),
    ))]
pub async fn synthesize(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let peer = req.extensions().get::<PeerWatch>().cloned();
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (body, upload) = if is_multipart {
        read_multipart(Multipart::from_request(req, &()).await.map_err(|e| multipart_error(e.status(), &e.body_text()))?).await?
    } else {
        (AppJson::<TtsRequest>::from_request(req, &()).await?.0, None)
    };
    run(state, body, upload, peer).await
}

fn multipart_error(status: axum::http::StatusCode, text: &str) -> ApiError {
    // The body limit surfaces as a multipart parse error; its status says which it was.
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit") {
        ApiError::new(ApiErrorKind::PayloadTooLarge, "the request body is larger than limits.max_body_bytes")
    } else {
        ApiError::invalid("reference_audio", format!("invalid multipart body: {text}"))
    }
}

/// Reads the `request` JSON part and the optional `reference_audio` file part.
async fn read_multipart(mut mp: Multipart) -> Result<(TtsRequest, Option<Vec<u8>>), ApiError> {
    let mut request = None;
    let mut audio = None;
    while let Some(field) = mp.next_field().await.map_err(|e| multipart_error(e.status(), &e.body_text()))? {
        let name = field.name().unwrap_or("").to_string();
        let duplicate = match name.as_str() {
            "request" => request.is_some(),
            "reference_audio" => audio.is_some(),
            _ => false,
        };
        if duplicate {
            return Err(ApiError::invalid(&name, format!("the multipart body has more than one `{name}` part")));
        }
        match name.as_str() {
            "request" => {
                let text = field.text().await.map_err(|e| multipart_error(e.status(), &e.body_text()))?;
                let r: TtsRequest = serde_json::from_str(&text)
                    .map_err(|e| ApiError::invalid("request", format!("invalid JSON in the `request` part: {e}")))?;
                request = Some(r);
            }
            "reference_audio" => {
                audio = Some(field.bytes().await.map_err(|e| multipart_error(e.status(), &e.body_text()))?.to_vec());
            }
            other => {
                let other = crate::server::params::shown(other);
                return Err(ApiError::invalid(&other, format!("unknown multipart part `{other}` (expected `request` and `reference_audio`)")));
            }
        }
    }
    let request = request.ok_or_else(|| ApiError::invalid("request", "the multipart body has no `request` part"))?;
    Ok((request, audio))
}

async fn run(state: AppState, body: TtsRequest, upload: Option<Vec<u8>>, peer: Option<PeerWatch>) -> Result<Response, ApiError> {
    let format_name = body.format.clone().unwrap_or_else(|| "wav".into());
    let format = AudioFormat::parse(&format_name).ok_or_else(|| {
        ApiError::invalid("format", format!("`format` `{}` is not supported (supported: wav, pcm, mp3, opus, flac)", crate::server::params::shown(&format_name)))
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
    let job = state.build_job(raw)?;
    let seed = job.sampling.seed;
    let span = tracing::info_span!("job", voice = ?voice_name(&job.voice), chars = job.text.chars().count(), seed);
    let handle = state.engine.submit(job, span)?;
    let started = respond::started(handle).await?;
    if stream {
        respond::stream_response(started, format, SAMPLE_RATE, seed)
    } else {
        respond::file_response(started, format, SAMPLE_RATE, seed, peer).await
    }
}

pub fn voice_name(v: &VoiceSelect) -> String {
    match v {
        VoiceSelect::Named(n) => n.clone(),
        VoiceSelect::Inline(s) => s.name.clone(),
    }
}
