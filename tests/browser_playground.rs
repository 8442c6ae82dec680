//! The playground in a real headless Chromium (Debian `chromium` + `chromium-driver`, installed by
//! scripts/test-browser-env.sh), driven over chromedriver's W3C WebDriver HTTP API, against the
//! real server on the fixture models: speak with the fixture voice (PCM frames arrive over the
//! WebSocket and are scheduled for playback before the job ends), stop mid-stream (the server's
//! active-job gauge drops), upload a clip as a new voice (it appears in the picker) and speak with
//! it. A screenshot goes to the test's output folder (`GSV_UPDATE_SCREENSHOT=1` also refreshes
//! docs/playground.png).
mod http_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_support::{fixture_server, fixture_settings, fixtures, sentences};
use serde_json::{json, Value};

/// W3C name of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (scripts/test-browser-env.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let t0 = Instant::now();
        while !matches!(http.get(format!("{base}/status")).send().await, Ok(r) if r.status() == 200) {
            assert!(t0.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut d = Driver { process, base, session: String::new(), http };
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,860",
            "--autoplay-policy=no-user-gesture-required",
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let v = d.call(reqwest::Method::POST, "/session", caps).await;
        d.session = v["sessionId"].as_str().expect("a session id").to_string();
        d
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let req = self.http.request(method.clone(), &url);
        let req = if method == reqwest::Method::GET { req } else { req.json(&body) };
        let r = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{method} {path} → {status}: {v}");
        v["value"].clone()
    }

    async fn session(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    async fn js(&self, script: &str) -> Value {
        self.session(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Polls `expr` (a JS expression) until it is truthy; returns its value.
    async fn wait_for(&self, expr: &str, limit: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let v = self.js(&format!("return {expr};")).await;
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if t0.elapsed() > limit {
                let stats = self.js("return [window.gsv, document.getElementById('status').textContent, document.getElementById('voice-status').textContent];").await;
                panic!("timed out waiting for `{expr}`; page state: {stats}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn element(&self, css: &str) -> String {
        let v = self.session(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.session(reqwest::Method::POST, &format!("/element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.session(reqwest::Method::POST, &format!("/element/{id}/clear"), json!({})).await;
        self.session(reqwest::Method::POST, &format!("/element/{id}/value"), json!({"text": text})).await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self.session(reqwest::Method::GET, "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
    }

    async fn quit(&self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

/// `gsv_jobs_active` from the server's /metrics.
async fn jobs_active(url: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("gsv_jobs_active ")).and_then(|v| v.trim().parse().ok()).unwrap_or(-1.0)
}

#[tokio::test]
async fn playground_streams_stops_and_adds_a_voice_in_headless_chromium() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = Command::new(root.join("scripts/test-browser-env.sh")).status().expect("run scripts/test-browser-env.sh");
    assert!(setup.success(), "scripts/test-browser-env.sh failed");
    let library = tempfile::tempdir().unwrap();
    let mut settings = fixture_settings();
    settings.voice_library.dir = library.path().to_path_buf();
    let s = fixture_server(settings).await;
    let d = Driver::start().await;

    d.session(reqwest::Method::POST, "/url", json!({"url": format!("{}/playground", s.url())})).await;
    d.wait_for("window.gsv && window.gsv.voicesLoaded > 0", Duration::from_secs(20)).await;
    assert_eq!(d.js("return document.getElementById('voice').value").await, "fixture");

    // Speak: frames arrive and are scheduled for playback while the job is still running.
    d.type_into("#text", "Hello there. This is a test of streaming.").await;
    d.click("#speak").await;
    d.wait_for("window.gsv.done >= 1 || window.gsv.lastError", Duration::from_secs(120)).await;
    let g = d.js("return window.gsv").await;
    assert!(g["lastError"].is_null(), "{g}");
    let chunks = g["chunks"].as_u64().unwrap();
    assert!(chunks >= 1 && g["samples"].as_u64().unwrap() > 0, "{g}");
    assert_eq!(g["scheduledAtDone"].as_u64(), Some(chunks), "every frame was scheduled before `done`: {g}");
    assert!(g["ttfaMs"].as_f64().unwrap() > 0.0 && g["rtf"].as_f64().unwrap() > 0.0, "{g}");
    let shown = d.js("return [document.getElementById('ttfa').textContent, document.getElementById('rtf').textContent, document.getElementById('download').hidden]").await;
    assert!(shown[0].as_str().unwrap().ends_with(" ms") && shown[1] != "–" && shown[2] == false, "{shown}");

    // Stop mid-stream: the page cancels, the server's job gauge drops back to zero.
    d.type_into("#text", &sentences(40)).await;
    d.click("#speak").await;
    d.wait_for("window.gsv.chunks >= 1", Duration::from_secs(60)).await;
    assert_eq!(jobs_active(&s.url()).await, 1.0, "the long job is running");
    d.click("#stop").await;
    d.wait_for("window.gsv.cancelled >= 1", Duration::from_secs(10)).await;
    let t0 = Instant::now();
    while jobs_active(&s.url()).await != 0.0 {
        assert!(t0.elapsed() < Duration::from_secs(10), "the job kept running after stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.js("return window.gsv.done").await, 1, "the stopped job did not finish");

    // Upload a clip as a new voice; it appears in the picker, selected, and speaks.
    d.type_into("#voice-name", "browser-voice").await;
    d.type_into("#voice-transcript", "The quick brown fox jumps over the lazy dog.").await;
    let clip = fixtures().join("audio/ref_32k.wav");
    let file_input = d.element("#voice-file").await;
    d.session(reqwest::Method::POST, &format!("/element/{file_input}/value"), json!({"text": clip.display().to_string()})).await;
    d.click("#save-voice").await;
    d.wait_for("window.gsv.saved >= 1 || document.getElementById('voice-status').textContent.startsWith('Not saved')", Duration::from_secs(60)).await;
    let picked = d.js("return [document.getElementById('voice').value, [...document.getElementById('voice').options].map(o => o.value)]").await;
    assert_eq!(picked, json!(["browser-voice", ["fixture", "browser-voice"]]));
    d.type_into("#text", "Hello from the browser.").await;
    d.type_into("#top_k", "1").await;
    d.click("#speak").await;
    d.wait_for("window.gsv.done >= 2 || window.gsv.lastError", Duration::from_secs(120)).await;
    assert!(d.js("return window.gsv.lastError").await.is_null());

    let png = d.screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser_playground");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("playground.png"), &png).unwrap();
    eprintln!("screenshot: {}", out.join("playground.png").display());
    if std::env::var_os("GSV_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(root.join("docs/playground.png"), &png).unwrap();
    }
    d.quit().await;
}
