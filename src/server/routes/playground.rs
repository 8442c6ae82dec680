//! The browser playground: one static page (HTML + CSS, and its script) compiled into the binary,
//! so it works offline and needs no build step. `/` links to it and to the API docs.
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

const INDEX: &str = include_str!("../playground/index.html");
const PAGE: &str = include_str!("../playground/playground.html");
const SCRIPT: &str = include_str!("../playground/app.js");

/// `/`: what this server is, with links to the playground and the API docs.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// `/playground`: speak with any voice, streamed over the WebSocket; upload or record voices.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}
