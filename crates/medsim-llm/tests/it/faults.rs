//! Resilience: 1,000 calls under 30 % injected faults all complete with the right content, a
//! dead endpoint among three is routed around, errors keep status and body, and non-retryable
//! errors fail at once.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use medsim_llm::config::ProviderSettings;
use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{LlmError, LlmSettings};

use crate::support::{factory, fast_retry, serve};

const FAULTY: &str = r#"
seed: 11
faults:
  rate_limit: 0.06
  retry_after_ms: 5
  server_error: 0.05
  unavailable: 0.05
  hang: 0.02
  hang_ms: 3000
  malformed_json: 0.04
  empty_content: 0.04
  truncated: 0.04
default: { text: "answer to: {{ last }}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_survive_thirty_percent_faults() {
    let server = serve(FAULTY).await;
    let mut settings = LlmSettings { retry: fast_retry(), ..LlmSettings::default() };
    settings.providers.insert(
        "scripted".into(),
        ProviderSettings {
            base_url: Some(server.openai_base()),
            timeout_secs: Some(0.3),
            max_concurrency: Some(64),
            ..ProviderSettings::default()
        },
    );
    let factory = factory(settings, "unused");
    let model = factory.model("scripted/faulty").unwrap();
    let started = Instant::now();
    let results: Vec<Result<(usize, String, u32), LlmError>> = futures::stream::iter(0..1000usize)
        .map(|index| {
            let model = model.clone();
            async move {
                let request = ChatRequest::new(vec![Message::user(format!("question {index}"))]);
                model.chat(&request).await.map(|response| (index, response.text().to_owned(), response.attempts))
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut retries = 0;
    for result in &results {
        let (index, text, attempts) = result.as_ref().expect("every call completes");
        assert_eq!(text, &format!("answer to: question {index}"));
        retries += attempts - 1;
    }
    let stats = server.stats();
    let injected: u64 = stats.faults.values().sum();
    eprintln!(
        "1000 calls under injected faults {:?} ({injected} of {} requests faulty): {retries} retries, {:.2}s",
        stats.faults,
        stats.requests,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(results.len(), 1000);
    assert_eq!(u64::from(retries), injected, "every injected fault cost exactly one retry");
    assert!(injected > 250, "about 30 % of first attempts fail: {injected}");
    for kind in ["rate_limit", "server_error", "unavailable", "hang", "malformed_json", "empty_content", "truncated"] {
        assert!(stats.faults.get(kind).copied().unwrap_or(0) > 0, "{kind} was injected");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_among_three_is_routed_around() {
    let first = serve("default: { text: \"from a live server\" }").await;
    let second = serve("default: { text: \"from a live server\" }").await;
    // A port with nothing listening: connections are refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut settings = LlmSettings { retry: fast_retry(), ..LlmSettings::default() };
    settings.providers.insert(
        "pool".into(),
        ProviderSettings {
            base_urls: vec![first.openai_base(), format!("http://{dead}/v1"), second.openai_base()],
            timeout_secs: Some(2.0),
            ..ProviderSettings::default()
        },
    );
    let factory = Arc::new(factory(settings, "unused"));
    let model = factory.model("pool/m").unwrap();
    let responses: Vec<_> = futures::stream::iter(0..300)
        .map(|index| {
            let model = model.clone();
            async move { model.chat(&ChatRequest::new(vec![Message::user(format!("q{index}"))])).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let retries: u32 = responses.iter().map(|response| response.as_ref().unwrap().attempts - 1).sum();
    assert!(responses.iter().all(|response| response.as_ref().unwrap().text() == "from a live server"));
    let (served_first, served_second) = (first.requests().len(), second.requests().len());
    assert_eq!(served_first + served_second, 300);
    assert!(served_first > 50 && served_second > 50, "load is balanced: {served_first} / {served_second}");
    assert!(retries <= 16, "the dead endpoint is avoided after it fails, not retried per call: {retries} retries");
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn client_errors_fail_at_once_with_status_and_body() {
    // The Anthropic route rejects a body without max_tokens; an OpenAI-shaped call to
    // /v1/messages is not possible through the client, so hit a missing route instead.
    let server = serve("default: { text: x }").await;
    let mut settings = LlmSettings { retry: fast_retry(), ..LlmSettings::default() };
    settings.providers.insert(
        "wrongpath".into(),
        ProviderSettings { base_url: Some(format!("{}/nowhere", server.openai_base())), ..ProviderSettings::default() },
    );
    let factory = factory(settings, "unused");
    let error =
        factory.model("wrongpath/m").unwrap().chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    assert_eq!(error.status(), Some(404), "{error}");
    assert!(!matches!(error, LlmError::RetriesExhausted { .. }), "404 is not retried: {error}");
    server.shutdown().await;
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = serve("faults: { server_error: 1.0 }\ndefault: { text: x }").await;
    let mut settings = LlmSettings {
        retry: medsim_llm::transport::RetryPolicy { max_attempts: 4, ..fast_retry() },
        ..LlmSettings::default()
    };
    settings.providers.insert(
        "broken".into(),
        ProviderSettings { base_url: Some(server.openai_base()), ..ProviderSettings::default() },
    );
    let factory = factory(settings, "unused");
    let error =
        factory.model("broken/m").unwrap().chat(&ChatRequest::new(vec![Message::user("hi")])).await.unwrap_err();
    match &error {
        LlmError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 4);
            assert!(last.to_string().contains("HTTP 500"), "{last}");
            assert!(last.to_string().contains("scripted server_error"), "the body excerpt is kept: {last}");
        }
        other => panic!("expected retries exhausted, got {other}"),
    }
    assert_eq!(server.requests().len(), 4);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds() {
    let server = serve("latency: { mean_ms: 50 }\ndefault: { text: x }").await;
    let mut settings = LlmSettings { retry: fast_retry(), ..LlmSettings::default() };
    settings.providers.insert(
        "narrow".into(),
        ProviderSettings {
            base_url: Some(server.openai_base()),
            max_concurrency: Some(2),
            ..ProviderSettings::default()
        },
    );
    let factory = factory(settings, "unused");
    let model = factory.model("narrow/m").unwrap();
    let started = Instant::now();
    let calls = (0..10).map(|index| {
        let model = model.clone();
        async move { model.chat(&ChatRequest::new(vec![Message::user(format!("{index}"))])).await.unwrap() }
    });
    futures::future::join_all(calls).await;
    // Ten 50 ms calls, two at a time, cannot finish in under five rounds.
    assert!(started.elapsed().as_millis() >= 250, "{:?}", started.elapsed());
    server.shutdown().await;
}
