//! Benchmark (not a test): the model layer's overhead per call, and the scripted server's own
//! throughput, against the scripted server on loopback with no added latency.
//!
//! Run: `cargo bench -p medsim-llm --bench overhead` (optionally `-- CALLS`).
//!
//! (a) raw: a bare reqwest client POSTs a pre-serialised body, one call at a time;
//! (b) medsim: the same call through `ChatModel` (request building, serialisation, transport
//!     with retries and limits, response parsing), one at a time;
//! (b − a) is the client's overhead per call. (c) the server's throughput with 64 concurrent
//! raw clients. Client and server share the machine, so (c) is a lower bound.

use std::time::Instant;

use futures::StreamExt;
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{LlmSettings, ModelFactory};

fn main() {
    let calls: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(3000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let script = CompiledScript::parse("default: { text: \"The patient most likely has iron deficiency anemia.\" }", "bench").unwrap();
        let server = medsim_llm::script::server::start(script, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
        let mut settings = LlmSettings::default();
        settings.providers.insert(
            "bench".into(),
            ProviderSettings { base_url: Some(server.openai_base()), ..ProviderSettings::default() },
        );
        let factory = ModelFactory::new(settings);
        let model = factory.model("bench/m").unwrap();
        let request = ChatRequest::new(vec![
            Message::system("You are a doctor. Ask one question at a time."),
            Message::user("I have been tired for three weeks and get breathless on stairs."),
        ])
        .for_role("doctor");
        let body = serde_json::to_vec(&serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are a doctor. Ask one question at a time."},
                {"role": "user", "content": "I have been tired for three weeks and get breathless on stairs."}
            ]
        }))
        .unwrap();
        let raw = reqwest::Client::new();
        let url = format!("{}/chat/completions", server.openai_base());

        // Warm up both paths.
        for _ in 0..200 {
            raw.post(&url).header("content-type", "application/json").body(body.clone()).send().await.unwrap().bytes().await.unwrap();
            model.chat(&request).await.unwrap();
        }
        let mut raw_total = 0.0;
        let mut medsim_total = 0.0;
        // Interleave rounds so machine noise hits both paths alike.
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..calls / 5 {
                let bytes = raw.post(&url).header("content-type", "application/json").body(body.clone()).send().await.unwrap().bytes().await.unwrap();
                assert!(!bytes.is_empty());
            }
            raw_total += started.elapsed().as_secs_f64();
            let started = Instant::now();
            for _ in 0..calls / 5 {
                let response = model.chat(&request).await.unwrap();
                assert!(!response.text().is_empty());
            }
            medsim_total += started.elapsed().as_secs_f64();
        }
        let per_call = |total: f64| total / (calls / 5 * 5) as f64 * 1e6;
        println!("calls per path: {}", calls / 5 * 5);
        println!("(a) raw reqwest round trip:      {:8.1} µs/call", per_call(raw_total));
        println!("(b) medsim ChatModel round trip: {:8.1} µs/call", per_call(medsim_total));
        println!("(b - a) client overhead:         {:8.1} µs/call", per_call(medsim_total) - per_call(raw_total));

        let total = calls * 5;
        let started = Instant::now();
        let done: usize = futures::stream::iter(0..total)
            .map(|_| {
                let raw = raw.clone();
                let url = url.clone();
                let body = body.clone();
                async move { raw.post(&url).header("content-type", "application/json").body(body).send().await.unwrap().bytes().await.unwrap().len() }
            })
            .buffer_unordered(64)
            .map(|_| 1)
            .fold(0, |sum, one| async move { sum + one })
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        println!("(c) scripted server throughput:  {:8.0} requests/s ({done} requests, 64 concurrent clients in the same process)", done as f64 / elapsed);
        server.shutdown().await;
    });
}
