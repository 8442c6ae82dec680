//! The attacker-style campaign of issue 17, made permanent: each hostile input (and its
//! neighbours) against the REAL server on loopback with the fixture models — status, JSON body,
//! a time bound, and that a small request sent alongside still completes promptly.
mod http_support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use http_support::{fixture_server, fixture_settings, fixtures, json};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A 16-bit PCM WAV whose header declares `rate` and `channels` over `data`.
fn wav(rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(2 * channels as u32).to_le_bytes());
    h.extend_from_slice(&(2 * channels).to_le_bytes());
    h.extend_from_slice(&16u16.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&(data.len() as u32).to_le_bytes());
    h.extend_from_slice(data);
    h
}

fn inline_body(clip: &[u8], transcript: &str) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(clip);
    json!({"text": "Hello there.", "format": "pcm", "reference": {"audio_base64": b64, "transcript": transcript, "language": "en"}})
}

/// A small request on the configured voice: completes, and promptly.
async fn small_request_completes(url: &str, within: Duration) {
    let t0 = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/tts"))
        .json(&json!({"text": "Hi.", "voice": "fixture", "format": "pcm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().await.unwrap().is_empty());
    assert!(t0.elapsed() < within, "a small request took {:?} beside the hostile one", t0.elapsed());
}

#[tokio::test]
async fn hostile_reference_headers_are_refused_before_any_work() {
    let s = fixture_server(fixture_settings()).await;
    let url = s.url();
    let c = reqwest::Client::new();
    // Issue 17 #1: 44-byte header claiming 1 Hz + 16 kB of zeros (8000 s "long"), and neighbours:
    // absurd channel counts, a header that lies about its length, a clip just too long.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("1 Hz", wav(1, 1, &[0u8; 16_000]), "1 Hz"),
        ("3 Hz × 160 kB", wav(3, 1, &vec![0u8; 160_000]), "3 Hz"),
        // (symphonia may refuse it itself; either way it is a fast 400)
        ("300 channels", wav(16_000, 300, &vec![0u8; 6_000]), ""),
        ("61 s at 8 kHz", wav(8_000, 1, &vec![0u8; 976_000]), "at most 10 s"),
    ];
    for (what, clip, needle) in cases {
        let t0 = Instant::now();
        let small = tokio::spawn({
            let url = url.clone();
            async move { small_request_completes(&url, Duration::from_secs(20)).await }
        });
        let (status, e) = json(c.post(format!("{url}/v1/tts")).json(&inline_body(&clip, "")).send().await.unwrap()).await;
        let took = t0.elapsed();
        assert_eq!(status, 400, "{what}: {e}");
        assert_eq!(e["error_type"], "invalid_input", "{what}: {e}");
        assert!(e["error"].as_str().unwrap().contains(needle), "{what}: {e}");
        assert!(took < Duration::from_secs(3), "{what}: refused after {took:?}");
        small.await.unwrap();
    }
}

#[tokio::test]
async fn transcripts_and_free_text_are_bounded_before_any_work() {
    let mut settings = fixture_settings();
    settings.upstream.allowed_ref_dirs = vec![fixtures().join("audio")];
    let s = fixture_server(settings).await;
    let c = reqwest::Client::new();
    let clip = std::fs::read(fixtures().join("audio/ref_32k.wav")).unwrap();
    // Issue 17 #2: a 2000-character transcript cost seconds and hundreds of MB.
    let t0 = Instant::now();
    let (status, e) = json(c.post(format!("{}/v1/tts", s.url())).json(&inline_body(&clip, &"word ".repeat(400))).send().await.unwrap()).await;
    assert_eq!((status, e["param"].as_str()), (400, Some("reference.transcript")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("the limit is 512"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The same on /tts (`prompt_text`), in the upstream error shape.
    let clip_path = fixtures().join("audio/ref_32k.wav").display().to_string();
    let body = json!({"text": "Hello.", "text_lang": "en", "ref_audio_path": clip_path, "prompt_lang": "en", "prompt_text": "x".repeat(2000)});
    let (status, e) = json(c.post(format!("{}/tts", s.url())).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("`prompt_text` has 2000 characters"), "{e}");
    // A long unknown value is not echoed back whole.
    let (status, e) = json(c.post(format!("{}/v1/tts", s.url())).json(&json!({"text": "Hi.", "voice": "fixture", "language": "x".repeat(100_000)})).send().await.unwrap()).await;
    assert_eq!((status, e["param"].as_str()), (400, Some("language")));
    assert!(e["error"].as_str().unwrap().len() < 400, "error echoes {} bytes", e["error"].as_str().unwrap().len());
    // OpenAI's ignored `instructions` is bounded too.
    let body = json!({"model": "tts-1", "input": "Hi.", "voice": "fixture", "instructions": "x".repeat(5000)});
    let (status, e) = json(c.post(format!("{}/v1/audio/speech", s.url())).json(&body).send().await.unwrap()).await;
    assert_eq!((status, e["error"]["param"].as_str()), (400, Some("instructions")), "{e}");
    // A transcript within the limit is served.
    let r = c.post(format!("{}/v1/tts", s.url())).json(&inline_body(&clip, "The quick brown fox jumps over the lazy dog.")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sampling_settings_that_never_stop_are_refused() {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    // Issue 17 #5: repetition_penalty 1e-38 made every sentence run to the 1500-token cap.
    for (field, value) in [("repetition_penalty", json!(1e-38)), ("repetition_penalty", json!(0.5)), ("temperature", json!(5.0)), ("top_k", json!(0))] {
        let mut body = json!({"text": "Hello there.", "voice": "fixture"});
        body[field] = value.clone();
        let t0 = Instant::now();
        let (status, e) = json(c.post(format!("{}/v1/tts", s.url())).json(&body).send().await.unwrap()).await;
        assert_eq!((status, e["param"].as_str()), (400, Some(field)), "{field}={value}: {e}");
        assert!(t0.elapsed() < Duration::from_secs(1));
        // Upstream's route refuses it too, in its shape.
        let q = format!("{}/tts?text=Hi&text_lang=en&ref_audio_path={}&prompt_lang=en&{field}={value}", s.url(), fixtures().join("audio/ref_32k.wav").display());
        let (status, e) = json(c.get(q).send().await.unwrap()).await;
        assert_eq!(status, 400, "{e}");
    }
    // The edges of the ranges are served.
    let body = json!({"text": "Hi.", "voice": "fixture", "repetition_penalty": 1.0, "temperature": 2.0, "format": "pcm"});
    assert_eq!(c.post(format!("{}/v1/tts", s.url())).json(&body).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn junk_methods_do_not_mint_metric_series() {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    // Issue 17 #3: every distinct method name became a series, kept for ever.
    for i in 0..40 {
        for path in ["/v1/tts", "/health", "/docs/", "/docs/x.js", "/nope"] {
            let m = reqwest::Method::from_bytes(format!("JUNK{i}X").as_bytes()).unwrap();
            let r = c.request(m, format!("{}{path}", s.url())).send().await.unwrap();
            assert!(r.status().is_client_error(), "{path}: {}", r.status());
            let (_, e) = json(r).await;
            assert!(e["error"].is_string(), "{path}: {e}");
        }
    }
    let text = c.get(format!("{}/metrics", s.url())).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("JUNK"), "a junk method became a label");
}

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off() {
    let mut settings = fixture_settings();
    settings.server.header_read_timeout_s = 1;
    let s = fixture_server(settings).await;
    // Issue 17 #4 (slowloris): half a request head used to hold the connection for minutes.
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 5 s");
    assert!(t0.elapsed() >= Duration::from_millis(900), "closed before the timeout: {:?}", t0.elapsed());
    // An idle keep-alive connection is closed the same way; a prompt request is served.
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    sock.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the idle keep-alive connection was still open after 5 s");
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf));
}

#[tokio::test]
async fn a_model_set_that_cannot_speak_chinese_says_so_at_load_and_answers_400() {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    // Issue 17 #9: the fixture BERT (64 wide) does not fit the GPT (1024): known at load time.
    let (status, h) = json(c.get(format!("{}/health", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let l = h["limitations"].as_array().expect("limitations listed");
    assert!(l.iter().any(|x| x.as_str().unwrap().contains("Chinese")), "{h}");
    let r = c.post(format!("{}/v1/tts", s.url())).json(&json!({"text": "你好，世界。", "language": "zh", "voice": "fixture"})).send().await.unwrap();
    assert!(r.headers().get("retry-after").is_none(), "no retry can cure it");
    let (status, e) = json(r).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("cannot speak Chinese"), "{e}");
    // Issue 17 #8: nine such requests at once on one WebSocket (at most 4 may run there) are
    // refused before they take a place: each gets this reason, none "at most 4 may run".
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await.unwrap();
    for i in 0..9 {
        let m = json!({"type": "synthesize", "id": format!("z{i}"), "text": "你好。", "language": "zh", "voice": "fixture"});
        ws.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    for _ in 0..9 {
        let e: Value = loop {
            match ws.next().await.expect("socket open").unwrap() {
                Message::Text(t) => break serde_json::from_str(&t).unwrap(),
                _ => continue,
            }
        };
        assert_eq!(e["type"], "error", "{e}");
        assert!(e["error"].as_str().unwrap().contains("cannot speak Chinese"), "{e}");
    }
}

#[tokio::test]
async fn token_streaming_reports_all_the_audio_it_sent() {
    let mut settings = fixture_settings();
    settings.defaults.stream_first_chunk_tokens = 1;
    settings.defaults.stream_chunk_tokens = 1;
    let s = fixture_server(settings).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/v1/tts/stream", s.addr)).await.unwrap();
    let text = "The quick brown fox jumps over the lazy dog. It was a bright cold day in April.";
    ws.send(Message::Text(json!({"type": "synthesize", "id": "a", "text": text, "voice": "fixture", "fragment_interval": 0.0}).to_string().into()))
        .await
        .unwrap();
    let (mut sent, mut chunks) = (0usize, 0usize);
    let done = loop {
        match ws.next().await.expect("socket open").unwrap() {
            Message::Text(t) => {
                let e: Value = serde_json::from_str(&t).unwrap();
                match e["type"].as_str().unwrap() {
                    "chunk" => {
                        chunks += 1;
                        sent += e["samples"].as_u64().unwrap() as usize;
                    }
                    "done" => break e,
                    "started" => {}
                    other => panic!("{other}: {e}"),
                }
            }
            Message::Binary(_) => {}
            _ => {}
        }
    };
    let sentences = 2;
    assert!(chunks > sentences, "the test needs chunks inside sentences ({chunks} chunks)");
    // Issue 17 #6: only each sentence's last chunk was counted.
    assert_eq!(done["timings"]["samples"].as_u64().unwrap() as usize, sent, "{done}");
    let secs = done["timings"]["audio_seconds"].as_f64().unwrap();
    assert!((secs - sent as f64 / 32_000.0).abs() < 1e-6, "{done}");
}

#[tokio::test]
async fn contract_gaps_are_closed() {
    let mut settings = fixture_settings();
    settings.limits.max_body_bytes = 64 * 1024;
    settings.upstream.allowed_ref_dirs = vec![std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))];
    let s = fixture_server(settings).await;
    let c = reqwest::Client::new();
    let request_part = || reqwest::multipart::Part::text(json!({"text": "Hi.", "reference": {"transcript": "", "language": "en"}}).to_string());
    // Over the body limit as multipart: 413, as for JSON.
    let form = reqwest::multipart::Form::new()
        .part("request", request_part())
        .part("reference_audio", reqwest::multipart::Part::bytes(vec![0u8; 100 * 1024]).file_name("a.wav"));
    let (status, e) = json(c.post(format!("{}/v1/tts", s.url())).multipart(form).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (413, Some("payload_too_large")), "{e}");
    // A part sent twice is refused, not silently replaced.
    let form = reqwest::multipart::Form::new().part("request", request_part()).part("request", request_part());
    let (status, e) = json(c.post(format!("{}/v1/tts", s.url())).multipart(form).send().await.unwrap()).await;
    assert_eq!((status, e["param"].as_str()), (400, Some("request")), "{e}");
    // An oversized request head (a 50 KB query string, a 100 KB header) is a JSON 431; a request
    // under the limit is served.
    // (Sent raw: HTTP clients refuse URLs this long.)
    let head = format!("GET /tts?text={} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", "a".repeat(50_000));
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), sock.read_to_end(&mut answer)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{:.300}", answer);
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("a JSON body");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("request head")), "{body}");
    let (status, e) = json(c.get(format!("{}/v1/voices", s.url())).header("x-junk", "b".repeat(100_000)).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (431, Some("invalid_input")), "{e}");
    let (status, _) = json(c.get(format!("{}/v1/voices", s.url())).header("x-junk", "b".repeat(20_000)).send().await.unwrap()).await;
    assert_eq!(status, 200);
    // Errors answered outside our handlers are JSON too.
    let (status, e) = json(c.get(format!("{}/v1/tts/stream", s.url())).send().await.unwrap()).await;
    assert!(status == 400 || status == 426, "{status}: {e}");
    assert!(e["error"].is_string(), "{e}");
    let (status, e) = json(c.get(format!("{}/docs/no-such-file.js", s.url())).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (404, Some("not_found")), "{e}");
    // A /tts clip that fails names the path as sent, never the server's absolute path.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("bad.wav"), b"RIFF not really a wav file").unwrap();
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap();
    let relative = dir.path().canonicalize().unwrap().strip_prefix(&manifest).map(|p| p.join("bad.wav")).ok();
    if let Some(rel) = relative {
        let body = json!({"text": "Hi.", "text_lang": "en", "ref_audio_path": rel, "prompt_lang": "en", "prompt_text": ""});
        let (status, e) = json(c.post(format!("{}/tts", s.url())).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 400, "{e}");
        let msg = e["message"].as_str().unwrap();
        assert!(!msg.contains(&manifest.display().to_string()), "absolute path revealed: {msg}");
        assert!(msg.contains(&rel.display().to_string()), "{msg}");
    } else {
        panic!("CARGO_TARGET_TMPDIR is expected under the manifest dir");
    }
}

#[tokio::test]
async fn bearer_is_case_insensitive_and_401_says_how_to_authenticate() {
    let mut settings = fixture_settings();
    settings.server.api_key = "s3cret".into();
    let s = fixture_server(settings).await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/v1/voices", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{:?}", r.headers());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = c.get(format!("{}/v1/voices", s.url())).header("authorization", format!("{scheme} s3cret")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = c.get(format!("{}/v1/voices", s.url())).header("authorization", "Basic s3cret").send().await.unwrap();
    assert_eq!(r.status(), 401);
}
