//! medsim-local: models that run on this machine.
//!
//! - [`llama`]: GGUF chat models through llama.cpp, behind medsim's `ChatModel`;
//! - [`embed`]: the MiniLM sentence embedder behind medsim's `Embedder`;
//! - [`registry`] and [`pull`]: known models and their installation;
//! - [`register`]: plugs the `local/` provider into a `ModelFactory`.

pub mod embed;
pub mod llama;
pub mod pull;
pub mod registry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use medsim_llm::{LlmError, ModelFactory, SharedModel};

use crate::llama::{LlamaChatModel, LlamaConfig};
use crate::registry::{GGUF_FILE, KnownModel};

/// The embedded default, as a model spec.
pub const DEFAULT_MODEL_SPEC: &str = "local/qwen2.5-coder-0.5b-instruct";

/// Where models are installed: `MEDSIM_DATA_DIR`, else the user data directory + `/medsim`.
pub fn default_data_dir() -> Option<PathBuf> {
    std::env::var_os("MEDSIM_DATA_DIR").map(PathBuf::from).or_else(|| dirs_data_dir().map(|dir| dir.join("medsim")))
}

fn dirs_data_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
}

/// The GGUF file a `local/…` spec names: a known model's installed file, or a path.
pub fn resolve_gguf(data_dir: &Path, model: &str) -> Result<PathBuf, LlmError> {
    if let Some(known) = registry::find(model) {
        if !pull::is_installed(data_dir, known) {
            return Err(not_installed(known));
        }
        return Ok(pull::install_dir(data_dir, known).join(GGUF_FILE));
    }
    let path = PathBuf::from(model);
    if path.extension().is_some_and(|extension| extension == "gguf") || path.is_file() {
        return Ok(path);
    }
    let names: Vec<&str> = registry::known_models().iter().map(|known| known.name).collect();
    Err(LlmError::Config(format!("local/{model} is neither a known model ({}) nor a .gguf file", names.join(", "))))
}

fn not_installed(model: &KnownModel) -> LlmError {
    LlmError::Config(format!("model {} is not installed\n  hint: run `medsim models pull {}`", model.name, model.name))
}

/// The local embedder a `local/…` spec names (the installed MiniLM).
pub fn embedder(data_dir: &Path, model: &str) -> Result<embed::MiniLmEmbedder, LlmError> {
    let known = registry::find(model)
        .filter(|known| known.kind == registry::ModelKind::Embedder)
        .ok_or_else(|| LlmError::Config(format!("local/{model} is not a known local embedder (all-minilm-l6-v2)")))?;
    if !pull::is_installed(data_dir, known) {
        return Err(not_installed(known));
    }
    embed::MiniLmEmbedder::load(&pull::install_dir(data_dir, known))
}

/// Registers the `local/` provider: `local/NAME` for a known model, `local/PATH.gguf` for any
/// GGUF file. Each file is loaded once and shared by every role and episode that names it.
pub fn register(factory: &ModelFactory, data_dir: PathBuf, config: LlamaConfig) {
    let loaded: Arc<Mutex<HashMap<PathBuf, SharedModel>>> = Arc::default();
    factory.register(
        "local",
        Arc::new(move |model: &str| {
            let path = resolve_gguf(&data_dir, model)?;
            let key = path.canonicalize().unwrap_or_else(|_| path.clone());
            let mut loaded = loaded.lock().expect("local models lock");
            if let Some(existing) = loaded.get(&key) {
                return Ok(existing.clone());
            }
            let chat: SharedModel = Arc::new(LlamaChatModel::load(&path, format!("local/{model}"), config.clone())?);
            loaded.insert(key, chat.clone());
            Ok(chat)
        }),
    );
}
