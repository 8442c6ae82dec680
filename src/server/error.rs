//! The server's one error type, its one status table, and the three JSON shapes it is rendered in.
//!
//! Handlers, extractors and middleware return [`ApiError`]. Its `IntoResponse` only sets the status
//! and stores the error as a response extension; [`render_errors`] (a middleware that knows the
//! request path) then writes the body in the shape of the route's API:
//! - native (`/v1/tts`, `/v1/voices`, ...): `{"error": msg, "error_type": kind, "param": field?}`
//! - OpenAI (`/v1/audio/*`, `/v1/models`): `{"error": {"message", "type", "param", "code"}}`
//! - upstream api_v2 (`/tts`): `{"message": msg, "error_type": kind}`
//!
//! Internal errors are logged with their detail; clients get a generic message and the request id.
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::{EngineError, ErrorKind};

/// Why a request failed; picks the status (see [`ApiErrorKind::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorKind {
    InvalidInput,
    UnknownVoice,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    /// The resource exists already or cannot change (a voice name taken, a configured voice).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Timeout,
    Overloaded,
    /// A configured storage limit would be exceeded (voice library).
    InsufficientStorage,
    Unavailable,
    Internal,
}

impl ApiErrorKind {
    /// THE status table: the only place a kind becomes an HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ApiErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ApiErrorKind::UnknownVoice => StatusCode::BAD_REQUEST,
            ApiErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiErrorKind::NotFound => StatusCode::NOT_FOUND,
            ApiErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiErrorKind::Conflict => StatusCode::CONFLICT,
            ApiErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ApiErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorKind::InvalidInput => "invalid_input",
            ApiErrorKind::UnknownVoice => "unknown_voice",
            ApiErrorKind::Unauthorized => "unauthorized",
            ApiErrorKind::NotFound => "not_found",
            ApiErrorKind::MethodNotAllowed => "method_not_allowed",
            ApiErrorKind::Conflict => "conflict",
            ApiErrorKind::PayloadTooLarge => "payload_too_large",
            ApiErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ApiErrorKind::Timeout => "timeout",
            ApiErrorKind::Overloaded => "overloaded",
            ApiErrorKind::InsufficientStorage => "insufficient_storage",
            ApiErrorKind::Unavailable => "unavailable",
            ApiErrorKind::Internal => "internal",
        }
    }

    /// OpenAI's `error.type` for this kind.
    fn openai_type(self) -> &'static str {
        match self {
            ApiErrorKind::Unauthorized => "authentication_error",
            ApiErrorKind::Overloaded => "rate_limit_error",
            ApiErrorKind::Unavailable | ApiErrorKind::Internal | ApiErrorKind::InsufficientStorage => "server_error",
            _ => "invalid_request_error",
        }
    }
}

/// A request failure: kind, a message naming the offending input, and the field at fault.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub message: String,
    pub param: Option<String>,
    /// Machine-readable code for OpenAI clients (`invalid_api_key`, `model_not_found`, ...).
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ApiErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into(), param: None, code: None }
    }

    /// Invalid value of one request field.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        ApiError { kind: ApiErrorKind::InvalidInput, message: message.into(), param: Some(param.into()), code: None }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Renames the field at fault (OpenAI calls `text` `input`).
    pub fn rename_param(mut self, from: &str, to: &str) -> Self {
        if self.param.as_deref() == Some(from) {
            self.param = Some(to.into());
            self.message = self.message.replace(&format!("`{from}`"), &format!("`{to}`"));
        }
        self
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let kind = match e.kind() {
            ErrorKind::InvalidInput => ApiErrorKind::InvalidInput,
            ErrorKind::UnknownVoice => ApiErrorKind::UnknownVoice,
            ErrorKind::Overloaded => ApiErrorKind::Overloaded,
            ErrorKind::Unavailable => ApiErrorKind::Unavailable,
            ErrorKind::Internal | ErrorKind::Cancelled => ApiErrorKind::Internal,
        };
        let code = match kind {
            ApiErrorKind::UnknownVoice => Some("voice_not_found"),
            ApiErrorKind::Overloaded => Some("queue_full"),
            _ => None,
        };
        ApiError { kind, message: e.to_string(), param: e.param().map(str::to_string), code }
    }
}

/// Seconds a client should wait before retrying a 429/503.
const RETRY_AFTER_S: &str = "1";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.kind.status().into_response();
        if matches!(self.kind, ApiErrorKind::Overloaded | ApiErrorKind::Unavailable) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
        }
        if self.kind == ApiErrorKind::Unauthorized {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"gsv-server\""));
        }
        res.extensions_mut().insert(self);
        res
    }
}

/// Which JSON shape a path's errors take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Native,
    OpenAi,
    Upstream,
}

impl Shape {
    pub fn for_path(path: &str) -> Shape {
        if path.starts_with("/v1/audio/") || path == "/v1/models" || path.starts_with("/v1/models/") {
            Shape::OpenAi
        } else if path == "/tts" || path == "/set_gpt_weights" || path == "/set_sovits_weights" {
            Shape::Upstream
        } else {
            Shape::Native
        }
    }
}

/// Native error body (also documents the shape in OpenAPI).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong, naming the offending input.
    pub error: String,
    pub error_type: ApiErrorKind,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
}

/// OpenAI error body: `{"error": {...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenAiErrorResponse {
    pub error: OpenAiError,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OpenAiError {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// Upstream api_v2 error body: `{"message": ...}` (plus our `error_type`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UpstreamErrorResponse {
    pub message: String,
    pub error_type: ApiErrorKind,
}

