//! The replay cache: a recorded session replays identically with zero network calls; misses in
//! replay-only mode name the call; samples stay distinct; concurrent writers are safe.

use std::sync::Arc;

use medsim_llm::types::{ChatRequest, Message};
use medsim_llm::{CacheMode, LlmError, ReplayCache};

use crate::support::{factory, serve, settings_for};

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor }
    replies: ["What brings you in?", "REQUEST TEST: CBC", "DIAGNOSIS READY: Iron deficiency anemia"]
  - reply: "reply {{ call }} to {{ last }}"
"#;

fn conversation() -> Vec<ChatRequest> {
    let mut messages = vec![Message::system("You are a doctor.")];
    let mut requests = Vec::new();
    for (answer, user) in [("What brings you in?", "I am tired."), ("REQUEST TEST: CBC", "Hb 9.1 g/dL, MCV 71 fL")] {
        messages.push(Message::user(user));
        requests.push(ChatRequest::new(messages.clone()).for_role("doctor"));
        messages.push(Message::assistant(answer));
    }
    messages.push(Message::user("Anything else?"));
    requests.push(ChatRequest::new(messages).for_role("doctor"));
    requests
}

#[tokio::test]
async fn replay_only_reproduces_a_recorded_session_without_network() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("cache.sqlite");
    let server = serve(SCRIPT).await;
    let settings = settings_for(&server);

    let cache = Arc::new(ReplayCache::open(&path).unwrap());
    let recording = factory(settings.clone(), "sk-test").with_cache(cache.clone(), CacheMode::ReadWrite);
    let model = recording.model("scripted/test-model").unwrap();
    let mut recorded = Vec::new();
    for request in conversation() {
        recorded.push(model.chat(&request).await.unwrap());
    }
    // A second pass in read-write mode is served from the cache.
    for request in conversation() {
        assert!(model.chat(&request).await.unwrap().cache_hit);
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(cache.len().unwrap(), 3);
    server.shutdown().await;
    drop(recording);

    // The server is gone; replay-only must not need it.
    let cache = Arc::new(ReplayCache::open(&path).unwrap());
    let replaying = factory(settings, "sk-test").with_cache(cache, CacheMode::ReplayOnly);
    let model = replaying.model("scripted/test-model").unwrap();
    for (request, original) in conversation().iter().zip(&recorded) {
        let replayed = model.chat(request).await.unwrap();
        assert!(replayed.cache_hit);
        assert_eq!(
            serde_json::to_string(&replayed.choices).unwrap(),
            serde_json::to_string(&original.choices).unwrap(),
            "byte-for-byte the same choices"
        );
        assert_eq!(replayed.usage, original.usage);
        assert_eq!(replayed.request_id, original.request_id);
        assert_eq!(replayed.model, original.model);
    }
    assert_eq!(recorded[2].text(), "DIAGNOSIS READY: Iron deficiency anemia");

    let mut unseen = conversation().remove(0);
    unseen.messages.push(Message::user("a question never asked"));
    let error = model.chat(&unseen).await.unwrap_err();
    assert!(matches!(error, LlmError::ReplayMiss { .. }));
    let message = error.to_string();
    assert!(message.contains("scripted/test-model") && message.contains("role doctor"), "{message}");
    assert!(message.contains("a question never asked"), "{message}");
}

#[tokio::test]
async fn samples_are_distinct_entries() {
    let directory = tempfile::tempdir().unwrap();
    let server = serve(SCRIPT).await;
    let cache = Arc::new(ReplayCache::open(&directory.path().join("c.sqlite")).unwrap());
    let factory = factory(settings_for(&server), "sk-test").with_cache(cache.clone(), CacheMode::ReadWrite);
    let model = factory.model("scripted/test-model").unwrap();
    let mut texts = Vec::new();
    for sample in 0..3 {
        let mut request = ChatRequest::new(vec![Message::user("same prompt")]);
        request.metadata.sample_index = sample;
        texts.push(model.chat(&request).await.unwrap().text().to_owned());
    }
    assert_eq!(texts, ["reply 0 to same prompt", "reply 1 to same prompt", "reply 2 to same prompt"]);
    assert_eq!(cache.len().unwrap(), 3);
    server.shutdown().await;
}

#[test]
fn many_concurrent_writers_share_one_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("shared.sqlite");
    let response = medsim_llm::ChatResponse {
        choices: vec![],
        usage: Default::default(),
        model: "m".into(),
        request_id: None,
        latency: std::time::Duration::ZERO,
        attempts: 1,
        cache_hit: false,
    };
    let threads: Vec<_> = (0..8)
        .map(|writer| {
            let path = path.clone();
            let response = response.clone();
            std::thread::spawn(move || {
                // Each writer has its own connection, as separate processes would.
                let cache = ReplayCache::open(&path).unwrap();
                for index in 0..100 {
                    let request = ChatRequest::new(vec![Message::user(format!("{writer}-{index}"))]);
                    let key = ReplayCache::key("p", "m", &request).unwrap();
                    cache.put(&key, "p", "m", &request, &response).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(ReplayCache::open(&path).unwrap().len().unwrap(), 800);
}
