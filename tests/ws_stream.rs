//! WebSocket streaming with the REAL pipeline on the fixture models: events and binary chunks,
//! first chunk before `done`, two requests on one socket, cancel by message and by closing.
mod http_support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_support::{fixture_server, fixture_settings, sentences, wait_for_active};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn synth(id: &str, text: &str) -> Message {
    Message::Text(json!({"type": "synthesize", "id": id, "text": text, "voice": "fixture"}).to_string().into())
}

#[tokio::test]
async fn websocket_streams_two_requests_and_reports_timings() {
    let s = fixture_server(fixture_settings()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await.unwrap();
    ws.send(synth("a", &sentences(3))).await.unwrap();
    ws.send(synth("b", "Hello there.")).await.unwrap();
    let mut samples: std::collections::HashMap<String, usize> = Default::default();
    let mut chunks_before_done: std::collections::HashMap<String, usize> = Default::default();
    let mut pending: Option<(String, usize)> = None;
    let mut done = 0;
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) => {
                assert!(pending.is_none(), "chunk event not followed by its binary frame");
                let e: Value = serde_json::from_str(&t).unwrap();
                let id = e["id"].as_str().unwrap_or("").to_string();
                match e["type"].as_str().unwrap() {
                    "started" => assert_eq!(e["sample_rate"], 32000),
                    "chunk" => {
                        *chunks_before_done.entry(id.clone()).or_default() += 1;
                        pending = Some((id, e["samples"].as_u64().unwrap() as usize));
                    }
                    "done" => {
                        assert!(e["timings"]["tokens"].as_u64().unwrap() > 0, "{e}");
                        assert!(e["timings"]["first_audio_seconds"].as_f64().unwrap() <= e["timings"]["inference_seconds"].as_f64().unwrap());
                        done += 1;
                        if done == 2 {
                            break;
                        }
                    }
                    other => panic!("unexpected event {other}: {e}"),
                }
            }
            Message::Binary(b) => {
                let (id, n) = pending.take().expect("binary frame without chunk event");
                assert_eq!(b.len(), 2 * n);
                *samples.entry(id).or_default() += n;
            }
            _ => {}
        }
    }
    assert_eq!(done, 2);
    assert!(chunks_before_done["a"] >= 2, "the long request streamed in several chunks");
    assert!(samples["a"] > 0 && samples["b"] > 0);
}

#[tokio::test]
async fn websocket_cancel_and_close_stop_the_job() {
    let s = fixture_server(fixture_settings()).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await.unwrap();
    ws.send(synth("long", &sentences(40))).await.unwrap();
    assert!(wait_for_active(&s.engine, 1, Duration::from_secs(30)).await);
    ws.send(Message::Text(json!({"type": "cancel", "id": "long"}).to_string().into())).await.unwrap();
    let mut cancelled = false;
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            let e: Value = serde_json::from_str(&t).unwrap();
            if e["type"] == "cancelled" {
                cancelled = true;
                break;
            }
        }
    }
    assert!(cancelled);
    assert!(wait_for_active(&s.engine, 0, Duration::from_secs(10)).await);
    ws.send(synth("again", &sentences(40))).await.unwrap();
    assert!(wait_for_active(&s.engine, 1, Duration::from_secs(30)).await);
    drop(ws);
    assert!(wait_for_active(&s.engine, 0, Duration::from_secs(10)).await, "closing the socket cancels the job");
}