impl ApiError {
    /// The body of this error in `shape`.
    pub fn body(&self, shape: Shape) -> serde_json::Value {
        let v = match shape {
            Shape::Native => serde_json::to_value(ErrorResponse { error: self.message.clone(), error_type: self.kind, param: self.param.clone() }),
            Shape::OpenAi => serde_json::to_value(OpenAiErrorResponse {
                error: OpenAiError {
                    message: self.message.clone(),
                    kind: self.kind.openai_type().into(),
                    param: self.param.clone(),
                    code: Some(self.code.unwrap_or(self.kind.as_str()).to_string()),
                },
            }),
            Shape::Upstream => serde_json::to_value(UpstreamErrorResponse { message: self.message.clone(), error_type: self.kind }),
        };
        v.unwrap_or_else(|_| serde_json::json!({ "error": "internal error" }))
    }
}

/// Writes the body of every [`ApiError`] response in the shape of the request's route, logs 5xx
/// details, and hides internal details from the client.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let shape = Shape::for_path(req.uri().path());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let mut res = next.run(req).await;
    let mut err = match res.extensions_mut().remove::<ApiError>() {
        Some(err) => err,
        None if is_bare_error(&res) => {
            // An error answered by a layer or extractor we do not own (the timeout layer, a
            // WebSocket handshake, the docs' file server): same JSON shape as ours.
            let (parts, body) = res.into_parts();
            let text = axum::body::to_bytes(body, BARE_BODY_LIMIT).await.unwrap_or_default();
            let err = bare_error(parts.status, &String::from_utf8_lossy(&text));
            res = Response::from_parts(parts, axum::body::Body::empty());
            err
        }
        None => return res,
    };
    metrics::counter!(crate::engine::metric::ERRORS_TOTAL, "kind" => err.kind.as_str()).increment(1);
    if err.kind == ApiErrorKind::Internal {
        tracing::error!(request_id, "internal error: {}", err.message);
        err.message = format!("internal error (request id {request_id}); the server log has the details");
    } else if err.kind.status().is_server_error() {
        tracing::warn!(request_id, "{}: {}", err.kind.as_str(), err.message);
    }
    let (mut parts, _) = res.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = err.body(shape).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Most bytes of a foreign error body kept as its message.
const BARE_BODY_LIMIT: usize = 4096;

/// A 4xx/5xx response that is not JSON (so not one of ours).
fn is_bare_error(res: &Response) -> bool {
    let status = res.status();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    (status.is_client_error() || status.is_server_error()) && !json
}

/// An [`ApiError`] for a foreign error response: the kind from its status, its text (or the
/// status's reason) as the message. The status itself is kept as it was.
fn bare_error(status: StatusCode, text: &str) -> ApiError {
    let kind = match status {
        StatusCode::UNAUTHORIZED => ApiErrorKind::Unauthorized,
        StatusCode::NOT_FOUND => ApiErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiErrorKind::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiErrorKind::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ApiErrorKind::Timeout,
        StatusCode::TOO_MANY_REQUESTS => ApiErrorKind::Overloaded,
        StatusCode::SERVICE_UNAVAILABLE => ApiErrorKind::Unavailable,
        s if s.is_server_error() => ApiErrorKind::Internal,
        _ => ApiErrorKind::InvalidInput,
    };
    let text = text.trim();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text.to_string() };
    ApiError::new(kind, message)
}

/// `Json<T>` whose rejections are [`ApiError`]s naming the field at fault.
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(AppJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let status = rej.status();
    let text = rej.body_text();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(ApiErrorKind::PayloadTooLarge, "the request body is larger than limits.max_body_bytes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::new(ApiErrorKind::UnsupportedMediaType, "expected a JSON body with `Content-Type: application/json`")
        }
        _ => {
            let message = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
                .unwrap_or(&text)
                .to_string();
            let param = field_of(&message);
            ApiError { kind: ApiErrorKind::InvalidInput, message: format!("invalid JSON body: {message}"), param, code: None }
        }
    }
}

/// The field a serde message is about: "missing field `x`", "unknown field `x`", or "x: ...".
fn field_of(message: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    let head = message.split(": ").next()?;
    let ok = !head.is_empty() && head.len() < message.len() && head.chars().all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c));
    ok.then(|| head.to_string())
}

/// `Query<T>` whose rejections are [`ApiError`]s.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(AppQuery(v)),
            Err(rej) => Err(query_rejection(rej)),
        }
    }
}

fn query_rejection(rej: QueryRejection) -> ApiError {
    let text = rej.body_text();
    let message = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text).to_string();
    let param = field_of(&message);
    ApiError { kind: ApiErrorKind::InvalidInput, message: format!("invalid query string: {message}"), param, code: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_status() {
        assert_eq!(ApiErrorKind::Overloaded.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(ApiErrorKind::Unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ApiErrorKind::InvalidInput.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn shapes_follow_the_path() {
        assert_eq!(Shape::for_path("/v1/audio/speech"), Shape::OpenAi);
        assert_eq!(Shape::for_path("/v1/models"), Shape::OpenAi);
        assert_eq!(Shape::for_path("/tts"), Shape::Upstream);
        assert_eq!(Shape::for_path("/v1/tts"), Shape::Native);
        let e = ApiError::invalid("input", "`input` is empty");
        assert_eq!(
            e.body(Shape::OpenAi),
            serde_json::json!({"error": {"message": "`input` is empty", "type": "invalid_request_error", "param": "input", "code": "invalid_input"}})
        );
        assert_eq!(e.body(Shape::Upstream), serde_json::json!({"message": "`input` is empty", "error_type": "invalid_input"}));
    }

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(field_of("missing field `input` at line 1 column 2").as_deref(), Some("input"));
        assert_eq!(field_of("speed: invalid type: string \"x\", expected f32").as_deref(), Some("speed"));
        assert_eq!(field_of("expected value at line 1 column 1"), None);
    }
}
