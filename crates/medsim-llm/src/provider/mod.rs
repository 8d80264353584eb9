//! Providers: each turns a [`ChatRequest`](crate::types::ChatRequest) into its wire format,
//! sends it through the shared [`Transport`](crate::transport::Transport), and turns the answer
//! back. Wire types stay private to each module.

pub mod anthropic;
pub mod openai;

use std::sync::Arc;

use base64::Engine;

use crate::error::LlmError;
use crate::transport::Transport;
use crate::types::{Capabilities, ImageSource, SamplingParams};

/// What every provider's model holds: its names, the shared transport, defaults, capabilities.
pub struct ProviderModel {
    /// Provider name (`openai`, `vllm`, …).
    pub provider: String,
    /// The provider's model name.
    pub model: String,
    /// The provider's transport (shared by all its models).
    pub transport: Arc<Transport>,
    /// Default sampling parameters.
    pub defaults: SamplingParams,
    /// What the model supports.
    pub capabilities: Capabilities,
}

impl ProviderModel {
    /// `provider/model`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    /// Tokens a request may use (prompt estimate plus its completion budget), for the
    /// tokens-per-minute limit.
    pub(crate) fn token_budget(&self, request: &crate::types::ChatRequest, default_max_tokens: u32) -> u64 {
        let prompt: u64 = request.messages.iter().map(|message| estimate_tokens(&message.text())).sum();
        prompt + u64::from(request.params.or(&self.defaults).max_tokens.unwrap_or(default_max_tokens))
    }

    /// The response, naming this model when the server did not say which answered.
    pub(crate) fn response(
        &self,
        choices: Vec<crate::types::Choice>,
        usage: crate::types::Usage,
        model: String,
        request_id: Option<String>,
        started: std::time::Instant,
        attempts: u32,
    ) -> crate::types::ChatResponse {
        // A server may echo the API key in what it generates; nothing it sends reaches a
        // transcript, the screen or a file before the key is scrubbed from it.
        let choices = choices
            .into_iter()
            .map(|mut choice| {
                choice.text = self.transport.scrub(&choice.text);
                for call in &mut choice.tool_calls {
                    call.id = self.transport.scrub(&call.id);
                    call.name = self.transport.scrub(&call.name);
                    self.transport.scrub_json(&mut call.arguments);
                }
                choice
            })
            .collect();
        crate::types::ChatResponse {
            choices,
            usage,
            model: if model.is_empty() { self.model.clone() } else { self.transport.scrub(&model) },
            request_id: request_id.map(|id| self.transport.scrub(&id)),
            latency: started.elapsed(),
            attempts,
            cache_hit: false,
        }
    }
}

/// An image ready to send: a remote URL, or inline bytes.
pub(crate) enum WireImage {
    Url(String),
    Inline { media_type: String, data: String },
}

impl WireImage {
    /// `data:` URL or remote URL.
    pub(crate) fn as_url(&self) -> String {
        match self {
            WireImage::Url(url) => url.clone(),
            WireImage::Inline { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// Resolves an image source; local files are read and base64-encoded.
pub(crate) fn resolve_image(source: &ImageSource) -> Result<WireImage, LlmError> {
    match source {
        ImageSource::Url(url) => match url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,")) {
            Some((media_type, data)) => {
                Ok(WireImage::Inline { media_type: media_type.to_owned(), data: data.to_owned() })
            }
            None => Ok(WireImage::Url(url.clone())),
        },
        ImageSource::Base64 { media_type, data } => {
            Ok(WireImage::Inline { media_type: media_type.clone(), data: data.clone() })
        }
        ImageSource::File(path) => {
            let bytes = std::fs::read(path)
                .map_err(|error| LlmError::Image { path: path.display().to_string(), message: error.to_string() })?;
            Ok(WireImage::Inline {
                media_type: media_type_of(&bytes).to_owned(),
                data: base64::engine::general_purpose::STANDARD.encode(bytes),
            })
        }
    }
}

/// The MIME type of image bytes, from their signature.
pub fn media_type_of(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

/// A rough token estimate (four characters per token) for rate limiting and the scripted server.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}
