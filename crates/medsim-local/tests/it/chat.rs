//! The embedded chat model: replies, determinism, grammar-constrained tool calls, stop strings,
//! concurrent decoding, prefix reuse and cancellation.

use std::time::Duration;

use futures::StreamExt;
use medsim_llm::types::{ChatRequest, JsonSchemaFormat, Message, ToolChoice, ToolDefinition};
use medsim_llm::{ChatModel, FinishReason};
use serde_json::{Value, json};

use crate::chat_model;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn answers_a_simple_question() {
    runtime().block_on(async {
        let model = chat_model();
        let mut request = ChatRequest::new(vec![
            Message::system("You are a helpful assistant. Answer briefly."),
            Message::user("What is the capital of France? Answer with one word."),
        ]);
        request.params.max_tokens = Some(16);
        let response = model.chat(&request).await.unwrap();
        assert!(response.text().contains("Paris"), "{:?}", response.text());
        assert!(response.usage.prompt_tokens > 10 && response.usage.completion_tokens > 0);
        assert_eq!(model.name(), "local/qwen2.5-coder-0.5b-instruct");
        assert!(!model.capabilities().images);
    });
}

#[test]
fn a_seed_makes_sampling_repeatable() {
    runtime().block_on(async {
        // Its own instance: other tests' sequences in the same batch would perturb the
        // floating-point sums (by design, requests share batches).
        let path = crate::installed(medsim_local::registry::DEFAULT_CHAT_MODEL).join(medsim_local::registry::GGUF_FILE);
        let model = medsim_local::llama::LlamaChatModel::load(&path, "local/x", Default::default()).unwrap();
        let mut request = ChatRequest::new(vec![Message::user("Write one sentence about a patient with a cough.")]);
        request.params.temperature = Some(0.9);
        request.params.seed = Some(42);
        request.params.max_tokens = Some(40);
        let first = model.chat(&request).await.unwrap();
        let second = model.chat(&request).await.unwrap();
        assert_eq!(first.text(), second.text());
        assert!(!first.text().is_empty());
        request.params.temperature = Some(0.0);
        let greedy = model.chat(&request).await.unwrap();
        assert_eq!(greedy.text(), model.chat(&request).await.unwrap().text(), "temperature 0 is deterministic");
    });
}

fn doctor_tools() -> Vec<ToolDefinition> {
    vec![
        ToolDefinition {
            name: "ask".into(),
            description: "Ask the patient one question".into(),
            parameters: json!({"type": "object", "properties": {"question": {"type": "string", "maxLength": 200}}, "required": ["question"]}),
        },
        ToolDefinition {
            name: "order_tests".into(),
            description: "Order tests".into(),
            parameters: json!({"type": "object", "properties": {"tests": {"type": "array", "items": {"type": "string", "maxLength": 60}, "minItems": 1, "maxItems": 4}}, "required": ["tests"]}),
        },
        ToolDefinition {
            name: "diagnose".into(),
            description: "Give the final diagnosis".into(),
            parameters: json!({"type": "object", "properties": {"primary": {"type": "string", "maxLength": 120}}, "required": ["primary"]}),
        },
    ]
}

