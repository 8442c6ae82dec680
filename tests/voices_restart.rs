//! The voice library across process deaths, with the real `gsv-server` binary as a child process
//! on the fixture models: a stored voice survives a SIGKILL and a restart and still speaks; an
//! upload cut off by the SIGKILL (a slow multipart body) and a commit cut off mid-write (the
//! work folder it would leave) never show up as a voice, and the next start clears them.
mod http_support;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_support::fixtures;

/// The server child, killed when dropped (even when the test fails).
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write_config(dir: &Path, library: &Path, port: u16) -> std::path::PathBuf {
    let f = fixtures();
    let p = |rel: &str| f.join(rel).display().to_string();
    let toml = format!(
        r#"[server]
bind = "127.0.0.1:{port}"
[engine]
device = "cpu"
[models]
gpt = "{gpt}"
sovits = "{sovits}"
hubert = "{hubert}"
bert = "{bert}"
[voice_library]
dir = "{library}"
[voices.fixture]
ref_audio = "{clip}"
transcript = "The quick brown fox jumps over the lazy dog."
language = "en"
top_k = 1
"#,
        gpt = p("models/gpt/tiny-v2-e15.ckpt"),
        sovits = p("models/sovits/tiny-v2_e8_s96.pth"),
        hubert = p("models/chinese-hubert-base-tiny"),
        bert = p("models/chinese-roberta-wwm-ext-large-tiny"),
        library = library.display(),
        clip = p("audio/ref_32k.wav"),
    );
    let path = dir.join("server.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn spawn(config: &Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_gsv-server"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn,tower_http=off")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start gsv-server");
    let server = Server { child, url: format!("http://127.0.0.1:{port}") };
    let t0 = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("{}/health", server.url)).await {
            if r.status() == 200 {
                return server;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn voice_names(url: &str) -> Vec<String> {
    let v: serde_json::Value = reqwest::get(format!("{url}/v1/voices")).await.unwrap().json().await.unwrap();
    v["voices"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_string()).collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn sigkill_mid_upload_leaves_no_half_voice_and_stored_voices_survive_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let library = tmp.path().join("voices");
    let port = free_port();
    let config = write_config(tmp.path(), &library, port);
    let clip = std::fs::read(fixtures().join("audio/ref_32k.wav")).unwrap();
    let mut server = spawn(&config, port).await;

    let form = reqwest::multipart::Form::new()
        .text("name", "kept")
        .text("transcript", "The quick brown fox jumps over the lazy dog.")
        .text("language", "en")
        .text("top_k", "1")
        .part("audio", reqwest::multipart::Part::bytes(clip.clone()).file_name("kept.wav"));
    let r = reqwest::Client::new().post(format!("{}/v1/voices", server.url)).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 201);

    // A slow upload: headers and half the body, then the server dies with it in flight.
    let boundary = "gsvboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nhalf\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"half.wav\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&clip);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "POST /v1/voices HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..body.len() / 2]).unwrap();
    conn.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.child.kill().expect("SIGKILL the server");
    server.child.wait().unwrap();
    drop(server);
    drop(conn);

    // What a kill in the middle of a commit leaves: a work folder with part of a voice.
    let work = library.join(".tmp-torn-1-1");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("clip.wav"), &clip[..1000]).unwrap();
    assert_eq!(entries(&library), vec![".tmp-torn-1-1", "kept"]);

    let server = spawn(&config, port).await;
    assert_eq!(voice_names(&server.url).await, vec!["fixture", "kept"]);
    assert_eq!(entries(&library), vec!["kept"], "the next start clears unfinished work");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/tts", server.url))
        .json(&serde_json::json!({"text": "Hello there.", "voice": "kept", "format": "pcm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().len() > 3200, "the stored voice still speaks after the restart");
}
