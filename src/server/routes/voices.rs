//! The voices: `GET /v1/voices` lists configured and stored ones; `POST /v1/voices` uploads a clip
//! that the engine prepares and the voice library stores; `GET /v1/voices/{name}`,
//! `GET /v1/voices/{name}/audio`, `DELETE /v1/voices/{name}`.
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::engine::{EngineError, RefAudio, VoiceInfo, VoiceSelect, VoiceSpec};
use crate::library::{self, ClipFormat, LibraryError, Manifest, VoiceDefaults};
use crate::server::error::{ApiError, ApiErrorKind};
use crate::server::params::{build_job, RawParams};
use crate::server::AppState;

/// Where a voice comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoiceSource {
    /// `[voices.NAME]` in the config file (read-only over the API).
    Config,
    /// Uploaded with `POST /v1/voices` and kept in `[voice_library] dir`.
    Library,
}

/// `GET /v1/voices` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoiceList {
    /// Voices ready to speak.
    pub voices: Vec<VoiceEntry>,
    /// Voices that failed to load, with the reason.
    pub failed: Vec<FailedVoice>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoiceEntry {
    #[serde(flatten)]
    pub info: VoiceInfo,
    /// Transcript of the reference clip.
    pub transcript: String,
    pub source: VoiceSource,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FailedVoice {
    pub name: String,
    pub error: String,
}

/// `GET /v1/voices/{name}` (and `POST /v1/voices`) body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoiceDetails {
    pub name: String,
    pub source: VoiceSource,
    pub language: String,
    pub transcript: String,
    /// Whether the voice is prepared and can speak; when not, `error` says why.
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Length of the reference clip, seconds (when ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_seconds: Option<f32>,
    /// Prompt semantic tokens cached (when ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<usize>,
    /// The clip on the server: upstream `/tts` accepts it as `ref_audio_path` (with this
    /// voice's transcript and language as `prompt_text` / `prompt_lang`).
    pub ref_audio_path: String,
    /// Sampling settings used when a request leaves them out.
    pub defaults: VoiceDefaults,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Stored voices: the clip's container and size, and when it was uploaded (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
}

/// Multipart form of `POST /v1/voices` (documents the parts; read by [`read_form`]).
#[derive(Debug, Default, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct VoiceUpload {
    /// 1–64 letters, digits, `-`, `_`, `.`; starts with a letter or digit.
    #[schema(example = "narrator")]
    name: String,
    /// The reference clip: WAV, FLAC, MP3 or Ogg Vorbis, 3–10 s (at most `voice_library.max_clip_bytes`).
    #[schema(value_type = String, format = Binary)]
    audio: Vec<u8>,
    /// What the clip says; empty = reference-free mode.
    transcript: Option<String>,
    /// Language of the transcript (`en`, `zh`, `ja`, ...), also the default language of requests.
    language: String,
    top_k: Option<i64>,
    top_p: Option<f32>,
    temperature: Option<f32>,
    repetition_penalty: Option<f32>,
    speed: Option<f32>,
    /// The model set the voice is for (stored and reported).
    model: Option<String>,
}

impl From<LibraryError> for ApiError {
    fn from(e: LibraryError) -> Self {
        let (kind, param) = match &e {
            LibraryError::Disabled => (ApiErrorKind::Conflict, None),
            LibraryError::InvalidName(_) => (ApiErrorKind::InvalidInput, Some("name")),
            LibraryError::Exists(_) | LibraryError::Busy(_) => (ApiErrorKind::Conflict, Some("name")),
            LibraryError::Full(_) => (ApiErrorKind::InsufficientStorage, None),
            LibraryError::NotFound(_) => (ApiErrorKind::NotFound, None),
            LibraryError::Io(_) => (ApiErrorKind::Internal, None),
        };
        ApiError { kind, message: e.to_string(), param: param.map(str::to_string), code: None }
    }
}

fn source_of(state: &AppState, name: &str) -> VoiceSource {
    if state.settings.voices.contains_key(name) {
        VoiceSource::Config
    } else {
        VoiceSource::Library
    }
}

/// Configured and stored voices that are ready, and those that failed to load.
#[utoipa::path(get, path = "/v1/voices", tag = "voices",
    responses((status = 200, description = "Voices", body = VoiceList)))]
