//! Provider-neutral request and response types.
//!
//! Everything an agent asks of a model, and everything a model answers, in one shape whatever
//! the provider. Wire formats live privately in each provider and convert from and to these.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The other party (for a doctor agent: the patient, test results …).
    User,
    /// The model itself.
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// A remote address (sent as is to providers that fetch URLs).
    Url(String),
    /// A local file, sent inline as a data URL / base64 block.
    File(PathBuf),
    /// Bytes already in memory (e.g. a built-in case image).
    Base64 {
        /// MIME type, e.g. `image/png`.
        media_type: String,
        /// Base64 of the bytes.
        data: String,
    },
}

impl ImageSource {
    /// The image as a URL: remote ones as they are, the others as `data:` URLs.
    pub fn to_url(&self) -> Result<String, crate::LlmError> {
        crate::provider::resolve_image(self).map(|image| image.as_url())
    }
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where it is.
        source: ImageSource,
    },
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text and images, in order.
    pub content: Vec<ContentPart>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `Tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn text_message(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: vec![ContentPart::Text { text: text.into() }],
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Message {
        Message::text_message(Role::System, text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Message {
        Message::text_message(Role::User, text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Message {
        Message::text_message(Role::Assistant, text)
    }

    /// Adds an image after the text.
    pub fn with_image(mut self, source: ImageSource) -> Message {
        self.content.push(ContentPart::Image { source });
        self
    }

    /// All text parts joined with newlines.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self
            .content
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text } => Some(text.as_str()),
                ContentPart::Image { .. } => None,
            })
            .collect();
        parts.join("\n")
    }

    /// True when any part is an image.
    pub fn has_image(&self) -> bool {
        self.content.iter().any(|part| matches!(part, ContentPart::Image { .. }))
    }
}

/// Sampling parameters; `None` leaves the provider's (or the configured) default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Seed, for providers that honour one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of choices to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
}

impl SamplingParams {
    /// Fills every unset field from `defaults`.
    pub fn or(&self, defaults: &SamplingParams) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature.or(defaults.temperature),
            top_p: self.top_p.or(defaults.top_p),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            stop: if self.stop.is_empty() { defaults.stop.clone() } else { self.stop.clone() },
            seed: self.seed.or(defaults.seed),
            n: self.n.or(defaults.n),
        }
    }
}

/// A JSON Schema the reply must follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// A short name for the schema.
    pub name: String,
    /// The schema.
    pub schema: Value,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Function name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: Value,
}

/// Whether and which tool must be called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// Some tool must be called.
    Required,
    /// No tool may be called.
    None,
    /// This tool must be called.
    Tool(String),
}

/// What the caller is (not sent to the model; used for routing, caching and the scripted server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestMetadata {
    /// The role making the call (`doctor`, `patient`, `measurement`, `judge` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Distinguishes repeated samples of the same request in the replay cache.
    #[serde(default)]
    pub sample_index: u32,
}

/// A chat request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Sampling.
    #[serde(default)]
    pub params: SamplingParams,
    /// Structured output, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<JsonSchemaFormat>,
    /// Tools on offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    /// Tool choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Routing and caching information.
    #[serde(default)]
    pub metadata: RequestMetadata,
}

impl ChatRequest {
    /// A request with these messages and default parameters.
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest { messages, ..ChatRequest::default() }
    }

    /// Sets the role in the metadata.
    pub fn for_role(mut self, role: impl Into<String>) -> ChatRequest {
        self.metadata.role = Some(role.into());
        self
    }

    /// A short description for error messages: role and the start of the last message.
    pub fn summary(&self) -> String {
        let last = self.messages.last().map(Message::text).unwrap_or_default();
        let mut excerpt: String = last.chars().take(60).collect();
        if last.chars().count() > 60 {
            excerpt.push('…');
        }
        format!(
            "role {}, {} message(s), last: {excerpt:?}",
            self.metadata.role.as_deref().unwrap_or("unspecified"),
            self.messages.len()
        )
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Provider's call id.
    pub id: String,
    /// Function name.
    pub name: String,
    /// Arguments as parsed JSON (a string when they did not parse).
    pub arguments: Value,
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// Natural end or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model called tools.
    ToolCalls,
    /// Filtered by the provider.
    ContentFilter,
    /// Anything else, verbatim.
    Other(String),
}

impl FinishReason {
    /// Maps OpenAI's and Anthropic's names.
    pub fn from_provider(reason: &str) -> FinishReason {
        match reason {
            "stop" | "end_turn" | "stop_sequence" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "tool_calls" | "tool_use" | "function_call" => FinishReason::ToolCalls,
            "content_filter" | "refusal" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// One generated alternative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The text (empty when the model only called tools).
    pub text: String,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens.
    pub completion_tokens: u64,
}

impl Usage {
    /// Prompt plus completion.
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A chat response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The alternatives (one unless `n` > 1).
    pub choices: Vec<Choice>,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// The provider's request id, when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Wall time of the call, retries included.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
    /// True when the response came from the replay cache.
    #[serde(default)]
    pub cache_hit: bool,
}

impl ChatResponse {
    /// The first choice's text.
    pub fn text(&self) -> &str {
        self.choices.first().map(|choice| choice.text.as_str()).unwrap_or_default()
    }

    /// The first choice's tool calls.
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.choices.first().map(|choice| choice.tool_calls.as_slice()).unwrap_or_default()
    }

    /// The first choice's finish reason.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.choices.first().map(|choice| &choice.finish_reason)
    }
}

/// What a model can do, so callers can fall back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Accepts image parts.
    pub images: bool,
    /// Supports tool calls.
    pub tools: bool,
    /// Enforces a JSON Schema on the reply.
    pub json_schema: bool,
    /// Supports `n` > 1 in one call.
    pub multiple_choices: bool,
}

/// Durations as fractional milliseconds in JSON.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises as milliseconds.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
    }

    /// Reads milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let millis = f64::deserialize(deserializer)?;
        Ok(Duration::from_secs_f64(millis.max(0.0) / 1000.0))
    }
}
