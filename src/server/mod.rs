//! HTTP/WebSocket server (axum): the router, its layers, and starting/stopping it.
//!
//! `main` parses settings and calls [`run`]; tests call [`start`] (loopback, port 0) and get a
//! [`RunningServer`] with the bound address and the [`Engine`] handle.
pub mod error;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod respond;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{ConfigError, Settings};
use crate::engine::{BackendFactory, Engine, EngineError, RefAudio, SynthesisJob, VoiceSelect, VoiceSpec};
use crate::library::{Library, LibraryError};
use error::{ApiError, ApiErrorKind};

/// What handlers share: handles only (the models live on the engine thread).
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Voices uploaded over the API.
    pub library: Arc<Library>,
}

impl AppState {
    /// Validates a synthesis request ([`params::build_job`]); a voice from the library brings
    /// its own language and sampling defaults, as a configured voice does.
    pub fn build_job(&self, mut raw: params::RawParams) -> Result<SynthesisJob, ApiError> {
        if let Some(VoiceSelect::Named(name)) = &raw.voice {
            if !self.settings.voices.contains_key(name) {
                if let Some(m) = self.library.get(name) {
                    params::apply_voice_defaults(&mut raw, &m.language, &m.defaults);
                }
            }
        }
        params::build_job(&self.settings, raw)
    }

    /// Names of every voice a request may name: configured, then stored.
    pub fn voice_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.settings.voices.keys().cloned().collect();
        names.extend(self.library.list().into_iter().map(|m| m.name).filter(|n| !self.settings.voices.contains_key(n)));
        names
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Library(#[from] LibraryError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the router with every route and layer.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let x_request_id = HeaderName::from_static("x-request-id");
    let api = routes::router(state.clone())
        .route_layer(middleware::from_fn(metrics::track))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(axum::extract::DefaultBodyLimit::max(settings.limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.server.request_timeout_s.max(1)),
        ))
        .layer(middleware::from_fn(listen::limit_request_head));
    let mut router = api
        .layer(middleware::from_fn(error::render_errors))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid));
    if let Some(cors) = cors_layer(&settings.server.cors_origins) {
        router = router.layer(cors);
    }
    router
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let expose = ["x-request-id", "location", "x-seed", "x-sample-rate", "x-queue-time-ms", "x-inference-time-ms", "x-time-to-first-audio-ms", "x-audio-seconds"];
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers(expose.map(HeaderName::from_static)),
    )
}

/// Paths open without the API key: probes, metrics scrapers, the API description, and the
/// playground page (it asks for the key itself and sends it with every API call).
fn is_public(path: &str) -> bool {
    path == "/health"
        || path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || path == "/"
        || path == "/playground"
        || path == "/playground/app.js"
}

/// Bearer-token check when `server.api_key` is set. WebSocket clients (browsers cannot set headers
/// on an upgrade) may pass `?api_key=` instead.
async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let key = state.settings.server.api_key.as_str();
    if key.is_empty() || is_public(req.uri().path()) || req.method() == Method::OPTIONS {
        return Ok(next.run(req).await);
    }
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    let query_key = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("api_key=")))
        .filter(|_| req.uri().path() == "/v1/tts/stream");
    let given = bearer.or(query_key);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), key.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::new(ApiErrorKind::Unauthorized, "invalid API key").with_code("invalid_api_key")),
        None => Err(ApiError::new(ApiErrorKind::Unauthorized, "missing API key: send `Authorization: Bearer <key>`")
            .with_code("invalid_api_key")),
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme name is case-insensitive
/// (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A server listening in the background (tests; `run` waits on one).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub engine: Engine,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl RunningServer {
    /// `http://ADDR` for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Graceful shutdown: stops accepting, lets in-flight requests finish.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.await {
            Ok(r) => r.map_err(ServerError::from),
            Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
        }
    }

    /// Waits until the server ends (after ctrl-c / SIGTERM when started by [`run`]).
    async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(r) => r.map_err(ServerError::from),
            Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Starts the engine (loading goes on in the background) and the HTTP server on
/// `settings.server.bind` (port 0 picks a free one); returns once it listens.
pub async fn start(settings: Settings, factory: BackendFactory) -> Result<RunningServer, ServerError> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    start_with_shutdown(settings, factory, async move {
        let _ = rx.await;
    })
    .await
    .map(|mut s| {
        s.shutdown = Some(tx);
        s
    })
}

async fn start_with_shutdown(
    settings: Settings,
    factory: BackendFactory,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServerError> {
    settings.validate()?;
    // Process-wide, like the frontend's dictionaries; without it `auto`/`auto_yue` answer 503.
    match gsv_text::lid::init(&settings.text.lid_model) {
        Ok(d) => tracing::info!(path = %d.path().display(), "language identifier loaded"),
        Err(e) => tracing::warn!(error = %e, "language identifier unavailable: `auto`/`auto_yue` requests will fail"),
    }
    let addr = settings.bind_addr()?;
    let metrics = metrics::handle().map_err(ServerError::Metrics)?;
    let library = Arc::new(Library::open(&settings.voice_library)?);
    metrics::spawn_upkeep(metrics.clone());
    let mut options = settings.engine_options();
    // Stored voices are prepared at start like configured ones (a configured voice of the same
    // name wins; uploads cannot take a configured name, so this only happens after a config edit).
    for m in library.list() {
        match library.clip_path(&m) {
            Some(clip) if !settings.voices.contains_key(&m.name) => options.voices.push(VoiceSpec {
                name: m.name.clone(),
                ref_audio: RefAudio::Path(clip),
                transcript: m.transcript.clone(),
                language: m.language.clone(),
                gpt: None,
                sovits: None,
                model: m.model.clone(),
            }),
            _ => tracing::warn!(voice = %m.name, "a configured voice has the name of a stored voice; serving the configured one"),
        }
    }
    let engine = Engine::start(options, factory)?;
    let header_read_timeout = Duration::from_secs(settings.server.header_read_timeout_s.max(1));
    let state = AppState { engine: engine.clone(), settings: Arc::new(settings), metrics, library };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    let router = app(state);
    let task = tokio::spawn(listen::serve(listener, router, header_read_timeout, shutdown));
    Ok(RunningServer { addr, engine, shutdown: None, task })
}

/// Runs the server until ctrl-c or SIGTERM.
pub async fn run(settings: Settings, factory: BackendFactory) -> Result<(), ServerError> {
    start_with_shutdown(settings, factory, shutdown_signal()).await?.wait().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests;
