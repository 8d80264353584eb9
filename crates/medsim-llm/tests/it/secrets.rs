//! An API key never appears in any output, log, error or file.

use std::sync::Arc;

use axum::http::HeaderMap;
use medsim_llm::config::ProviderSettings;
use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{CacheMode, LlmSettings, ReplayCache};

use crate::support::{factory, fast_retry, serve, settings_for};

const KEY: &str = "sk-medsim-leaktest-7f3a9c2e1b5d4a66";

/// A hostile server that echoes the credentials it receives in its error bodies.
async fn echoing_server() -> std::net::SocketAddr {
    let router = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|headers: HeaderMap| async move {
            let auth = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
            let fragment: String = auth.chars().skip(12).take(14).collect();
            (axum::http::StatusCode::UNAUTHORIZED, format!("invalid key {auth}; fragment {fragment}"))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

fn files_containing(directory: &std::path::Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        if bytes.windows(needle.len()).any(|window| window == needle.as_bytes()) {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn the_key_never_leaks() {
    let directory = tempfile::tempdir().unwrap();
    let server = serve("default: { echo: true }").await;
    let hostile = echoing_server().await;
    let mut settings: LlmSettings = settings_for(&server);
    settings.retry = fast_retry();
    settings.providers.insert(
        "hostile".into(),
        ProviderSettings {
            base_url: Some(format!("http://{hostile}/v1")),
            api_key_env: Some("SCRIPTED_KEY".into()),
            ..ProviderSettings::default()
        },
    );
    let cache = Arc::new(ReplayCache::open(&directory.path().join("cache.sqlite")).unwrap());
    let factory = factory(settings.clone(), KEY).with_cache(cache, CacheMode::ReadWrite);

    let mut outputs = vec![format!("{settings:?}")];
    for spec in ["scripted/m", "scripted-anthropic/m"] {
        let response =
            factory.model(spec).unwrap().chat(&ChatRequest::new(vec![Message::user("hello")])).await.unwrap();
        outputs.push(format!("{response:?}"));
        outputs.push(serde_json::to_string(&response).unwrap());
    }
    let error =
        factory.model("hostile/m").unwrap().chat(&ChatRequest::new(vec![Message::user("x")])).await.unwrap_err();
    outputs.push(error.to_string());
    outputs.push(format!("{error:?}"));
    assert!(error.to_string().contains("HTTP 401"), "{error}");
    assert!(error.to_string().contains("[redacted]"), "the echoed key is scrubbed: {error}");

    for output in &outputs {
        assert!(!output.contains(KEY), "key in output: {output}");
        assert!(!output.contains(&KEY[12..26]), "key fragment in output: {output}");
    }
    assert!(server.requests().iter().all(|request| request.authorized), "the key was sent");
    let recorded = serde_json::to_string(&server.requests()).unwrap();
    assert!(!recorded.contains(KEY), "the scripted server does not record keys");
    assert!(files_containing(directory.path(), KEY).is_empty(), "no file holds the key");
    server.shutdown().await;
}
