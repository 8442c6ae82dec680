//! The voice library over HTTP with the REAL pipeline on the fixture models: an uploaded voice
//! speaks on every route, is listed, and after DELETE every route answers 400 unknown voice;
//! validation, limits, the API key, racing uploads, and the playground pages.
mod http_support;

use std::path::Path;

use http_support::{fixture_server, fixture_settings, fixtures, json, ws_synthesize};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const TRANSCRIPT: &str = "The quick brown fox jumps over the lazy dog.";

fn clip() -> Vec<u8> {
    std::fs::read(fixtures().join("audio/ref_32k.wav")).unwrap()
}

fn upload(name: &str, audio: Vec<u8>) -> Form {
    Form::new()
        .text("name", name.to_string())
        .text("transcript", TRANSCRIPT)
        .text("language", "en")
        .text("top_k", "1")
        .part("audio", Part::bytes(audio).file_name("clip.wav"))
}

fn library_settings(dir: &Path) -> gsv_server::config::Settings {
    let mut s = fixture_settings();
    s.voice_library.dir = dir.to_path_buf();
    s
}

/// A 16-bit mono WAV of `seconds` of a quiet tone.
fn tone_wav(seconds: f32) -> Vec<u8> {
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..(seconds * 16_000.0) as usize {
        w.write_sample(((i as f32 * 0.05).sin() * 3000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// One WebSocket request: the `error_type` of its error event, or the samples it streamed.
async fn ws_speak(addr: std::net::SocketAddr, voice: &str) -> Result<usize, String> {
    let out = ws_synthesize(addr, json!({"type": "synthesize", "id": "a", "text": "Hello there.", "voice": voice})).await;
    match out.end {
        Ok(_) => Ok(out.pcm.len()),
        Err(e) => Err(e["error_type"].as_str().unwrap().to_string()),
    }
}

#[tokio::test]
async fn an_uploaded_voice_speaks_on_every_route_until_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = fixture_server(library_settings(dir.path())).await;
    let c = reqwest::Client::new();
    let u = s.url();

    let r = c.post(format!("{u}/v1/voices")).multipart(upload("lib-voice", clip())).send().await.unwrap();
    assert_eq!(r.headers().get("location").map(|v| v.to_str().unwrap()), Some("/v1/voices/lib-voice"));
    let (status, v) = json(r).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!((v["source"].as_str(), v["ready"].as_bool(), v["language"].as_str()), (Some("library"), Some(true), Some("en")), "{v}");
    assert!(v["ref_seconds"].as_f64().unwrap() > 3.0 && v["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["defaults"], json!({"top_k": 1}));

    let (_, list) = json(c.get(format!("{u}/v1/voices")).send().await.unwrap()).await;
    let sources: Vec<(String, String)> =
        list["voices"].as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap().into(), v["source"].as_str().unwrap().into())).collect();
    assert_eq!(sources, vec![("fixture".into(), "config".into()), ("lib-voice".into(), "library".into())]);
    let (status, d) = json(c.get(format!("{u}/v1/voices/lib-voice")).send().await.unwrap()).await;
    assert_eq!((status, d["transcript"].as_str()), (200, Some(TRANSCRIPT)));
    let clip_path = d["ref_audio_path"].as_str().unwrap().to_string();
    assert_eq!(std::fs::read(&clip_path).unwrap(), clip(), "the clip is stored as uploaded");
    let (status, f) = json(c.get(format!("{u}/v1/voices/fixture")).send().await.unwrap()).await;
    assert_eq!((status, f["source"].as_str(), f["ready"].as_bool(), f["defaults"].clone()), (200, Some("config"), Some(true), json!({"top_k": 1})), "{f}");
    assert_eq!(c.get(format!("{u}/v1/voices/nope")).send().await.unwrap().status(), 404);
    let r = c.get(format!("{u}/v1/voices/lib-voice/audio")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "audio/wav"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), clip());

    // Every synthesis route speaks with it.
    let native = || c.post(format!("{u}/v1/tts")).json(&json!({"text": "Hello there.", "voice": "lib-voice", "format": "pcm"}));
    let r = native().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 3200);
    let openai = || c.post(format!("{u}/v1/audio/speech")).json(&json!({"model": "tts-1", "input": "Hello there.", "voice": "lib-voice", "response_format": "pcm"}));
    let r = openai().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 1000);
    assert!(ws_speak(s.addr, "lib-voice").await.unwrap() > 0);
    let upstream = || {
        c.get(format!("{u}/tts")).query(&[
            ("text", "Hello there."),
            ("text_lang", "en"),
            ("ref_audio_path", clip_path.as_str()),
            ("prompt_text", TRANSCRIPT),
            ("prompt_lang", "en"),
            ("media_type", "raw"),
        ])
    };
    let r = upstream().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 1000);

    // Configured voices are read-only; stored ones go, from disk and from every route.
    let (status, e) = json(c.delete(format!("{u}/v1/voices/fixture")).send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (409, Some("conflict")), "{e}");
    assert_eq!(c.delete(format!("{u}/v1/voices/lib-voice")).send().await.unwrap().status(), 204);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the voice folder is gone");
    assert_eq!(c.get(format!("{u}/v1/voices/lib-voice")).send().await.unwrap().status(), 404);
    assert_eq!(c.delete(format!("{u}/v1/voices/lib-voice")).send().await.unwrap().status(), 404);
    let (_, list) = json(c.get(format!("{u}/v1/voices")).send().await.unwrap()).await;
    assert_eq!(list["voices"].as_array().unwrap().len(), 1);

    let (status, e) = json(native().send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (400, Some("unknown_voice")), "{e}");
    let (status, e) = json(openai().send().await.unwrap()).await;
    assert_eq!((status, e["error"]["code"].as_str()), (400, Some("voice_not_found")), "{e}");
    assert_eq!(ws_speak(s.addr, "lib-voice").await, Err("unknown_voice".into()));
    let (status, e) = json(upstream().send().await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (400, Some("unknown_voice")), "{e}");
}

