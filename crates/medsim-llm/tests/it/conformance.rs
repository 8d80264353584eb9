//! One conformance suite, run against every provider: text, images, tools, JSON schema, usage,
//! stop strings, the role header and request ids.

use medsim_llm::types::{ChatRequest, ImageSource, JsonSchemaFormat, Message, ToolChoice, ToolDefinition};
use medsim_llm::{FinishReason, SharedModel};
use serde_json::json;

use crate::support::{both_models, serve};

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor, tools: true }
    reply: { tool_calls: [ { name: order_tests, arguments: { tests: ["CBC", "ECG"] } } ] }
  - when: { role: judge }
    reply: { json: { correct: true, reason: "same disease" } }
  - when: { last: "(?i)^describe the image" }
    reply: "I see an ECG. STOP and nothing after"
  - when: { role: patient }
    reply: "My chest hurts, {{ role }}."
default: { echo: true }
"#;

async fn for_each_model(check: impl AsyncFn(SharedModel, &str)) {
    let server = serve(SCRIPT).await;
    for model in both_models(&server) {
        let api = if model.name().starts_with("scripted-anthropic") { "anthropic" } else { "openai" };
        check(model, api).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn text_usage_role_and_request_id() {
    for_each_model(async |model, api| {
        let request = ChatRequest::new(vec![Message::system("You are a patient."), Message::user("What is wrong?")])
            .for_role("patient");
        let response = model.chat(&request).await.unwrap();
        assert_eq!(response.text(), "My chest hurts, patient.", "{api}");
        assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
        assert!(
            response.usage.prompt_tokens > 0 && response.usage.completion_tokens > 0,
            "{api}: {:?}",
            response.usage
        );
        assert!(response.request_id.as_deref().is_some_and(|id| id.contains("scripted")), "{api}");
        assert_eq!(response.attempts, 1);
        assert!(!response.cache_hit);
    })
    .await;
}

#[tokio::test]
async fn local_image_files_are_really_sent() {
    let image = tempfile::NamedTempFile::new().unwrap();
    let png = b"\x89PNG\r\n\x1a\n-fake-png-bytes-for-the-test";
    std::fs::write(image.path(), png).unwrap();
    let server = serve(SCRIPT).await;
    for model in both_models(&server) {
        let request = ChatRequest::new(vec![
            Message::user("Describe the image").with_image(ImageSource::File(image.path().to_owned())),
        ])
        .for_role("doctor");
        let mut request = request;
        request.params.stop = vec!["STOP".to_owned()];
        let response = model.chat(&request).await.unwrap();
        assert_eq!(response.text(), "I see an ECG. ", "stop strings cut the reply ({})", model.name());
    }
    let requests = server.requests();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(png);
    let openai = &requests[0].body["messages"][0]["content"][1];
    assert_eq!(openai["type"], "image_url");
    assert_eq!(openai["image_url"]["url"], format!("data:image/png;base64,{encoded}"));
    let anthropic = &requests[1].body["messages"][0]["content"][1];
    assert_eq!(anthropic["source"]["type"], "base64");
    assert_eq!(anthropic["source"]["media_type"], "image/png");
    assert_eq!(anthropic["source"]["data"], encoded);
    server.shutdown().await;
}

#[tokio::test]
async fn remote_image_urls_pass_through() {
    let server = serve(SCRIPT).await;
    for model in both_models(&server) {
        let request = ChatRequest::new(vec![
            Message::user("Describe the image").with_image(ImageSource::Url("https://example.org/x.png".into())),
        ]);
        model.chat(&request).await.unwrap();
    }
    let requests = server.requests();
    assert_eq!(requests[0].body["messages"][0]["content"][1]["image_url"]["url"], "https://example.org/x.png");
    assert_eq!(
        requests[1].body["messages"][0]["content"][1]["source"],
        json!({"type": "url", "url": "https://example.org/x.png"})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tool_calls_round_trip() {
    for_each_model(async |model, api| {
        let mut request = ChatRequest::new(vec![Message::user("Chest pain for two hours.")]).for_role("doctor");
        request.tools = vec![ToolDefinition {
            name: "order_tests".into(),
            description: "Order tests".into(),
            parameters: json!({"type": "object", "properties": {"tests": {"type": "array", "items": {"type": "string"}}}}),
        }];
        request.tool_choice = Some(ToolChoice::Required);
        let response = model.chat(&request).await.unwrap();
        let calls = response.tool_calls();
        assert_eq!(calls.len(), 1, "{api}");
        assert_eq!(calls[0].name, "order_tests");
        assert_eq!(calls[0].arguments, json!({"tests": ["CBC", "ECG"]}));
        assert!(!calls[0].id.is_empty());
        assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls), "{api}");
    })
    .await;
}

#[tokio::test]
async fn json_schema_requests() {
    let server = serve(SCRIPT).await;
    for model in both_models(&server) {
        let mut request =
            ChatRequest::new(vec![Message::user("Is 'MG' the same as 'myasthenia gravis'?")]).for_role("judge");
        request.response_format = Some(JsonSchemaFormat {
            name: "verdict".into(),
            schema: json!({"type": "object", "properties": {"correct": {"type": "boolean"}, "reason": {"type": "string"}}, "required": ["correct"]}),
        });
        let response = model.chat(&request).await.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(response.text()).unwrap();
        assert_eq!(parsed["correct"], true, "{}", model.name());
        assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
    }
    let requests = server.requests();
    assert_eq!(requests[0].body["response_format"]["type"], "json_schema");
    assert_eq!(requests[0].body["response_format"]["json_schema"]["schema"]["required"], json!(["correct"]));
    assert_eq!(requests[1].body["tool_choice"], json!({"type": "tool", "name": "respond_json"}));
    server.shutdown().await;
}

#[tokio::test]
async fn multiple_samples() {
    for_each_model(async |model, api| {
        let mut request = ChatRequest::new(vec![Message::user("sample me")]);
        request.params.n = Some(3);
        let response = model.chat(&request).await.unwrap();
        assert_eq!(response.choices.len(), 3, "{api}");
        assert!(response.choices.iter().all(|choice| choice.text == "sample me"));
    })
    .await;
}

#[tokio::test]
async fn wire_parameters_are_sent() {
    let server = serve(SCRIPT).await;
    let models = both_models(&server);
    let mut request = ChatRequest::new(vec![Message::system("sys"), Message::user("hi")]);
    request.params.temperature = Some(0.25);
    request.params.top_p = Some(0.9);
    request.params.max_tokens = Some(77);
    request.params.seed = Some(42);
    for model in &models {
        model.chat(&request).await.unwrap();
    }
    let requests = server.requests();
    let openai = &requests[0].body;
    assert_eq!((openai["temperature"].as_f64(), openai["top_p"].as_f64()), (Some(0.25), Some(0.9)));
    assert_eq!((openai["max_tokens"].as_u64(), openai["seed"].as_u64()), (Some(77), Some(42)));
    assert_eq!(openai["messages"][0], json!({"role": "system", "content": "sys"}));
    let anthropic = &requests[1].body;
    assert_eq!(anthropic["system"], "sys");
    assert_eq!(anthropic["max_tokens"], 77);
    assert_eq!(anthropic["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]));
    assert!(requests.iter().all(|request| request.authorized), "the key is sent");
    server.shutdown().await;
}
