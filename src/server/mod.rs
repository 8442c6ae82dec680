//! HTTP/WebSocket server (axum). (to be written)
