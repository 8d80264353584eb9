//! Local sentence embeddings: all-MiniLM-L6-v2 (BERT, 384 dimensions) with candle, computed
//! as sentence-transformers does: tokenise (longest-in-batch padding, truncation at 256), run
//! the encoder, mean-pool over real tokens (attention mask), L2-normalise.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use medsim_llm::{Embedder, LlmError};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Longest input, in tokens, before truncation (sentence-transformers' `max_seq_length`).
pub const MAX_TOKENS: usize = 256;

struct Inner {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

/// The MiniLM embedder.
#[derive(Clone)]
pub struct MiniLmEmbedder {
    inner: Arc<Inner>,
    name: String,
}

fn failure(what: &str, error: impl std::fmt::Display) -> LlmError {
    LlmError::Config(format!("embedder: {what}: {error}"))
}

impl MiniLmEmbedder {
    /// Loads `model.safetensors`, `tokenizer.json` and `config.json` from a directory.
    pub fn load(directory: &Path) -> Result<MiniLmEmbedder, LlmError> {
        let device = Device::Cpu;
        let config_text = std::fs::read_to_string(directory.join("config.json"))
            .map_err(|error| failure(&directory.join("config.json").display().to_string(), error))?;
        let config: Config = serde_json::from_str(&config_text).map_err(|error| failure("config.json", error))?;
        let weights = std::fs::read(directory.join("model.safetensors"))
            .map_err(|error| failure(&directory.join("model.safetensors").display().to_string(), error))?;
        let builder = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|error| failure("model.safetensors", error))?;
        let model = BertModel::load(builder, &config).map_err(|error| failure("loading BERT", error))?;
        let mut tokenizer =
            Tokenizer::from_file(directory.join("tokenizer.json")).map_err(|error| failure("tokenizer.json", error))?;
        // The shipped tokenizer pads and truncates to 128; sentence-transformers pads to the
        // longest text in the batch and truncates at 256.
        tokenizer
            .with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..PaddingParams::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(|error| failure("truncation", error))?;
        Ok(MiniLmEmbedder {
            inner: Arc::new(Inner { model, tokenizer, device }),
            name: "local/all-minilm-l6-v2".into(),
        })
    }

    /// Embeds synchronously (on the calling thread).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let encodings =
            inner.tokenizer.encode_batch(texts.to_vec(), true).map_err(|error| failure("tokenising", error))?;
        let rows = encodings.len();
        let columns = encodings[0].get_ids().len();
        let flatten = |pick: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Vec<u32> {
            encodings.iter().flat_map(pick).collect()
        };
        let ids = flatten(&|encoding| encoding.get_ids().to_vec());
        let types = flatten(&|encoding| encoding.get_type_ids().to_vec());
        let mask = flatten(&|encoding| encoding.get_attention_mask().to_vec());
        let tensor = |values: Vec<u32>| {
            Tensor::from_vec(values, (rows, columns), &inner.device).map_err(|error| failure("tensor", error))
        };
        let (ids, types, mask) = (tensor(ids)?, tensor(types)?, tensor(mask)?);
        let hidden = inner.model.forward(&ids, &types, Some(&mask)).map_err(|error| failure("forward", error))?;
        let pooled = (|| -> candle_core::Result<Tensor> {
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norms)
        })()
        .map_err(|error| failure("pooling", error))?;
        pooled.to_vec2::<f32>().map_err(|error| failure("reading vectors", error))
    }
}

#[async_trait]
impl Embedder for MiniLmEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let embedder = self.clone();
        let texts = texts.to_vec();
        let mut vectors = Vec::with_capacity(texts.len());
        // Batches of 32 keep padding waste and peak memory small.
        for chunk in texts.chunks(32) {
            let embedder = embedder.clone();
            let chunk = chunk.to_vec();
            let result = tokio::task::spawn_blocking(move || embedder.embed_blocking(&chunk))
                .await
                .map_err(|error| failure("worker", error))??;
            vectors.extend(result);
        }
        Ok(vectors)
    }

    fn dimensions(&self) -> usize {
        384
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}
