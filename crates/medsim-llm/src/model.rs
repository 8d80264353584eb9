//! The one interface every agent talks to.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::LlmError;
use crate::types::{Capabilities, ChatRequest, ChatResponse};

/// A chat model. Constructing one (provider, endpoints, keys) is outside the trait; agents only
/// ever hold an `Arc<dyn ChatModel>`.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Sends a request and waits for the complete answer. Dropping the future cancels the call.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;

    /// What the model supports.
    fn capabilities(&self) -> Capabilities;

    /// `provider/model`, as written on the command line.
    fn name(&self) -> String;

    /// The provider part of [`ChatModel::name`].
    fn provider(&self) -> String {
        self.name().split('/').next().unwrap_or_default().to_owned()
    }

    /// The model part of [`ChatModel::name`].
    fn model(&self) -> String {
        self.name().split_once('/').map(|(_, model)| model.to_owned()).unwrap_or_default()
    }
}

/// Shared handle to a model.
pub type SharedModel = Arc<dyn ChatModel>;
