//! The WebSocket route on a server without models: the protocol's error events (malformed
//! messages, validation, engine unavailable) arrive as JSON and the connection stays usable.
mod http_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn next_event(ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin)) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event in time") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text event, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn websocket_errors_are_events_and_the_socket_stays_open() {
    let s = http_support::start_server(http_support::no_model_settings(), gsv_server::engine::default_backend(), Duration::from_secs(10)).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await.unwrap();

    ws.send(Message::Text("not json".into())).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((e["type"].as_str(), e["id"].is_null(), e["error_type"].as_str()), (Some("error"), true, Some("invalid_input")), "{e}");

    ws.send(Message::Text(json!({"type": "synthesize", "id": "a", "text": "hi", "voice": "fixture", "speed": 9}).to_string().into())).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((e["id"].as_str(), e["param"].as_str()), (Some("a"), Some("speed")), "{e}");

    ws.send(Message::Text(json!({"type": "synthesize", "id": "b", "text": "hi", "voice": "fixture"}).to_string().into())).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((e["id"].as_str(), e["error_type"].as_str()), (Some("b"), Some("unavailable")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("scripts/download-models.sh"), "{e}");

    ws.send(Message::Text(json!({"type": "cancel", "id": "zzz"}).to_string().into())).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((e["id"].as_str(), e["type"].as_str()), (Some("zzz"), Some("error")), "{e}");

    ws.send(Message::Binary(vec![1u8, 2, 3].into())).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!(e["param"], "message", "{e}");
}

#[tokio::test]
async fn websocket_needs_the_api_key_when_one_is_set() {
    let mut settings = http_support::no_model_settings();
    settings.server.api_key = "sekrit".into();
    let s = http_support::start_server(settings, gsv_server::engine::default_backend(), Duration::from_secs(10)).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let ok = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream?api_key=sekrit", s.addr)).await;
    assert!(ok.is_ok(), "?api_key= opens the socket");
}
