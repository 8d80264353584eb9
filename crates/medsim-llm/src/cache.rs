//! The replay cache: every call can be stored in a single SQLite file and replayed, so reruns
//! cost nothing and give the same answers.
//!
//! A call's key is the SHA-256 of the provider, the model, the messages (local images by the
//! hash of their bytes), every parameter, and the request's sample index, so `k` samples of the
//! same prompt stay `k` different entries. In `replay-only` mode a miss is an error that names
//! the call; the model behind the cache is never contacted.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::LlmError;
use crate::model::{ChatModel, SharedModel};
use crate::types::{Capabilities, ChatRequest, ChatResponse, ContentPart, ImageSource};

/// How the cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheMode {
    /// Every call goes to the model; nothing is stored.
    #[default]
    Off,
    /// Hits are replayed; misses go to the model and are stored.
    ReadWrite,
    /// Hits are replayed; a miss is an error. No network.
    ReplayOnly,
}

impl FromStr for CacheMode {
    type Err = String;

    fn from_str(text: &str) -> Result<CacheMode, String> {
        match text {
            "off" => Ok(CacheMode::Off),
            "read-write" | "rw" => Ok(CacheMode::ReadWrite),
            "replay-only" | "replay" => Ok(CacheMode::ReplayOnly),
            other => Err(format!("unknown cache mode {other:?}: expected off, read-write or replay-only")),
        }
    }
}

/// A replay cache file.
pub struct ReplayCache {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl ReplayCache {
    /// Opens (creating if needed) the cache database at `path`.
    pub fn open(path: &Path) -> Result<ReplayCache, LlmError> {
        let fail = |message: String| LlmError::Cache { path: path.display().to_string(), message };
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| fail(error.to_string()))?;
        }
        let connection = Connection::open(path).map_err(|error| fail(error.to_string()))?;
        connection.busy_timeout(Duration::from_secs(30)).map_err(|error| fail(error.to_string()))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 CREATE TABLE IF NOT EXISTS calls (
                     key TEXT PRIMARY KEY,
                     provider TEXT NOT NULL,
                     model TEXT NOT NULL,
                     request TEXT NOT NULL,
                     response TEXT NOT NULL,
                     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 );",
            )
            .map_err(|error| fail(error.to_string()))?;
        Ok(ReplayCache { path: path.to_owned(), connection: Mutex::new(connection) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, error: impl std::fmt::Display) -> LlmError {
        LlmError::Cache { path: self.path.display().to_string(), message: error.to_string() }
    }

    /// The key of a call.
    pub fn key(provider: &str, model: &str, request: &ChatRequest) -> Result<String, LlmError> {
        let mut messages = serde_json::to_value(&request.messages).expect("messages serialise");
        // Local images are keyed by their content, not their path.
        for (message_index, message) in request.messages.iter().enumerate() {
            for (part_index, part) in message.content.iter().enumerate() {
                if let ContentPart::Image { source: ImageSource::File(path) } = part {
                    let bytes = std::fs::read(path).map_err(|error| LlmError::Image {
                        path: path.display().to_string(),
                        message: error.to_string(),
                    })?;
                    messages[message_index]["content"][part_index] =
                        json!({"type": "image", "sha256": hex(&Sha256::digest(&bytes))});
                }
            }
        }
        let canonical = json!({
            "version": 1,
            "provider": provider,
            "model": model,
            "messages": messages,
            "params": request.params,
            "response_format": request.response_format,
            "tools": request.tools,
            "tool_choice": request.tool_choice,
            "sample_index": request.metadata.sample_index,
        });
        Ok(hex(&Sha256::digest(serde_json::to_vec(&canonical).expect("JSON serialises"))))
    }

    /// The stored response for a key.
    pub fn get(&self, key: &str) -> Result<Option<ChatResponse>, LlmError> {
        let connection = self.connection.lock().expect("cache lock");
        let stored: Option<String> = connection
            .query_row("SELECT response FROM calls WHERE key = ?1", params![key], |row| row.get(0))
            .optional()
            .map_err(|error| self.fail(error))?;
        stored.map(|text| serde_json::from_str(&text).map_err(|error| self.fail(error))).transpose()
    }

    /// Stores a response (the first one stored for a key wins).
    pub fn put(
        &self,
        key: &str,
        provider: &str,
        model: &str,
        request: &ChatRequest,
        response: &ChatResponse,
    ) -> Result<(), LlmError> {
        let request_text = serde_json::to_string(request).expect("requests serialise");
        let response_text = serde_json::to_string(response).expect("responses serialise");
        let connection = self.connection.lock().expect("cache lock");
        connection
            .execute(
                "INSERT OR IGNORE INTO calls (key, provider, model, request, response) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, provider, model, request_text, response_text],
            )
            .map_err(|error| self.fail(error))?;
        Ok(())
    }

    /// Number of stored calls.
    pub fn len(&self) -> Result<u64, LlmError> {
        let connection = self.connection.lock().expect("cache lock");
        connection.query_row("SELECT COUNT(*) FROM calls", [], |row| row.get(0)).map_err(|error| self.fail(error))
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> Result<bool, LlmError> {
        Ok(self.len()? == 0)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A model behind a replay cache.
pub struct CachedModel {
    inner: SharedModel,
    cache: Arc<ReplayCache>,
    mode: CacheMode,
}

impl CachedModel {
    /// Wraps `inner`.
    pub fn new(inner: SharedModel, cache: Arc<ReplayCache>, mode: CacheMode) -> CachedModel {
        CachedModel { inner, cache, mode }
    }
}

#[async_trait]
impl ChatModel for CachedModel {
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        if self.mode == CacheMode::Off {
            return self.inner.chat(request).await;
        }
        let started = Instant::now();
        let (provider, model) = (self.inner.provider(), self.inner.model());
        let key = ReplayCache::key(&provider, &model, request)?;
        if let Some(mut response) = self.cache.get(&key)? {
            response.cache_hit = true;
            response.attempts = 0;
            response.latency = started.elapsed();
            return Ok(response);
        }
        if self.mode == CacheMode::ReplayOnly {
            return Err(LlmError::ReplayMiss { provider, model, summary: request.summary(), key });
        }
        let response = self.inner.chat(request).await?;
        self.cache.put(&key, &provider, &model, request, &response)?;
        Ok(response)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}
