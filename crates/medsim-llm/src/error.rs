//! Errors of the model layer. They keep what a person needs to act (HTTP status, a body
//! excerpt, which endpoint, how many attempts) and never an API key.

use std::time::Duration;

/// Why a model call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    /// The server answered with an error status.
    #[error("{endpoint} answered HTTP {status}: {body}")]
    Http {
        /// Base URL of the endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The start of the response body (keys redacted).
        body: String,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The connection failed or broke.
    #[error("{endpoint}: network error: {message}")]
    Network {
        /// Base URL of the endpoint.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// The endpoint could not be reached at all: the name does not resolve, the connection is
    /// refused, or its certificate is not trusted.
    #[error("{message}\n  hint: the base URL comes from {origin}")]
    Unreachable {
        /// What happened, with the URL.
        message: String,
        /// Which setting gave the base URL.
        origin: String,
    },
    /// No complete answer within the read timeout.
    #[error("{endpoint}: no answer within {}s", after.as_secs_f64())]
    Timeout {
        /// Base URL of the endpoint.
        endpoint: String,
        /// The timeout.
        after: Duration,
    },
    /// The answer was not what the API promises (malformed JSON, missing fields).
    #[error("{endpoint}: malformed response: {message}; body starts {body:?}")]
    Decode {
        /// Base URL of the endpoint.
        endpoint: String,
        /// What was wrong.
        message: String,
        /// The start of the body (keys redacted).
        body: String,
    },
    /// The answer had no text and no tool call.
    #[error("{endpoint}: empty response (no text, no tool call)")]
    EmptyResponse {
        /// Base URL of the endpoint.
        endpoint: String,
    },
    /// Every attempt failed.
    #[error("gave up after {attempts} attempt(s) in {:.1}s; last error: {last}", elapsed.as_secs_f64())]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last failure.
        last: Box<LlmError>,
    },
    /// Replay-only mode and the call is not in the cache.
    #[error(
        "replay cache miss for {provider}/{model} ({summary}), key {key}\n  hint: this call was not recorded; run once with --cache read-write against the real model, or use --cache off"
    )]
    ReplayMiss {
        /// Provider name.
        provider: String,
        /// Model name.
        model: String,
        /// What the call was.
        summary: String,
        /// The cache key.
        key: String,
    },
    /// The replay cache could not be read or written.
    #[error("replay cache {path}: {message}")]
    Cache {
        /// The database file.
        path: String,
        /// What happened.
        message: String,
    },
    /// A local image could not be read.
    #[error("image {path}: {message}")]
    Image {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// The request needs something this model cannot do.
    #[error("{0}")]
    Unsupported(String),
}

impl LlmError {
    /// True for failures a retry may cure: 408, 409, 429, 5xx, network, timeouts, malformed or
    /// empty answers.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            LlmError::Network { .. }
            | LlmError::Unreachable { .. }
            | LlmError::Timeout { .. }
            | LlmError::Decode { .. }
            | LlmError::EmptyResponse { .. } => true,
            _ => false,
        }
    }

    /// True when the endpoint itself looks unhealthy (worth routing around).
    pub fn endpoint_unhealthy(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => *status >= 500,
            LlmError::Network { .. } | LlmError::Unreachable { .. } | LlmError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status, if the failure was one (looking through retries).
    pub fn status(&self) -> Option<u16> {
        match self {
            LlmError::Http { status, .. } => Some(*status),
            LlmError::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}
