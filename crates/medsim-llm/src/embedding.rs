//! Sentence embeddings: one trait for the local MiniLM embedder (in `medsim-local`) and any
//! OpenAI-compatible `/v1/embeddings` endpoint, used by experience memory.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::error::LlmError;
use crate::provider::openai::decode_error;
use crate::transport::{Exchange, Transport};

/// Something that turns texts into vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError>;

    /// Length of every vector.
    fn dimensions(&self) -> usize;

    /// `provider/model`.
    fn name(&self) -> String;
}

/// Shared handle to an embedder.
pub type SharedEmbedder = Arc<dyn Embedder>;

/// An OpenAI-compatible `/v1/embeddings` endpoint.
pub struct OpenAiEmbedder {
    provider: String,
    model: String,
    dimensions: usize,
    batch: usize,
    transport: Arc<Transport>,
}

impl OpenAiEmbedder {
    /// An embedder `provider/model` producing `dimensions`-long vectors, sending `batch` texts
    /// per request.
    pub fn new(
        provider: &str,
        model: &str,
        dimensions: usize,
        batch: usize,
        transport: Arc<Transport>,
    ) -> OpenAiEmbedder {
        OpenAiEmbedder { provider: provider.into(), model: model.into(), dimensions, batch: batch.max(1), transport }
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch) {
            let body = json!({"model": self.model, "input": chunk});
            let bytes = Bytes::from(serde_json::to_vec(&body).expect("JSON serialises"));
            let estimated = chunk.iter().map(|text| crate::provider::estimate_tokens(text)).sum();
            let Exchange { value, .. } = self
                .transport
                .post_json("/embeddings", bytes, &HeaderMap::new(), estimated, |raw| {
                    let value: Value =
                        serde_json::from_slice(raw.body).map_err(|error| decode_error(&raw, error.to_string()))?;
                    let mut data: Vec<(u64, Vec<f32>)> = value["data"]
                        .as_array()
                        .ok_or_else(|| decode_error(&raw, "no \"data\" list"))?
                        .iter()
                        .map(|item| {
                            let index = item["index"].as_u64().unwrap_or(0);
                            let vector = item["embedding"]
                                .as_array()
                                .map(|numbers| numbers.iter().filter_map(Value::as_f64).map(|x| x as f32).collect())
                                .unwrap_or_default();
                            (index, vector)
                        })
                        .collect();
                    data.sort_by_key(|(index, _)| *index);
                    Ok(data.into_iter().map(|(_, vector)| vector).collect::<Vec<Vec<f32>>>())
                })
                .await?;
            if value.len() != chunk.len() {
                return Err(LlmError::Decode {
                    endpoint: self.provider.clone(),
                    message: format!("asked for {} embeddings, got {}", chunk.len(), value.len()),
                    body: String::new(),
                });
            }
            vectors.extend(value);
        }
        Ok(vectors)
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(left: &[f32], right: &[f32]) -> f32 {
    let dot: f32 = left.iter().zip(right).map(|(a, b)| a * b).sum();
    let norms = left.iter().map(|a| a * a).sum::<f32>().sqrt() * right.iter().map(|b| b * b).sum::<f32>().sqrt();
    if norms == 0.0 { 0.0 } else { dot / norms }
}