pub async fn list(State(state): State<AppState>) -> Json<VoiceList> {
    let s = state.engine.status();
    let voices = s
        .voices
        .into_iter()
        .map(|info| {
            let source = source_of(&state, &info.name);
            let transcript = match (source, state.settings.voices.get(&info.name), state.library.get(&info.name)) {
                (VoiceSource::Config, Some(v), _) => v.transcript.clone(),
                (_, _, Some(m)) => m.transcript,
                _ => String::new(),
            };
            VoiceEntry { info, transcript, source }
        })
        .collect();
    let failed = s.failed_voices.into_iter().map(|(name, error)| FailedVoice { name, error }).collect();
    Json(VoiceList { voices, failed })
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(ApiErrorKind::NotFound, format!("no voice `{name}`; GET /v1/voices lists them"))
}

fn details(state: &AppState, name: &str) -> Result<VoiceDetails, ApiError> {
    let status = state.engine.status();
    let info = status.voices.iter().find(|v| v.name == name);
    let error = status.failed_voices.iter().find(|(n, _)| n == name).map(|(_, e)| e.clone());
    let mut d = if let Some(v) = state.settings.voices.get(name) {
        VoiceDetails {
            name: name.into(),
            source: VoiceSource::Config,
            language: v.language.to_ascii_lowercase(),
            transcript: v.transcript.clone(),
            ready: false,
            error: None,
            ref_seconds: None,
            prompt_tokens: None,
            ref_audio_path: v.ref_audio.display().to_string(),
            defaults: VoiceDefaults { top_k: v.top_k, top_p: v.top_p, temperature: v.temperature, repetition_penalty: v.repetition_penalty, speed: v.speed },
            model: None,
            format: None,
            clip_bytes: None,
            created: None,
        }
    } else {
        let m = state.library.get(name).ok_or_else(|| not_found(name))?;
        stored_details(state, m)
    };
    d.ready = info.is_some();
    d.ref_seconds = info.map(|i| i.ref_seconds);
    d.prompt_tokens = info.map(|i| i.prompt_tokens);
    d.error = if d.ready { None } else { Some(error.unwrap_or_else(|| "not prepared (yet)".into())) };
    Ok(d)
}

fn stored_details(state: &AppState, m: Manifest) -> VoiceDetails {
    VoiceDetails {
        ref_audio_path: state.library.clip_path(&m).map(|p| p.display().to_string()).unwrap_or_default(),
        format: Some(m.format.extension().into()),
        clip_bytes: Some(m.clip_bytes),
        created: Some(m.created),
        name: m.name,
        source: VoiceSource::Library,
        language: m.language,
        transcript: m.transcript,
        ready: false,
        error: None,
        ref_seconds: None,
        prompt_tokens: None,
        defaults: m.defaults,
        model: m.model,
    }
}

/// One voice: where it comes from, its transcript, language, defaults and state.
#[utoipa::path(get, path = "/v1/voices/{name}", tag = "voices",
    params(("name" = String, Path, description = "Voice name")),
    responses(
        (status = 200, description = "The voice", body = VoiceDetails),
        (status = 404, description = "No such voice", body = crate::server::error::ErrorResponse),
    ))]
pub async fn get_voice(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<VoiceDetails>, ApiError> {
    details(&state, &name).map(Json)
}

/// The voice's reference clip, as uploaded (or as configured).
#[utoipa::path(get, path = "/v1/voices/{name}/audio", tag = "voices",
    params(("name" = String, Path, description = "Voice name")),
    responses(
        (status = 200, description = "The clip", content(("audio/wav"), ("audio/flac"), ("audio/mpeg"), ("audio/ogg"))),
        (status = 404, description = "No such voice", body = crate::server::error::ErrorResponse),
    ))]
pub async fn audio(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let path = match state.settings.voices.get(&name) {
        Some(v) => v.ref_audio.clone(),
        None => state.library.get(&name).and_then(|m| state.library.clip_path(&m)).ok_or_else(|| not_found(&name))?,
    };
    // The server's own path stays out of the answer (it is logged instead).
    let read = tokio::task::spawn_blocking(move || std::fs::read(&path).map_err(|e| (path, e))).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err((path, e))) => {
            tracing::error!(voice = %name, path = %path.display(), "cannot read a voice clip: {e}");
            return Err(ApiError::new(ApiErrorKind::Internal, format!("cannot read the clip of voice `{name}`")));
        }
        Err(e) => return Err(ApiError::new(ApiErrorKind::Internal, format!("reading the clip of voice `{name}` failed: {e}"))),
    };
    let content_type = ClipFormat::sniff(&bytes).map_or("application/octet-stream", ClipFormat::content_type);
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

/// The parts of an upload, read and bounded.
struct Form {
    name: String,
    audio: Vec<u8>,
    transcript: String,
    language: String,
    model: Option<String>,
    raw: RawParams,
}

