//! Tests with the real embedded model and the real embedder, as installed by
//! `medsim models pull` (`.ci/run` installs them before testing). They fail, rather than skip,
//! when the models are missing. `tls_pull` installs a small model over real HTTPS.

mod chat;
mod embeddings;
pub mod https;
mod tls_pull;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use medsim_local::llama::{LlamaChatModel, LlamaConfig};
use medsim_local::registry::{self, GGUF_FILE};

/// The installed directory of a known model, or a panic that says how to install it.
pub fn installed(name: &str) -> PathBuf {
    let data_dir = medsim_local::default_data_dir().expect("a data directory");
    let model = registry::find(name).expect("known model");
    assert!(
        medsim_local::pull::is_installed(&data_dir, model),
        "{name} is not installed in {}: run `medsim models pull` (or set MEDSIM_DATA_DIR)",
        data_dir.display()
    );
    medsim_local::pull::install_dir(&data_dir, model)
}

/// The default chat model, loaded once for all tests.
pub fn chat_model() -> Arc<LlamaChatModel> {
    static MODEL: OnceLock<Arc<LlamaChatModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = installed(registry::DEFAULT_CHAT_MODEL).join(GGUF_FILE);
            Arc::new(LlamaChatModel::load(&path, "local/qwen2.5-coder-0.5b-instruct", LlamaConfig::default()).unwrap())
        })
        .clone()
}
