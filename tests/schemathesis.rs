//! Schema-driven fuzzing of the whole HTTP API: schemathesis (PyPI, in .venv-test made by
//! scripts/test-python-env.sh) generates requests from the committed openapi/openapi.json — valid
//! ones from its min/max/pattern constraints, and invalid ones — and checks every answer against
//! the document (status listed, JSON error bodies, no 5xx). Fixed seed and bounded examples, so a
//! run is reproducible and takes a couple of minutes on 2 cores.
mod http_support;

use std::process::Command;

#[tokio::test]
async fn schemathesis_finds_no_failures_against_the_committed_openapi() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = Command::new(root.join("scripts/test-python-env.sh")).status().expect("run scripts/test-python-env.sh");
    assert!(setup.success(), "scripts/test-python-env.sh failed");
    let mut settings = http_support::fixture_settings();
    // Clips under tests/fixtures/audio are valid `/tts` references.
    settings.upstream.allowed_ref_dirs = vec![http_support::fixtures().join("audio")];
    let s = http_support::fixture_server(settings).await;
    let url = s.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(root.join(".venv-test/bin/schemathesis"))
            .current_dir(root)
            .args(["run", "openapi/openapi.json", "--url", &url])
            .args(["--seed", "17", "--max-examples", "8", "--workers", "1", "--generation-deterministic"])
            // The WebSocket route is tested by tests/ws_*.rs; /docs serves files, not JSON.
            .args(["--exclude-path", "/v1/tts/stream"])
            // Valid-by-schema requests may still name a voice that is not configured or a clip
            // that does not exist: the schema cannot know the server's configuration.
            .args(["--exclude-checks", "positive_data_acceptance"])
            .args(["--max-response-time", "30", "--request-timeout", "60", "--no-color"])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await
    .unwrap()
    .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found failures\nstdout:\n{stdout}\nstderr:\n{stderr}");
}
