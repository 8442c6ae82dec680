//! Synthesis through every HTTP route with the REAL pipeline on the fixture models (tiny random
//! weights: the audio is noise-like, but it is computed by the real GPT + SoVITS, so lengths,
//! formats, streaming and cancellation are real).
mod http_support;

use std::io::Cursor;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt;
use http_support::{fixture_server, fixture_settings, fixtures, sentences, wait_for_active, ws_synthesize};
use serde_json::json;

fn wav_samples(bytes: &[u8]) -> (u32, Vec<i16>) {
    let mut r = hound::WavReader::new(Cursor::new(bytes)).expect("a WAV file");
    let rate = r.spec().sample_rate;
    (rate, r.samples::<i16>().map(|s| s.expect("sample")).collect())
}

#[tokio::test]
async fn every_route_synthesizes() {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    let u = s.url();

    // Native, each format.
    for format in ["wav", "pcm", "mp3", "opus", "flac"] {
        let r = c.post(format!("{u}/v1/tts")).json(&json!({"text": "Hello there.", "voice": "fixture", "seed": 5, "format": format})).send().await.unwrap();
        assert_eq!(r.status(), 200, "{format}: {}", r.text().await.unwrap_or_default());
        assert_eq!(r.headers()["x-seed"], "5");
        assert!(r.headers()["x-semantic-tokens"].to_str().unwrap().parse::<u32>().unwrap() > 0);
        let body = r.bytes().await.unwrap();
        match format {
            "wav" => {
                let (rate, x) = wav_samples(&body);
                assert_eq!(rate, 32_000);
                assert!(x.len() > 3200 && x.iter().any(|v| *v != 0), "{} samples", x.len());
            }
            "pcm" => assert!(body.len() > 6400 && body.len() % 2 == 0),
            "mp3" => assert!(body.len() > 200 && (body[0] == 0xFF || &body[..3] == b"ID3")),
            "opus" => assert_eq!(&body[..4], b"OggS"),
            _ => assert_eq!(&body[..4], b"fLaC"),
        }
    }

    // Upstream GET and POST, by the configured clip's path.
    let clip = fixtures().join("audio/ref_32k.wav");
    let clip = clip.to_str().unwrap();
    let r = c
        .get(format!("{u}/tts"))
        .query(&[
            ("text", "Hello there."),
            ("text_lang", "en"),
            ("ref_audio_path", clip),
            ("prompt_text", "The quick brown fox jumps over the lazy dog."),
            ("prompt_lang", "en"),
            ("top_k", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (rate, x) = wav_samples(&r.bytes().await.unwrap());
    assert_eq!((rate, x.is_empty()), (32_000, false));
    let r = c
        .post(format!("{u}/tts"))
        .json(&json!({"text": "Hello there.", "text_lang": "en", "ref_audio_path": clip, "prompt_text": "", "prompt_lang": "en", "top_k": 1, "media_type": "raw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "reference-free mode through /tts");
    assert!(r.bytes().await.unwrap().len() > 1000);

    // Inline reference: base64 JSON and multipart upload.
    let clip_bytes = std::fs::read(fixtures().join("audio/ref_32k.wav")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&clip_bytes);
    let r = c
        .post(format!("{u}/v1/tts"))
        .json(&json!({"text": "Hello there.", "top_k": 1, "reference": {"audio_base64": b64, "transcript": "The quick brown fox jumps over the lazy dog.", "language": "en"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let form = reqwest::multipart::Form::new()
        .text("request", json!({"text": "Hello there.", "top_k": 1, "reference": {"transcript": "The quick brown fox jumps over the lazy dog.", "language": "en"}}).to_string())
        .part("reference_audio", reqwest::multipart::Part::bytes(clip_bytes).file_name("ref.wav"));
    let r = c.post(format!("{u}/v1/tts")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!wav_samples(&r.bytes().await.unwrap()).1.is_empty());

    // OpenAI.
    let r = c.post(format!("{u}/v1/audio/speech")).json(&json!({"model": "tts-1", "input": "Hello there.", "voice": "fixture", "response_format": "wav"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.bytes().await.unwrap().is_empty());

    // An undecodable inline clip fails that request only.
    let r = c
        .post(format!("{u}/v1/tts"))
        .json(&json!({"text": "Hello.", "reference": {"audio_base64": base64::engine::general_purpose::STANDARD.encode(b"not audio"), "language": "en"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error_type"], "invalid_input", "{e}");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_audio() {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    let body = json!({"text": "Please call me when you get to the station.", "voice": "fixture", "seed": 1234, "top_k": 5});
    let a = c.post(format!("{}/v1/tts", s.url())).json(&body).send().await.unwrap().bytes().await.unwrap();
    let b = c.post(format!("{}/v1/tts", s.url())).json(&body).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_server_warmed_up_at_load_says_what_a_cold_one_says() {
    // `[engine] warmup = "on"`: a short synthesis as the model loads (on a GPU by default) must
    // leave nothing behind that changes a request's audio, streamed or whole.
    let mut warm_settings = fixture_settings();
    warm_settings.engine.warmup = gsv_server::device::Switch::On;
    let (cold, warm) = (fixture_server(fixture_settings()).await, fixture_server(warm_settings).await);
    let c = reqwest::Client::new();
    // /health says the warm-up ran, and how long it took (nothing when it is off).
    let model = |h: serde_json::Value| h["models"][0].clone();
    let health = |u: String| { let c = c.clone(); async move { c.get(format!("{u}/health")).send().await.unwrap().json::<serde_json::Value>().await.unwrap() } };
    let (cold_model, warm_model) = (model(health(cold.url()).await), model(health(warm.url()).await));
    assert!(warm_model["warm_up_seconds"].as_f64().is_some_and(|s| s > 0.0), "{warm_model}");
    assert!(warm_model.get("warm_up_error").is_none() && cold_model.get("warm_up_seconds").is_none(), "{warm_model} / {cold_model}");
    for stream in [false, true] {
        let body = json!({"text": "Please call me when you get to the station.", "voice": "fixture", "seed": 77, "top_k": 5, "stream": stream});
        let a = c.post(format!("{}/v1/tts", cold.url())).json(&body).send().await.unwrap().bytes().await.unwrap();
        let b = c.post(format!("{}/v1/tts", warm.url())).json(&body).send().await.unwrap().bytes().await.unwrap();
        assert!(a.len() > 6400, "stream {stream}: {} bytes", a.len());
        assert_eq!(a, b, "stream {stream}");
    }
}

#[tokio::test]
async fn http_stream_delivers_audio_before_the_job_ends() {
    let s = fixture_server(fixture_settings()).await;
    let t0 = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tts", s.url()))
        .json(&json!({"text": sentences(6), "voice": "fixture", "stream": true, "format": "pcm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_at = t0.elapsed();
    let still_running = s.engine.active_jobs() == 1;
    let mut pieces = 1;
    let mut total = first.len();
    while let Some(b) = body.next().await {
        total += b.unwrap().len();
        pieces += 1;
    }
    let end_at = t0.elapsed();
    assert!(still_running, "the job had already ended when the first chunk arrived");
    assert!(pieces >= 2 && first_at < end_at, "first {first_at:?}, end {end_at:?}, {pieces} pieces");
    assert!(total > 32_000, "{total} bytes");
}

#[tokio::test]
async fn a_disconnect_cancels_the_job() {
    let s = fixture_server(fixture_settings()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tts", s.url()))
        .json(&json!({"text": sentences(40), "voice": "fixture", "stream": true, "format": "pcm"}))
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(s.engine.active_jobs(), 1);
    drop(body);
    assert!(wait_for_active(&s.engine, 0, Duration::from_secs(10)).await, "the job counter did not drop after the client left");
    let metrics = reqwest::get(format!("{}/metrics", s.url())).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gsv_jobs_total{outcome=\"cancelled\"}"), "{metrics}");
}

#[tokio::test]
async fn a_full_queue_answers_429() {
    let mut settings = fixture_settings();
    settings.engine.queue_size = 1;
    settings.engine.max_batch = 1;
    let s = fixture_server(settings).await;
    let c = reqwest::Client::new();
    let long = json!({"text": sentences(40), "voice": "fixture", "stream": true, "format": "pcm"});
    let a = c.post(format!("{}/v1/tts", s.url())).json(&long).send().await.unwrap();
    assert!(wait_for_active(&s.engine, 1, Duration::from_secs(30)).await);
    let (url, body) = (s.url(), long.clone());
    let b = tokio::spawn(async move { reqwest::Client::new().post(format!("{url}/v1/tts")).json(&body).send().await });
    let t0 = Instant::now();
    while s.engine.queued() < 1 && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = c.post(format!("{}/v1/tts", s.url())).json(&json!({"text": "hi", "voice": "fixture"})).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error_type"], "overloaded");
    drop(a);
    b.abort();
}

/// `languages` through /v1/tts, the OpenAI route (`language` extension) and the WebSocket, and
/// `upstream_text` through api_v2's /tts with `text_lang = languages[0]`: every route gives audio.
async fn speaks_on_every_route(languages: [&str; 2], text: &str, upstream_text: &str) {
    let s = fixture_server(fixture_settings()).await;
    let c = reqwest::Client::new();
    let u = s.url();
    for language in languages {
        let body = json!({"text": text, "voice": "fixture", "language": language, "seed": 3, "top_k": 1});
        let r = c.post(format!("{u}/v1/tts")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{language}: {}", r.text().await.unwrap_or_default());
        let (rate, x) = wav_samples(&r.bytes().await.unwrap());
        assert!(rate == 32_000 && x.len() > 3200 && x.iter().any(|v| *v != 0), "{language}: {} samples", x.len());

        let body = json!({"model": "tts-1", "input": text, "voice": "fixture", "response_format": "pcm", "language": language});
        let r = c.post(format!("{u}/v1/audio/speech")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "openai {language}: {}", r.text().await.unwrap_or_default());
        assert!(r.bytes().await.unwrap().len() > 1000, "openai {language}");

        let msg = json!({"type": "synthesize", "id": "t", "text": text, "voice": "fixture", "language": language, "top_k": 1});
        let out = ws_synthesize(s.addr, msg).await;
        assert!(out.end.is_ok(), "websocket {language}: {:?}", out.end);
        assert!(out.pcm.len() > 500, "websocket {language}: {} samples", out.pcm.len());
    }
    let clip = fixtures().join("audio/ref_32k.wav");
    let r = c
        .get(format!("{u}/tts"))
        .query(&[
            ("text", upstream_text),
            ("text_lang", languages[0]),
            ("ref_audio_path", clip.to_str().unwrap()),
            ("prompt_text", "The quick brown fox jumps over the lazy dog."),
            ("prompt_lang", "en"),
            ("top_k", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let (_, x) = wav_samples(&r.bytes().await.unwrap());
    assert!(!x.is_empty());
}

#[tokio::test]
async fn korean_text_synthesizes_on_every_route() {
    // Korean runs through the pure-Rust MeCab on mecab-ko-dic (scripts/setup.sh installs it).
    speaks_on_every_route(["ko", "all_ko"], "안녕하세요, 만나서 반갑습니다. 사과 3개 주세요!", "오늘 날씨가 정말 좋네요.").await;
}

#[tokio::test]
async fn japanese_text_synthesizes_on_every_route() {
    // Japanese runs through OpenJTalk's analysis on naist-jdic (scripts/setup.sh installs it).
    speaks_on_every_route(["ja", "all_ja"], "こんにちは、今日はいい天気ですね。りんごを3個ください！", "東京から大阪まで新幹線で行きます。").await;
}