/// Most bytes of a text part (name, transcript, numbers).
const MAX_TEXT_PART: usize = 64 << 10;

/// Reads one part, refusing it once it exceeds `cap` bytes (so an oversized clip is never
/// buffered whole).
async fn read_part(field: &mut axum::extract::multipart::Field<'_>, cap: usize, param: &str) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e.body_text()))? {
        if out.len() + chunk.len() > cap {
            let message = format!("`{param}` is larger than {cap} bytes");
            return Err(ApiError { kind: ApiErrorKind::PayloadTooLarge, message, param: Some(param.into()), code: None });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn multipart_error(text: &str) -> ApiError {
    if text.contains("length limit") {
        ApiError::new(ApiErrorKind::PayloadTooLarge, "the request body is larger than limits.max_body_bytes")
    } else {
        ApiError::invalid("audio", format!("invalid multipart body: {text}"))
    }
}

fn number<T: std::str::FromStr>(param: &str, text: &str) -> Result<T, ApiError> {
    text.trim().parse().map_err(|_| ApiError::invalid(param, format!("`{param}` is not a number: `{text}`")))
}

async fn read_form(mut mp: Multipart, max_clip_bytes: usize) -> Result<Form, ApiError> {
    let (mut name, mut audio, mut transcript, mut language, mut model) = (None, None, String::new(), None, None);
    let mut raw = RawParams::default();
    while let Some(mut field) = mp.next_field().await.map_err(|e| multipart_error(&e.body_text()))? {
        let part = field.name().unwrap_or("").to_string();
        if part == "audio" {
            audio = Some(read_part(&mut field, max_clip_bytes, "audio").await?);
            continue;
        }
        let bytes = read_part(&mut field, MAX_TEXT_PART, &part).await?;
        let text = String::from_utf8(bytes).map_err(|_| ApiError::invalid(&part, format!("`{part}` is not UTF-8 text")))?;
        match part.as_str() {
            "name" => name = Some(text.trim().to_string()),
            "transcript" => transcript = text.trim().to_string(),
            "language" => language = Some(text.trim().to_ascii_lowercase()),
            "model" => model = Some(text.trim().to_string()).filter(|m| !m.is_empty()),
            "top_k" => raw.top_k = Some(number("top_k", &text)?),
            "top_p" => raw.top_p = Some(number("top_p", &text)?),
            "temperature" => raw.temperature = Some(number("temperature", &text)?),
            "repetition_penalty" => raw.repetition_penalty = Some(number("repetition_penalty", &text)?),
            "speed" => raw.speed = Some(number("speed", &text)?),
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!("unknown part `{other}` (expected name, audio, transcript, language, model, top_k, top_p, temperature, repetition_penalty, speed)"),
                ))
            }
        }
    }
    let name = name.ok_or_else(|| ApiError::invalid("name", "the form has no `name` part"))?;
    let audio = audio.filter(|a| !a.is_empty()).ok_or_else(|| ApiError::invalid("audio", "the form has no `audio` file part (or it is empty)"))?;
    let language = language.ok_or_else(|| ApiError::invalid("language", "the form has no `language` part"))?;
    Ok(Form { name, audio, transcript, language, model, raw })
}

/// Upload a voice: the clip is checked and prepared on the inference thread (as configured voices
/// are at start), then stored with a manifest in one atomic step; it survives restarts.
#[utoipa::path(post, path = "/v1/voices", tag = "voices",
    request_body(content = VoiceUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and ready; `Location` is its URL", body = VoiceDetails),
        (status = 400, description = "Bad name, language, sampling value, or a clip that cannot be decoded or lasts outside 3–10 s (the message says why)", body = crate::server::error::ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::ErrorResponse),
        (status = 409, description = "The name is taken (configured, stored, or being uploaded), or the library is off", body = crate::server::error::ErrorResponse),
        (status = 413, description = "Clip larger than voice_library.max_clip_bytes", body = crate::server::error::ErrorResponse),
        (status = 415, description = "Not multipart/form-data", body = crate::server::error::ErrorResponse),
        (status = 507, description = "The library is full (voice_library.max_voices or max_bytes)", body = crate::server::error::ErrorResponse),
        (status = 503, description = "Models missing or loading", body = crate::server::error::ErrorResponse),
    ))]
