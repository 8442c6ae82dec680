//! The OpenAPI 3.1 description of every route, served at `/openapi.json` (Swagger UI at `/docs`,
//! assets embedded in the binary so it works offline) and committed as `openapi/openapi.json`
//! (`tests/http_openapi.rs` fails when the two drift; `gsv-server openapi` regenerates the file).
use utoipa::OpenApi;

use super::error::{ApiErrorKind, ErrorResponse, OpenAiError, OpenAiErrorResponse, UpstreamErrorResponse};
use super::routes::{info, openai, tts, upstream, voices, ws};
use crate::engine::{JobReport, JobStats, VoiceInfo};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gsv-server",
        description = "GPT-SoVITS text-to-speech on MLX. Native, upstream api_v2-compatible and OpenAI-compatible routes; WebSocket streaming (docs/websocket.md).",
        license(name = "MIT")
    ),
    paths(
        tts::synthesize,
        ws::upgrade,
        upstream::tts_get,
        upstream::tts_post,
        openai::speech,
        openai::models,
        voices::list,
        voices::create,
        voices::get_voice,
        voices::audio,
        voices::delete,
        openai::model,
        upstream::set_gpt_weights,
        upstream::set_sovits_weights,
        info::health,
        info::metrics,
    ),
    components(schemas(
        tts::TtsRequest,
        tts::InlineReference,
        upstream::UpstreamRequest,
        openai::SpeechRequest,
        openai::ModelList,
        openai::Model,
        upstream::WeightsChanged,
        crate::engine::ModelInfo,
        crate::engine::ModelSpec,
        ws::ClientMessage,
        ws::WsSynthesize,
        ws::ServerEvent,
        info::Health,
        voices::VoiceList,
        voices::VoiceEntry,
        voices::FailedVoice,
        voices::VoiceDetails,
        voices::VoiceUpload,
        voices::VoiceSource,
        crate::library::VoiceDefaults,
        VoiceInfo,
        JobReport,
        JobStats,
        ErrorResponse,
        ApiErrorKind,
        OpenAiErrorResponse,
        OpenAiError,
        UpstreamErrorResponse,
    )),
    tags(
        (name = "tts", description = "Native synthesis routes"),
        (name = "upstream", description = "GPT-SoVITS api_v2 compatible"),
        (name = "openai", description = "OpenAI audio API compatible"),
        (name = "voices", description = "Configured voices and the voice library (uploads)"),
        (name = "service", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as committed in `openapi/openapi.json` (pretty JSON, trailing newline).
pub fn document() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
