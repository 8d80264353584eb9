//! OpenAI-compatible Chat Completions: OpenAI, vLLM, SGLang, Ollama, llama.cpp server,
//! LM Studio, OpenRouter, Together, Groq …

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::{ProviderModel, resolve_image};
use crate::error::LlmError;
use crate::model::ChatModel;
use crate::transport::{Exchange, RawResponse, Transport, excerpt};
use crate::types::{
    Capabilities, ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, Role, ToolCall, ToolChoice, Usage,
};

/// A model behind an OpenAI-compatible server.
pub struct OpenAiCompatible {
    base: ProviderModel,
}

impl OpenAiCompatible {
    /// A model reached through the provider's transport.
    pub fn new(base: ProviderModel) -> OpenAiCompatible {
        OpenAiCompatible { base }
    }

    /// The transport's counters (attempts, retries).
    pub fn transport(&self) -> &Transport {
        &self.base.transport
    }

    /// The JSON body this request is sent as.
    pub fn wire_body(&self, request: &ChatRequest) -> Result<Value, LlmError> {
        let params = request.params.or(&self.base.defaults);
        let mut messages = Vec::with_capacity(request.messages.len());
        for message in &request.messages {
            let role = match message.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            let content = if message.has_image() {
                let mut parts = Vec::new();
                for part in &message.content {
                    parts.push(match part {
                        ContentPart::Text { text } => json!({"type": "text", "text": text}),
                        ContentPart::Image { source } => {
                            json!({"type": "image_url", "image_url": {"url": resolve_image(source)?.as_url()}})
                        }
                    });
                }
                Value::Array(parts)
            } else {
                Value::String(message.text())
            };
            let mut wire = json!({"role": role, "content": content});
            if !message.tool_calls.is_empty() {
                wire["tool_calls"] = message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": arguments_text(&call.arguments)},
                        })
                    })
                    .collect();
            }
            if let Some(id) = &message.tool_call_id {
                wire["tool_call_id"] = json!(id);
            }
            messages.push(wire);
        }
        let mut body = json!({"model": self.base.model, "messages": messages});
        if let Some(temperature) = params.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(top_p) = params.top_p {
            body["top_p"] = json!(top_p);
        }
        if let Some(max_tokens) = params.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if let Some(seed) = params.seed {
            body["seed"] = json!(seed);
        }
        if let Some(n) = params.n.filter(|n| *n > 1) {
            body["n"] = json!(n);
        }
        if let Some(format) = &request.response_format {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": format.name, "schema": format.schema, "strict": true},
            });
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|tool| {
                    json!({"type": "function", "function": {
                        "name": tool.name, "description": tool.description, "parameters": tool.parameters,
                    }})
                })
                .collect();
        }
        if let Some(choice) = &request.tool_choice {
            body["tool_choice"] = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::Required => json!("required"),
                ToolChoice::None => json!("none"),
                ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            };
        }
        Ok(body)
    }
}

/// Tool-call arguments as the JSON text OpenAI expects.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn decode_error(raw: &RawResponse<'_>, message: impl Into<String>) -> LlmError {
    LlmError::Decode { endpoint: raw.endpoint.to_owned(), message: message.into(), body: excerpt(raw.body, 300) }
}

/// Parses a Chat Completions answer.
pub(crate) fn parse_response(raw: RawResponse<'_>) -> Result<(Vec<Choice>, Usage, String, Option<String>), LlmError> {
    let value: Value = serde_json::from_slice(raw.body).map_err(|error| decode_error(&raw, error.to_string()))?;
    let Some(wire_choices) = value.get("choices").and_then(Value::as_array) else {
        return Err(decode_error(&raw, "no \"choices\" list"));
    };
    let mut choices = Vec::with_capacity(wire_choices.len());
    for choice in wire_choices {
        let message = choice.get("message").ok_or_else(|| decode_error(&raw, "a choice has no \"message\""))?;
        let text = match message.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts.iter().filter_map(|part| part.get("text")?.as_str()).collect(),
            _ => String::new(),
        };
        let mut tool_calls = Vec::new();
        for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            let function = call.get("function").ok_or_else(|| decode_error(&raw, "a tool call has no function"))?;
            let name = function.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let arguments = match function.get("arguments") {
                Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())),
                Some(other) => other.clone(),
                None => Value::Object(Default::default()),
            };
            let id = call.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            tool_calls.push(ToolCall { id, name, arguments });
        }
        let finish_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(FinishReason::from_provider)
            .unwrap_or(FinishReason::Stop);
        choices.push(Choice { text, tool_calls, finish_reason });
    }
    if choices.is_empty() || choices.iter().all(|choice| choice.text.trim().is_empty() && choice.tool_calls.is_empty())
    {
        return Err(LlmError::EmptyResponse { endpoint: raw.endpoint.to_owned() });
    }
    let usage = value
        .get("usage")
        .map(|usage| Usage {
            prompt_tokens: usage.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            completion_tokens: usage.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
        })
        .unwrap_or_default();
    let model = value.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
    let request_id = raw
        .headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| value.get("id").and_then(Value::as_str).map(str::to_owned));
    Ok((choices, usage, model, request_id))
}

/// Headers medsim adds to every call: the calling role, for servers that route or log by it.
pub(crate) fn role_headers(request: &ChatRequest) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = request.metadata.role.as_deref().and_then(|role| HeaderValue::from_str(role).ok()) {
        headers.insert("x-medsim-role", value);
    }
    headers
}

#[async_trait]
impl ChatModel for OpenAiCompatible {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let started = std::time::Instant::now();
        let body = self.wire_body(request)?;
        let estimated = self.base.token_budget(request, 512);
        let bytes = Bytes::from(serde_json::to_vec(&body).expect("JSON bodies serialise"));
        let Exchange { value: (choices, usage, model, request_id), attempts } = self
            .base
            .transport
            .post_json("/chat/completions", bytes, &role_headers(request), estimated, parse_response)
            .await?;
        Ok(self.base.response(choices, usage, model, request_id, started, attempts))
    }

    fn capabilities(&self) -> Capabilities {
        self.base.capabilities
    }

    fn name(&self) -> String {
        self.base.name()
    }
}
