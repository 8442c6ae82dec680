//! Runs the official `openai` Python client (tests/openai_speech.py, in .venv-test made by
//! scripts/test-python-env.sh) against the real server on the fixture models: every supported
//! response_format streamed with `with_streaming_response` and decoded by libsndfile/numpy, the
//! non-streaming call, SSE, and the 400s.
mod http_support;

use std::process::Command;

#[tokio::test]
async fn official_openai_client_round_trips_every_format() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = Command::new(root.join("scripts/test-python-env.sh")).status().expect("run scripts/test-python-env.sh");
    assert!(setup.success(), "scripts/test-python-env.sh failed");
    let s = http_support::fixture_server(http_support::fixture_settings()).await;
    let url = s.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(root.join(".venv-test/bin/python")).arg(root.join("tests/openai_speech.py")).arg(url).arg("fixture").output()
    })
    .await
    .unwrap()
    .expect("run the python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openai client checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all openai checks passed"), "{stdout}");
}