#[test]
fn a_hundred_grammar_constrained_tool_calls_all_parse() {
    runtime().block_on(async {
        let model = chat_model();
        let complaints = [
            "chest pain",
            "a cough",
            "a headache",
            "fatigue",
            "a rash",
            "abdominal pain",
            "fever",
            "dizziness",
            "back pain",
            "palpitations",
        ];
        let results: Vec<_> = futures::stream::iter(0..100usize)
            .map(|index| {
                let model = model.clone();
                let complaint = complaints[index % complaints.len()];
                async move {
                    let mut request = ChatRequest::new(vec![
                        Message::system("You are a doctor. Use exactly one tool per turn."),
                        Message::user(format!("Patient {index}: I have had {complaint} for {} days.", index % 9 + 1)),
                    ]);
                    request.tools = doctor_tools();
                    request.tool_choice = Some(ToolChoice::Required);
                    request.params.max_tokens = Some(200);
                    request.params.temperature = Some(0.7);
                    request.params.seed = Some(index as u64);
                    model.chat(&request).await.unwrap()
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut names = std::collections::BTreeMap::new();
        for response in &results {
            let calls = response.tool_calls();
            assert_eq!(calls.len(), 1, "one tool call: {:?}", response.choices);
            let call = &calls[0];
            let required = match call.name.as_str() {
                "ask" => "question",
                "order_tests" => "tests",
                "diagnose" => "primary",
                other => panic!("unknown tool {other}"),
            };
            assert!(call.arguments.get(required).is_some(), "{} arguments {:?}", call.name, call.arguments);
            assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
            *names.entry(call.name.clone()).or_insert(0) += 1;
        }
        assert_eq!(results.len(), 100);
        eprintln!("tool calls by name: {names:?}");
    });
}

#[test]
fn json_schema_output_parses() {
    runtime().block_on(async {
        let model = chat_model();
        let mut request = ChatRequest::new(vec![Message::user("Is 'heart attack' the same disease as 'myocardial infarction'?")]);
        request.response_format = Some(JsonSchemaFormat {
            name: "verdict".into(),
            schema: json!({"type": "object", "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}}, "required": ["same", "reason"]}),
        });
        request.params.max_tokens = Some(120);
        let response = model.chat(&request).await.unwrap();
        let parsed: Value = serde_json::from_str(response.text()).unwrap();
        assert!(parsed["same"].is_boolean(), "{parsed}");
    });
}

#[test]
fn stop_strings_are_honoured() {
    runtime().block_on(async {
        let model = chat_model();
        let mut request =
            ChatRequest::new(vec![Message::user("Count from 1 to 10, separated by commas, nothing else.")]);
        request.params.stop = vec!["5".into()];
        request.params.max_tokens = Some(60);
        let response = model.chat(&request).await.unwrap();
        let text = response.text();
        assert!(text.contains('3') && !text.contains('5') && !text.contains('7'), "{text:?}");
        assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
    });
}

#[test]
fn concurrent_requests_decode_together_and_prefixes_are_reused() {
    runtime().block_on(async {
        // Its own instance, so the other tests' requests do not take the cached slot.
        let path = crate::installed(medsim_local::registry::DEFAULT_CHAT_MODEL).join(medsim_local::registry::GGUF_FILE);
        let model = std::sync::Arc::new(
            medsim_local::llama::LlamaChatModel::load(&path, "local/x", Default::default()).unwrap(),
        );
        let before = model.timings().unwrap();
        let requests: Vec<_> = (0..4)
            .map(|index| {
                let model = model.clone();
                async move {
                    let mut request = ChatRequest::new(vec![Message::user(format!(
                        "Name a fruit that starts with the letter {}.",
                        ["A", "B", "C", "G"][index]
                    ))]);
                    request.params.max_tokens = Some(24);
                    model.chat(&request).await.unwrap()
                }
            })
            .collect();
        let responses = futures::future::join_all(requests).await;
        assert!(responses.iter().all(|response| !response.text().is_empty()));

        // A second turn of one conversation reads only what is new.
        let system = "You are a doctor taking a history. ".repeat(20);
        let mut conversation = vec![Message::system(system), Message::user("I have a cough.")];
        let mut request = ChatRequest::new(conversation.clone());
        request.params.max_tokens = Some(20);
        let first = model.chat(&request).await.unwrap();
        conversation.push(Message::assistant(first.text()));
        conversation.push(Message::user("It started a week ago."));
        let mut request = ChatRequest::new(conversation);
        request.params.max_tokens = Some(20);
        let middle = model.timings().unwrap();
        let second = model.chat(&request).await.unwrap();
        let after = model.timings().unwrap();
        let read = after.prompt_tokens - middle.prompt_tokens;
        assert!(
            read < second.usage.prompt_tokens / 2,
            "the shared prefix is reused: read {read} of {} prompt tokens",
            second.usage.prompt_tokens
        );
        assert!(after.generated_tokens > before.generated_tokens);
    });
}

#[test]
fn a_dropped_request_frees_its_slot() {
    runtime().block_on(async {
        let model = chat_model();
        let mut long = ChatRequest::new(vec![Message::user("Write a very long essay about the history of medicine.")]);
        long.params.max_tokens = Some(2000);
        let cancelled = tokio::time::timeout(Duration::from_millis(300), model.chat(&long)).await;
        assert!(cancelled.is_err(), "the long request was still running");
        let mut short = ChatRequest::new(vec![Message::user("Say OK.")]);
        short.params.max_tokens = Some(4);
        let started = std::time::Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(60), model.chat(&short)).await.unwrap().unwrap();
        assert!(!response.text().is_empty());
        assert!(started.elapsed() < Duration::from_secs(30), "the cancelled generation did not keep running");
    });
}
