//! The real server on loopback with NO model files: it must start, say plainly what is missing,
//! and answer every malformed request with the right status and JSON shape (validation happens
//! before a job is queued, so no model is needed). Also: 404/405, auth, CORS, body limits, metrics.
mod http_support;

use std::time::Duration;

use http_support::{json, no_model_settings, start_server};
use serde_json::json;

async fn no_model_server() -> gsv_server::server::RunningServer {
    let mut s = no_model_settings();
    s.limits.max_body_bytes = 64 * 1024;
    start_server(s, gsv_server::engine::default_backend(), Duration::from_secs(10)).await
}

#[tokio::test]
async fn health_says_which_models_are_missing_and_how_to_get_them() {
    let s = no_model_server().await;
    let (status, h) = json(reqwest::get(format!("{}/health", s.url())).await.unwrap()).await;
    assert_eq!(status, 503);
    assert_eq!(h["status"], "no_models");
    let missing: Vec<&str> = h["missing"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(missing, vec!["gpt model /nonexistent/gsv-models/gpt.ckpt", "sovits model /nonexistent/gsv-models/sovits.pth"]);
    assert!(h["hint"].as_str().unwrap().contains("scripts/download-models.sh"), "{h}");
    assert_eq!(h["voices"], 0);
    assert_eq!(h["active_jobs"], 0);
}

#[tokio::test]
async fn synthesis_without_models_is_503_with_the_reason_in_each_shape() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let r = c.post(format!("{}/v1/tts", s.url())).json(&json!({"text": "hello", "voice": "fixture"})).send().await.unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    let (status, e) = json(r).await;
    assert_eq!(status, 503);
    assert_eq!(e["error_type"], "unavailable");
    assert!(e["error"].as_str().unwrap().contains("scripts/download-models.sh"), "{e}");

    // OpenAI: voice as an object is accepted; the failure is the missing models.
    let (status, e) = json(
        c.post(format!("{}/v1/audio/speech", s.url()))
            .json(&json!({"model": "tts-1", "input": "hello", "voice": {"id": "fixture"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(e["error"]["type"], "server_error");
    assert_eq!(e["error"]["code"], "unavailable");

    let clip = http_support::fixtures().join("audio/ref_32k.wav");
    let (status, e) = json(
        c.get(format!("{}/tts", s.url()))
            .query(&[("text", "hello"), ("text_lang", "en"), ("ref_audio_path", clip.to_str().unwrap()), ("prompt_lang", "en")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(e["error_type"], "unavailable");
    assert!(e["message"].as_str().unwrap().contains("no models"), "{e}");
}

/// (route, body, expected status, expected `param`, words the message must contain)
async fn expect_native(c: &reqwest::Client, url: &str, body: serde_json::Value, param: Option<&str>, words: &str) {
    let (status, e) = json(c.post(format!("{url}/v1/tts")).json(&body).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body} → {e}");
    assert_eq!(e["error_type"], "invalid_input", "{e}");
    assert_eq!(e.get("param").and_then(|p| p.as_str()), param, "{e}");
    assert!(e["error"].as_str().unwrap().contains(words), "`{words}` not in {e}");
    assert_eq!(e.as_object().unwrap().len(), if param.is_some() { 3 } else { 2 }, "native shape: {e}");
}

#[tokio::test]
async fn native_validation_errors_name_the_field() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let u = s.url();
    expect_native(&c, &u, json!({}), Some("text"), "missing field `text`").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "speed": 9}), Some("speed"), "`speed` must be between 0.25 and 4, got 9").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "format": "aac"}), Some("format"), "`format` `aac` is not supported").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "bogus": 1}), Some("bogus"), "unknown field `bogus`").await;
    expect_native(&c, &u, json!({"text": "hi"}), Some("voice"), "no voice given").await;
    expect_native(&c, &u, json!({"text": "a".repeat(4097), "voice": "fixture"}), Some("text"), "the limit is 4096").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "language": "xx"}), Some("language"), "`language` must be one of").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "top_k": 0}), Some("top_k"), "`top_k`").await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "text_split_method": "cut9"}), Some("text_split_method"), "cut0").await;
    expect_native(&c, &u, json!({"text": "hi", "speed": "fast"}), Some("speed"), "invalid type").await;
    expect_native(
        &c,
        &u,
        json!({"text": "hi", "reference": {"audio_base64": "%%%", "language": "en"}}),
        Some("reference.audio_base64"),
        "not valid base64",
    )
    .await;
    expect_native(&c, &u, json!({"text": "hi", "voice": "fixture", "reference": {"language": "en"}}), Some("voice"), "not both").await;

    // Not JSON at all, wrong content type, too large.
    let (status, e) = json(c.post(format!("{u}/v1/tts")).header("content-type", "application/json").body("{nope").send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (400, Some("invalid_input")), "{e}");
    let (status, e) = json(c.post(format!("{u}/v1/tts")).header("content-type", "text/plain").body("hi").send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (415, Some("unsupported_media_type")), "{e}");
    let big = json!({"text": "x".repeat(70 * 1024), "voice": "fixture"});
    let (status, e) = json(c.post(format!("{u}/v1/tts")).json(&big).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (413, Some("payload_too_large")), "{e}");
}