pub async fn create(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::new(ApiErrorKind::UnsupportedMediaType, "send the voice as multipart/form-data (parts: name, audio, transcript, language, ...)"));
    }
    let lib = state.library.clone();
    if !lib.enabled() {
        return Err(LibraryError::Disabled.into());
    }
    let mp = Multipart::from_request(req, &()).await.map_err(|e| multipart_error(&e.body_text()))?;
    let form = read_form(mp, lib.settings().max_clip_bytes).await?;
    library::check_name(&form.name)?;
    let format = ClipFormat::sniff(&form.audio)
        .ok_or_else(|| ApiError::invalid("audio", "`audio` is not a WAV, FLAC, MP3 or Ogg file"))?;
    let chars = form.transcript.chars().count();
    if chars > state.settings.limits.max_text_chars {
        return Err(ApiError::invalid("transcript", format!("`transcript` has {chars} characters; the limit is {}", state.settings.limits.max_text_chars)));
    }
    // The same checks a request's values get (the job itself is discarded).
    let check = RawParams { text: "-".into(), language: Some(form.language.clone()), voice: Some(VoiceSelect::Named(String::new())), ..form.raw.clone() };
    build_job(&state.settings, check)?;

    let reservation = lib.reserve(&form.name, form.audio.len() as u64, |n| state.settings.voices.contains_key(n))?;
    let _writes = lib.writes().await;
    let spec = VoiceSpec {
        name: form.name.clone(),
        ref_audio: RefAudio::Bytes(form.audio.clone()),
        transcript: form.transcript.clone(),
        language: form.language.clone(),
        gpt: None,
        sovits: None,
        model: form.model.clone(),
    };
    state.engine.add_voice(spec).await.map_err(|e| match e {
        EngineError::InvalidInput { message, .. } => ApiError::invalid("audio", message),
        other => ApiError::from(other),
    })?;
    let raw = &form.raw;
    let manifest = Manifest {
        name: form.name.clone(),
        transcript: form.transcript,
        language: form.language,
        format,
        clip_bytes: form.audio.len() as u64,
        created: library::now(),
        model: form.model,
        defaults: VoiceDefaults {
            top_k: raw.top_k.map(|k| k as usize),
            top_p: raw.top_p,
            temperature: raw.temperature,
            repetition_penalty: raw.repetition_penalty,
            speed: raw.speed,
        },
    };
    let audio = form.audio;
    let stored = tokio::task::spawn_blocking(move || reservation.commit(manifest, &audio))
        .await
        .unwrap_or_else(|e| Err(LibraryError::Io(format!("the store task failed: {e}"))));
    if let Err(e) = stored {
        let _ = state.engine.remove_voice(&form.name).await;
        return Err(e.into());
    }
    tracing::info!(voice = %form.name, "voice stored in the library");
    let body = details(&state, &form.name)?;
    let location = HeaderValue::from_str(&format!("/v1/voices/{}", form.name)).unwrap_or(HeaderValue::from_static("/v1/voices"));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(body)).into_response())
}

/// Delete a stored voice. Configured voices are read-only (409).
#[utoipa::path(delete, path = "/v1/voices/{name}", tag = "voices",
    params(("name" = String, Path, description = "Voice name")),
    responses(
        (status = 204, description = "Deleted; requests naming it now get 400 unknown_voice"),
        (status = 401, description = "Missing or wrong API key", body = crate::server::error::ErrorResponse),
        (status = 404, description = "No such voice", body = crate::server::error::ErrorResponse),
        (status = 409, description = "A configured voice (edit the config file instead)", body = crate::server::error::ErrorResponse),
    ))]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    if state.settings.voices.contains_key(&name) {
        return Err(ApiError::new(ApiErrorKind::Conflict, format!("voice `{name}` is configured in the config file ([voices.{name}]); it cannot be deleted over the API")));
    }
    let lib = state.library.clone();
    let _writes = lib.writes().await;
    let removed = tokio::task::spawn_blocking({
        let (lib, name) = (lib.clone(), name.clone());
        move || lib.delete(&name)
    })
    .await
    .unwrap_or_else(|e| Err(LibraryError::Io(format!("the delete task failed: {e}"))));
    match removed {
        Ok(_) => {}
        Err(LibraryError::NotFound(_)) => return Err(not_found(&name)),
        Err(e) => return Err(e.into()),
    }
    // Gone from disk; if the engine cannot be told now (queue full), it stops serving the voice
    // at the next start at the latest.
    if let Err(e) = state.engine.remove_voice(&name).await {
        tracing::warn!(voice = %name, "deleted from the library but still prepared in the engine: {e}");
    }
    tracing::info!(voice = %name, "voice deleted from the library");
    Ok(StatusCode::NO_CONTENT)
}
