//! medsim-llm: how medsim talks to models.
//!
//! - [`model::ChatModel`]: the one trait every agent uses, behind `Arc<dyn ChatModel>`;
//! - [`types`]: provider-neutral requests (messages with text and images, sampling, JSON
//!   schema, tools) and responses (choices, tool calls, usage, latency, request id);
//! - [`provider`]: OpenAI-compatible Chat Completions and the Anthropic Messages API;
//! - [`transport`]: timeouts, retries with backoff and `Retry-After`, concurrency and rate
//!   limits, several endpoints with failover — shared by every provider;
//! - [`cache`]: the SQLite replay cache (`off`, `read-write`, `replay-only`);
//! - [`pricing`]: prices per million tokens and cost of a call;
//! - [`config`]: `PROVIDER/MODEL` specs, `medsim.toml` provider settings, and the model factory;
//! - [`script`]: the scripted OpenAI/Anthropic-compatible server used by tests and benchmarks.

pub mod cache;
pub mod config;
pub mod embedding;
pub mod error;
pub mod http;
pub mod model;
pub mod pricing;
pub mod provider;
pub mod rng;
pub mod script;
pub mod secret;
pub mod settings_file;
pub mod transport;
pub mod types;

pub use cache::{CacheMode, CachedModel, ReplayCache};
pub use config::{LlmSettings, ModelFactory, ModelSpec};
pub use embedding::{Embedder, SharedEmbedder};
pub use error::LlmError;
pub use model::{ChatModel, SharedModel};
pub use secret::ApiKey;
pub use types::{
    Capabilities, ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, ImageSource, JsonSchemaFormat, Message,
    RequestMetadata, Role, SamplingParams, ToolCall, ToolChoice, ToolDefinition, Usage,
};
