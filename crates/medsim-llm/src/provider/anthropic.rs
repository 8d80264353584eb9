//! The Anthropic Messages API. JSON-schema requests are served by forcing a single tool whose
//! input schema is the requested schema, and the tool input is returned as the reply text.

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use super::openai::{decode_error, role_headers};
use super::{ProviderModel, WireImage, resolve_image};
use crate::error::LlmError;
use crate::model::ChatModel;
use crate::transport::{Exchange, RawResponse, Transport};
use crate::types::{
    Capabilities, ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, Role, ToolCall, ToolChoice, Usage,
};

/// The API version medsim speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Name of the tool used to enforce a JSON schema.
const SCHEMA_TOOL: &str = "respond_json";

/// A model behind the Anthropic Messages API.
pub struct Anthropic {
    base: ProviderModel,
}

impl Anthropic {
    /// A model reached through the provider's transport.
    pub fn new(base: ProviderModel) -> Anthropic {
        Anthropic { base }
    }

    /// The transport's counters (attempts, retries).
    pub fn transport(&self) -> &Transport {
        &self.base.transport
    }

    /// The JSON body this request is sent as.
    pub fn wire_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let params = request.params.or(&self.base.defaults);
        let system: Vec<String> = request
            .messages
            .iter()
            .filter(|message| message.role == Role::System)
            .map(|message| message.text())
            .collect();
        let mut messages: Vec<Value> = Vec::new();
        for message in request.messages.iter().filter(|message| message.role != Role::System) {
            let mut blocks = Vec::new();
            if message.role == Role::Tool {
                blocks.push(json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": message.text(),
                }));
            } else {
                for part in &message.content {
                    blocks.push(match part {
                        ContentPart::Text { text } => json!({"type": "text", "text": text}),
                        ContentPart::Image { source } => match resolve_image(source)? {
                            WireImage::Url(url) => json!({"type": "image", "source": {"type": "url", "url": url}}),
                            WireImage::Inline { media_type, data } => json!({
                                "type": "image",
                                "source": {"type": "base64", "media_type": media_type, "data": data},
                            }),
                        },
                    });
                }
                for call in &message.tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}));
                }
            }
            let role = if message.role == Role::Assistant { "assistant" } else { "user" };
            // The API wants user and assistant turns to alternate: merge neighbours.
            match messages.last_mut() {
                Some(last) if last["role"] == role => {
                    last["content"].as_array_mut().expect("content is a list").extend(blocks);
                }
                _ => messages.push(json!({"role": role, "content": blocks})),
            }
        }
        let mut body = json!({
            "model": self.base.model,
            "max_tokens": params.max_tokens.unwrap_or(1024),
            "messages": messages,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if let Some(temperature) = params.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(top_p) = params.top_p {
            body["top_p"] = json!(top_p);
        }
        if !params.stop.is_empty() {
            body["stop_sequences"] = json!(params.stop);
        }
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}))
            .collect();
        if let Some(format) = &request.response_format {
            tools.push(json!({
                "name": SCHEMA_TOOL,
                "description": format!("Respond with a {} object.", format.name),
                "input_schema": format.schema,
            }));
            body["tool_choice"] = json!({"type": "tool", "name": SCHEMA_TOOL});
        } else if let Some(choice) = &request.tool_choice {
            body["tool_choice"] = match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
            };
        }
        if !tools.is_empty() {
            body["tools"] = Value::Array(tools);
        }
        Ok(body)
    }

    async fn one(&self, request: &ChatRequest) -> Result<(Choice, Usage, String, Option<String>, u32), LlmError> {
        let body = self.wire_body(request)?;
        let estimated = self.base.token_budget(request, 1024);
        let mut headers = role_headers(request);
        headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        let schema_mode = request.response_format.is_some();
        let bytes = Bytes::from(serde_json::to_vec(&body).expect("JSON bodies serialise"));
        let Exchange { value, attempts } = self
            .base
            .transport
            .post_json("/v1/messages", bytes, &headers, estimated, |raw| parse_response(raw, schema_mode))
            .await?;
        let (choice, usage, model, request_id) = value;
        Ok((choice, usage, model, request_id, attempts))
    }
}

fn parse_response(
    raw: RawResponse<'_>,
    schema_mode: bool,
) -> Result<(Choice, Usage, String, Option<String>), LlmError> {
    let value: Value = serde_json::from_slice(raw.body).map_err(|error| decode_error(&raw, error.to_string()))?;
    let Some(blocks) = value.get("content").and_then(Value::as_array) else {
        return Err(decode_error(&raw, "no \"content\" list"));
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or_default()),
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                let input = block.get("input").cloned().unwrap_or(Value::Object(Default::default()));
                if schema_mode && name == SCHEMA_TOOL {
                    text = input.to_string();
                } else {
                    let id = block.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                    tool_calls.push(ToolCall { id, name, arguments: input });
                }
            }
            _ => {}
        }
    }
    if text.trim().is_empty() && tool_calls.is_empty() {
        return Err(LlmError::EmptyResponse { endpoint: raw.endpoint.to_owned() });
    }
    let mut finish_reason =
        value.get("stop_reason").and_then(Value::as_str).map(FinishReason::from_provider).unwrap_or(FinishReason::Stop);
    if schema_mode && finish_reason == FinishReason::ToolCalls {
        finish_reason = FinishReason::Stop;
    }
    let usage = value
        .get("usage")
        .map(|usage| Usage {
            prompt_tokens: usage.get("input_tokens").and_then(Value::as_u64).unwrap_or(0),
            completion_tokens: usage.get("output_tokens").and_then(Value::as_u64).unwrap_or(0),
        })
        .unwrap_or_default();
    let model = value.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
    let request_id = raw
        .headers
        .get("request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| value.get("id").and_then(Value::as_str).map(str::to_owned));
    Ok((Choice { text, tool_calls, finish_reason }, usage, model, request_id))
}

#[async_trait]
impl ChatModel for Anthropic {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = std::time::Instant::now();
        // The Messages API returns one answer per call: n samples are n calls.
        let samples = request.params.or(&self.base.defaults).n.unwrap_or(1).max(1);
        let mut choices = Vec::with_capacity(samples as usize);
        let mut usage = Usage::default();
        let mut attempts = 0;
        let mut model = String::new();
        let mut request_id = None;
        for _ in 0..samples {
            let (choice, call_usage, call_model, call_id, call_attempts) = self.one(request).await?;
            choices.push(choice);
            usage += call_usage;
            attempts += call_attempts;
            model = call_model;
            request_id = request_id.or(call_id);
        }
        Ok(self.base.response(choices, usage, model, request_id, started, attempts))
    }

    fn capabilities(&self) -> Capabilities {
        self.base.capabilities
    }

    fn name(&self) -> String {
        self.base.name()
    }
}
