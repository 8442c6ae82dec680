//! The OpenAPI document: committed copy matches the code, every route is in it, it is served at
//! /openapi.json, and the docs page works offline (its assets come from the binary).
mod http_support;

use std::time::Duration;

use gsv_server::server::openapi::document;

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn committed_openapi_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let now = document();
    if std::env::var_os("GSV_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &now).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == now,
        "{COMMITTED} is out of date: run `cargo run -- openapi > {COMMITTED}` (or this test with GSV_UPDATE_OPENAPI=1) and commit it"
    );
}

#[test]
fn every_route_is_documented_as_openapi_3_1() {
    let doc: serde_json::Value = serde_json::from_str(&document()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/tts", "post"),
        ("/v1/tts/stream", "get"),
        ("/tts", "get"),
        ("/tts", "post"),
        ("/v1/audio/speech", "post"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/set_gpt_weights", "get"),
        ("/set_sovits_weights", "get"),
        ("/v1/voices", "get"),
        ("/v1/voices", "post"),
        ("/v1/voices/{name}", "get"),
        ("/v1/voices/{name}", "delete"),
        ("/v1/voices/{name}/audio", "get"),
        ("/health", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} is not documented");
    }
    for schema in ["TtsRequest", "SpeechRequest", "UpstreamRequest", "ClientMessage", "ServerEvent", "ErrorResponse", "OpenAiErrorResponse"] {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "schema {schema} missing");
    }
}

#[tokio::test]
async fn served_document_and_offline_docs_page() {
    let s = http_support::start_server(http_support::no_model_settings(), gsv_server::engine::default_backend(), Duration::from_secs(10)).await;
    let served: serde_json::Value = reqwest::get(format!("{}/openapi.json", s.url())).await.unwrap().json().await.unwrap();
    let code: serde_json::Value = serde_json::from_str(&document()).unwrap();
    assert_eq!(served, code);
    let page = reqwest::get(format!("{}/docs/", s.url())).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the docs page must not load assets from the network");
    let js = reqwest::get(format!("{}/docs/swagger-ui-bundle.js", s.url())).await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 100_000, "the Swagger UI bundle is embedded");
    let init = reqwest::get(format!("{}/docs/swagger-initializer.js", s.url())).await.unwrap().text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
}