#[tokio::test]
async fn uploads_are_checked_limited_and_guarded_by_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = library_settings(dir.path());
    settings.server.api_key = "sekrit".into();
    settings.voice_library.max_voices = 1;
    let s = fixture_server(settings).await;
    let c = reqwest::Client::new();
    let u = s.url();
    let post = |form: Form| c.post(format!("{u}/v1/voices")).bearer_auth("sekrit").multipart(form).send();

    assert_eq!(c.post(format!("{u}/v1/voices")).multipart(upload("a", clip())).send().await.unwrap().status(), 401);
    assert_eq!(c.delete(format!("{u}/v1/voices/a")).send().await.unwrap().status(), 401);
    let cases: Vec<(Form, u16, &str, &str)> = vec![
        (upload("../etc", clip()), 400, "name", "not allowed"),
        (upload("fixture", clip()), 409, "name", "already exists"),
        (upload("short", tone_wav(1.0)), 400, "audio", "10 s"),
        (upload("html", b"<html>not audio</html>".to_vec()), 400, "audio", "not a WAV"),
        (upload("bad-k", clip()).text("top_k", "0"), 400, "top_k", "top_k"),
        (Form::new().text("name", "x").text("language", "en"), 400, "audio", "no `audio`"),
        (upload("lang", clip()).text("language", "xx"), 400, "language", "language"),
        (upload("odd", clip()).text("color", "red"), 400, "color", "unknown part"),
    ];
    for (form, code, param, words) in cases {
        let (status, e) = json(post(form).await.unwrap()).await;
        assert_eq!((status, e["param"].as_str()), (code, Some(param)), "{e}");
        assert!(e["error"].as_str().unwrap().contains(words), "{e}");
    }
    let r = c.post(format!("{u}/v1/voices")).bearer_auth("sekrit").json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 415);

    let (status, v) = json(post(upload("first", clip())).await.unwrap()).await;
    assert_eq!(status, 201, "{v}");
    let (status, e) = json(post(upload("second", clip())).await.unwrap()).await;
    assert_eq!((status, e["error_type"].as_str()), (507, Some("insufficient_storage")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("max_voices"), "{e}");
    let r = c.delete(format!("{u}/v1/voices/first")).bearer_auth("sekrit").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.is_empty(), "refused uploads leave nothing behind: {names:?}");
}

#[tokio::test]
async fn racing_uploads_of_one_name_store_exactly_one_voice() {
    let dir = tempfile::tempdir().unwrap();
    let s = fixture_server(library_settings(dir.path())).await;
    let c = reqwest::Client::new();
    let send = || c.post(format!("{}/v1/voices", s.url())).multipart(upload("twin", clip())).send();
    let (a, b) = tokio::join!(send(), send());
    let mut codes = vec![a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    codes.sort();
    assert_eq!(codes, vec![201, 409]);
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["twin"]);
    let files: Vec<String> = std::fs::read_dir(dir.path().join("twin")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.path().join("twin/manifest.json")).unwrap()).unwrap();
    assert_eq!((manifest["name"].as_str(), manifest["clip_bytes"].as_u64()), (Some("twin"), Some(clip().len() as u64)));
    let (_, list) = json(c.get(format!("{}/v1/voices", s.url())).send().await.unwrap()).await;
    assert_eq!(list["voices"].as_array().unwrap().iter().filter(|v| v["name"] == "twin").count(), 1);
}

#[tokio::test]
async fn the_playground_is_served_offline_and_linked_from_the_root() {
    let mut settings = http_support::no_model_settings();
    settings.server.api_key = "sekrit".into();
    let s = http_support::start_server(settings, gsv_server::engine::default_backend(), std::time::Duration::from_secs(10)).await;
    let root = reqwest::get(format!("{}/", s.url())).await.unwrap();
    assert_eq!(root.status(), 200, "open without the key");
    assert!(root.text().await.unwrap().contains("href=\"/playground\""));
    let page = reqwest::get(format!("{}/playground", s.url())).await.unwrap().text().await.unwrap();
    let script = reqwest::get(format!("{}/playground/app.js", s.url())).await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let script = script.text().await.unwrap();
    for text in [&page, &script] {
        assert!(!text.contains("https://") && !text.contains("http://"), "the playground must not load anything from the network");
    }
    assert!(page.contains("/playground/app.js") && script.contains("/v1/tts/stream"));
}
