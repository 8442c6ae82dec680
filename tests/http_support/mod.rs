//! Starting the real server on loopback for integration tests (TEI's `start_server` shape).
#![allow(dead_code)]
use std::path::PathBuf;
use std::time::Duration;

use gsv_server::config::{Settings, VoiceConfig};
use gsv_server::engine::{BackendFactory, Readiness};
use gsv_server::server::{start, RunningServer};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Settings on 127.0.0.1:0 with the fixture models and one voice `fixture` (English transcript of
/// the fixture reference clip, as in tests/fixtures/e2e_en).
pub fn fixture_settings() -> Settings {
    let f = fixtures();
    let mut s = Settings::default();
    s.server.bind = "127.0.0.1:0".into();
    s.engine.device = gsv_server::device::DeviceChoice::Cpu;
    s.models.gpt = f.join("models/gpt/tiny-v2-e15.ckpt");
    s.models.sovits = f.join("models/sovits/tiny-v2_e8_s96.pth");
    s.models.hubert = f.join("models/chinese-hubert-base-tiny");
    s.models.bert = f.join("models/chinese-roberta-wwm-ext-large-tiny");
    s.voices.insert(
        "fixture".into(),
        VoiceConfig {
            ref_audio: f.join("audio/ref_32k.wav"),
            transcript: "The quick brown fox jumps over the lazy dog.".into(),
            language: "en".into(),
            gpt: None,
            sovits: None,
            model: None,
            // Greedy, as the fixture's e2e_en run: the tiny random GPT then stops after a few tokens.
            top_k: Some(1),
            top_p: None,
            temperature: None,
            repetition_penalty: None,
            speed: None,
        },
    );
    // Small token chunks so even the tiny model's short outputs stream in several pieces.
    s.defaults.stream_chunk_tokens = 4;
    s.defaults.stream_first_chunk_tokens = 4;
    s
}

/// A text of `n` sentences (long jobs for queue and disconnect tests).
pub fn sentences(n: usize) -> String {
    (0..n).map(|i| format!("Sentence number {i} is here.")).collect::<Vec<_>>().join(" ")
}

/// Waits until the engine reports `n` active jobs.
pub async fn wait_for_active(engine: &gsv_server::engine::Engine, n: usize, limit: Duration) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < limit {
        if engine.active_jobs() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Starts the real server (the pipeline `engine::default_backend()` builds) on the fixture
/// models and waits until it is ready.
pub async fn fixture_server(settings: Settings) -> RunningServer {
    let s = start_server(settings, gsv_server::engine::default_backend(), Duration::from_secs(300)).await;
    let st = s.engine.status();
    assert_eq!(st.readiness, Readiness::Ready, "the fixture server is not ready: {st:?}");
    assert_eq!(st.voices.len(), 1, "the fixture voice did not load: {:?}", st.failed_voices);
    s
}

/// Settings whose model files do not exist: the server runs, reports what is missing, and
/// validates requests, but cannot synthesize.
pub fn no_model_settings() -> Settings {
    let mut s = fixture_settings();
    let missing = PathBuf::from("/nonexistent/gsv-models");
    s.models.gpt = missing.join("gpt.ckpt");
    s.models.sovits = missing.join("sovits.pth");
    s
}

/// Starts a server and waits until the engine has left `Loading` (up to `wait`).
pub async fn start_server(settings: Settings, factory: BackendFactory, wait: Duration) -> RunningServer {
    gsv_server::init_logging(false);
    let server = start(settings, factory).await.expect("the server starts");
    let mut status = server.engine.watch_status();
    let _ = tokio::time::timeout(wait, status.wait_for(|s| !matches!(s.readiness, Readiness::Loading { .. }))).await;
    server
}

pub async fn json(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let body = res.text().await.expect("body");
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, v)
}

/// What one WebSocket `synthesize` request gave: the PCM it streamed and its `done` event, or
/// its `error` event.
pub struct WsOutcome {
    pub pcm: Vec<i16>,
    pub end: Result<serde_json::Value, serde_json::Value>,
}

impl WsOutcome {
    /// The `done` event, panicking with the error event otherwise.
    pub fn done(&self) -> &serde_json::Value {
        self.end.as_ref().unwrap_or_else(|e| panic!("websocket error: {e}"))
    }
}

/// Sends `msg` (a `synthesize` message) on a new connection to `/v1/tts/stream` and reads until
/// its `done` or `error` event. Panics on an unexpected event or a socket closed before the end.
pub async fn ws_synthesize(addr: std::net::SocketAddr, msg: serde_json::Value) -> WsOutcome {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/tts/stream")).await.expect("websocket connects");
    ws.send(Message::Text(msg.to_string().into())).await.expect("websocket send");
    let mut pcm = Vec::new();
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Text(t) => {
                let e: serde_json::Value = serde_json::from_str(&t).expect("events are JSON");
                match e["type"].as_str().unwrap_or("") {
                    "done" => return WsOutcome { pcm, end: Ok(e) },
                    "error" => return WsOutcome { pcm, end: Err(e) },
                    "started" | "chunk" => {}
                    other => panic!("unexpected event {other}: {e}"),
                }
            }
            Message::Binary(b) => pcm.extend(b.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]))),
            _ => {}
        }
    }
    panic!("the socket closed before `done` of {msg}");
}