async fn expect_openai(c: &reqwest::Client, url: &str, body: serde_json::Value, status: u16, param: &str, code: &str) {
    let (got, e) = json(c.post(format!("{url}/v1/audio/speech")).json(&body).send().await.unwrap()).await;
    assert_eq!(got, status, "{body} → {e}");
    let err = e["error"].as_object().unwrap_or_else(|| panic!("OpenAI shape: {e}"));
    assert_eq!(err.len(), 4, "{e}");
    assert_eq!(err["type"], "invalid_request_error", "{e}");
    assert_eq!(err["param"], param, "{e}");
    assert_eq!(err["code"], code, "{e}");
    assert!(err["message"].as_str().unwrap().contains(&format!("`{param}`")) || code == "invalid_input", "{e}");
}

#[tokio::test]
async fn openai_validation_errors_use_openai_shape() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let u = s.url();
    let ok = json!({"model": "tts-1", "input": "hi", "voice": "fixture"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    expect_openai(&c, &u, with("response_format", json!("aac")), 400, "response_format", "unsupported_format").await;
    expect_openai(&c, &u, with("input", json!("a".repeat(4097))), 400, "input", "invalid_input").await;
    expect_openai(&c, &u, with("speed", json!(0.1)), 400, "speed", "invalid_input").await;
    expect_openai(&c, &u, with("speed", json!(4.5)), 400, "speed", "invalid_input").await;
    expect_openai(&c, &u, with("voice", json!("alloy")), 400, "voice", "voice_not_found").await;
    expect_openai(&c, &u, with("model", json!("whisper-1")), 400, "model", "model_not_found").await;
    expect_openai(&c, &u, with("stream_format", json!("ws")), 400, "stream_format", "invalid_input").await;
    expect_openai(&c, &u, with("input", json!("   ")), 400, "input", "invalid_input").await;
    expect_openai(&c, &u, json!({"model": "tts-1", "voice": "fixture"}), 400, "input", "invalid_input").await;
}

#[tokio::test]
async fn upstream_validation_matches_api_v2() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let u = s.url();
    let clip = http_support::fixtures().join("audio/ref_32k.wav");
    let clip = clip.to_str().unwrap();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("text", "hi"), ("ref_audio_path", clip), ("prompt_lang", "en")], "text_lang is required"),
        (vec![("text_lang", "en"), ("ref_audio_path", clip), ("prompt_lang", "en")], "text is required"),
        (vec![("text", "hi"), ("text_lang", "en"), ("prompt_lang", "en")], "ref_audio_path is required"),
        (vec![("text", "hi"), ("text_lang", "en"), ("ref_audio_path", clip)], "prompt_lang is required"),
        (
            vec![("text", "hi"), ("text_lang", "en"), ("ref_audio_path", clip), ("prompt_lang", "en"), ("streaming_mode", "7")],
            "the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)",
        ),
        (vec![("text", "hi"), ("text_lang", "en"), ("ref_audio_path", clip), ("prompt_lang", "en"), ("media_type", "aac")], "media_type aac is not supported"),
        (vec![("text", "hi"), ("text_lang", "en"), ("ref_audio_path", "/etc/passwd"), ("prompt_lang", "en")], "is not a configured voice's clip"),
        (vec![("text", "hi"), ("text_lang", "xx"), ("ref_audio_path", clip), ("prompt_lang", "en")], "`text_lang` must be one of"),
    ];
    for (query, words) in cases {
        let (status, e) = json(c.get(format!("{u}/tts")).query(&query).send().await.unwrap()).await;
        assert_eq!(status, 400, "{query:?} → {e}");
        assert!(e["message"].as_str().unwrap().contains(words), "`{words}` not in {e}");
        assert_eq!(e["error_type"], "invalid_input");
    }
    // POST takes the same fields as JSON; streaming_mode may be a bool.
    let (status, e) = json(
        c.post(format!("{u}/tts"))
            .json(&json!({"text": "hi", "text_lang": "en", "ref_audio_path": "../Cargo.toml", "prompt_lang": "en", "streaming_mode": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(e["message"].as_str().unwrap().contains("ref_audio_path"), "{e}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let (status, e) = json(c.get(format!("{}/nope", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(e, json!({"error": "no route for `/nope`; GET /docs lists the API", "error_type": "not_found"}));
    let (status, e) = json(c.get(format!("{}/v1/tts", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(e["error_type"], "method_not_allowed");
    let (status, e) = json(c.get(format!("{}/v1/audio/nope", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(e["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn voices_models_metrics_and_request_ids() {
    let s = no_model_server().await;
    let c = reqwest::Client::new();
    let (status, v) = json(c.get(format!("{}/v1/voices", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(v, json!({"voices": [], "failed": []}));
    let (status, m) = json(c.get(format!("{}/v1/models", s.url())).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(m["object"], "list");
    let ids: Vec<&str> = m["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"tts-1") && ids.contains(&"gpt-sovits-v2"));
    let r = c.post(format!("{}/v1/tts", s.url())).json(&json!({})).send().await.unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
    let r = c.get(format!("{}/metrics", s.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for name in ["gsv_http_requests_total", "gsv_errors_total", "gsv_http_request_seconds_bucket"] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    assert!(text.contains("kind=\"invalid_input\""), "{text}");
}

#[tokio::test]
async fn api_key_guards_everything_but_probes_and_docs() {
    let mut settings = no_model_settings();
    settings.server.api_key = "sekrit".into();
    let s = start_server(settings, gsv_server::engine::default_backend(), Duration::from_secs(10)).await;
    let c = reqwest::Client::new();
    let u = s.url();
    let (status, e) = json(c.post(format!("{u}/v1/tts")).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (401, Some("unauthorized")), "{e}");
    let (status, e) = json(c.post(format!("{u}/v1/tts")).bearer_auth("wrong").json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid API key")));
    let (status, e) = json(c.post(format!("{u}/v1/audio/speech")).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, e["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    let (status, _) = json(c.post(format!("{u}/v1/tts")).bearer_auth("sekrit").json(&json!({})).send().await.unwrap()).await;
    assert_eq!(status, 400, "the right key reaches validation");
    assert_eq!(c.get(format!("{u}/health")).send().await.unwrap().status(), 503, "health is open (and not ready)");
    assert_eq!(c.get(format!("{u}/metrics")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(format!("{u}/openapi.json")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(format!("{u}/v1/voices")).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let mut settings = no_model_settings();
    settings.server.cors_origins = vec!["http://app.example".into()];
    let s = start_server(settings, gsv_server::engine::default_backend(), Duration::from_secs(10)).await;
    let c = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        c.request(reqwest::Method::OPTIONS, format!("{}/v1/tts", s.url()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let r = preflight("http://app.example").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.example");
    let r = preflight("http://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = c.get(format!("{}/v1/voices", s.url())).header("origin", "http://app.example").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "http://app.example");
    assert!(r.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-seed"));
}
