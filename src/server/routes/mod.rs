//! One file per API surface; each exposes its handlers, [`router`] wires them.
pub mod info;
pub mod openai;
pub mod playground;
pub mod tts;
pub mod upstream;
pub mod voices;
pub mod ws;

use axum::routing::{get, post};
use axum::Router;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::error::{ApiError, ApiErrorKind};
use super::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tts", post(tts::synthesize))
        .route("/tts", get(upstream::tts_get).post(upstream::tts_post))
        .route("/v1/tts/stream", get(ws::upgrade))
        .route("/v1/audio/speech", post(openai::speech))
        .route("/v1/models", get(openai::models))
        .route("/v1/voices", get(voices::list).post(voices::create))
        .route("/v1/voices/{name}", get(voices::get_voice).delete(voices::delete))
        .route("/v1/voices/{name}/audio", get(voices::audio))
        .route("/", get(playground::index))
        .route("/playground", get(playground::page))
        .route("/playground/app.js", get(playground::script))
        .route("/v1/models/{id}", get(openai::model))
        .route("/set_gpt_weights", get(upstream::set_gpt_weights))
        .route("/set_sovits_weights", get(upstream::set_sovits_weights))
        .route("/health", get(info::health))
        .route("/metrics", get(info::metrics))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", super::openapi::ApiDoc::openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(ApiErrorKind::NotFound, format!("no route for `{}`; GET /docs lists the API", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(ApiErrorKind::MethodNotAllowed, format!("`{method}` is not allowed on `{}`", uri.path()))
}
