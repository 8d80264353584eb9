//! The embedded default model from the command line's side: installing it on first use (with a
//! progress bar), and registering the `local/` provider.

use std::path::Path;

use anyhow::Result;
use medsim_llm::ModelFactory;

use crate::BadInput;

/// The model a role uses when none is configured: the embedded default.
#[cfg(feature = "local")]
pub fn default_model(_role: medsim_core::transcript::RoleName) -> Option<&'static str> {
    Some(medsim_local::DEFAULT_MODEL_SPEC)
}

/// The model a role uses when none is configured (none: this medsim has no embedded model).
#[cfg(not(feature = "local"))]
pub fn default_model(_role: medsim_core::transcript::RoleName) -> Option<&'static str> {
    None
}

/// Where models are installed unless `--data-dir` says otherwise.
#[cfg(feature = "local")]
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    medsim_local::default_data_dir()
}

/// Where models would be installed unless `--data-dir` says otherwise.
#[cfg(not(feature = "local"))]
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    dirs::data_dir().map(|directory| directory.join("medsim"))
}

/// Adds the `local/` provider to a factory.
#[cfg(feature = "local")]
pub fn register(factory: &ModelFactory, data_dir: &Path) {
    medsim_local::register(factory, data_dir.to_owned(), medsim_local::llama::LlamaConfig::default());
}

/// Adds the `local/` provider to a factory (not built in).
#[cfg(not(feature = "local"))]
pub fn register(_factory: &ModelFactory, _data_dir: &Path) {}

/// Installs the known local model a spec names, if it is missing: says so, shows progress.
#[cfg(feature = "local")]
pub async fn ensure_installed(spec: &str, data_dir: &Path, offline: bool) -> Result<()> {
    let Some(name) = spec.strip_prefix("local/") else { return Ok(()) };
    let Some(model) = medsim_local::registry::find(name) else { return Ok(()) };
    if medsim_local::pull::is_installed(data_dir, model) {
        return Ok(());
    }
    if offline {
        return Err(BadInput(medsim_local::pull::PullError::Offline { model: model.name.into() }.to_string()).into());
    }
    eprintln!(
        "medsim: {} ({} MB, {}) is not installed yet; downloading it once into {}",
        model.name,
        model.size / 1_000_000,
        model.license,
        medsim_local::pull::install_dir(data_dir, model).display()
    );
    pull(model, data_dir, &medsim_local::pull::PullSource::default()).await
}

/// Loads a local model now, saying so, so the first episode does not silently wait for it.
/// HTTP models are built on first use as before (building one is instant).
pub fn preload(factory: &ModelFactory, spec: &str) -> Result<()> {
    if !spec.starts_with("local/") {
        return Ok(());
    }
    eprintln!("loading {spec} …");
    let started = std::time::Instant::now();
    factory.model(spec).map_err(|error| BadInput(error.to_string()))?;
    eprintln!("loaded {spec} in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Installs the known local model a spec names (not built in: only checks the spec).
#[cfg(not(feature = "local"))]
pub async fn ensure_installed(spec: &str, _data_dir: &Path, _offline: bool) -> Result<()> {
    if spec.starts_with("local/") {
        return Err(BadInput(format!(
            "{spec}: this medsim was built without the embedded model (the `local` feature)\n  hint: rebuild with default features, or configure an HTTP model"
        ))
        .into());
    }
    Ok(())
}

#[cfg(feature = "local")]
struct Bar(indicatif::ProgressBar);

/// Download progress as plain lines on standard error, at most one every few seconds, for logs
/// and pipes where a bar would be noise.
#[cfg(feature = "local")]
struct Lines {
    name: &'static str,
    state: std::sync::Mutex<(u64, u64, std::time::Instant)>,
    started: std::time::Instant,
}

#[cfg(feature = "local")]
impl Lines {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);

    fn print(&self, done: u64, total: u64) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "downloading {}: {} / {} MB ({:.1} MB/s)",
            self.name,
            done / 1_000_000,
            total / 1_000_000,
            done as f64 / 1e6 / seconds
        );
    }
}

#[cfg(feature = "local")]
impl medsim_local::pull::Progress for Lines {
    fn start(&self, total: u64) {
        let mut state = self.state.lock().expect("progress");
        state.1 = total;
        self.print(0, total);
        state.2 = std::time::Instant::now();
    }
    fn advance(&self, bytes: u64) {
        let mut state = self.state.lock().expect("progress");
        state.0 += bytes;
        if state.2.elapsed() >= Self::EVERY {
            self.print(state.0, state.1);
            state.2 = std::time::Instant::now();
        }
    }
    fn step(&self, message: &str) {
        eprintln!("{}: {message}", self.name);
    }
}

#[cfg(feature = "local")]
impl medsim_local::pull::Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn step(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
}

/// Pulls one model with a progress bar on standard error (plain lines when not a terminal).
#[cfg(feature = "local")]
pub async fn pull(
    model: &medsim_local::registry::KnownModel,
    data_dir: &Path,
    source: &medsim_local::pull::PullSource,
) -> Result<()> {
    use std::io::IsTerminal;
    let started = std::time::Instant::now();
    let result = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(model.name);
        let result = medsim_local::pull::pull(data_dir, model, source, &Bar(bar.clone())).await;
        bar.finish_and_clear();
        result
    } else {
        let lines = Lines { name: model.name, state: std::sync::Mutex::new((0, 0, started)), started };
        medsim_local::pull::pull(data_dir, model, source, &lines).await
    };
    let directory = result.map_err(|error| anyhow::anyhow!(error))?;
    eprintln!(
        "installed {} into {} in {:.0}s (sha256 verified)",
        model.name,
        directory.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The default embedder for experience memory.
#[cfg(feature = "local")]
pub const DEFAULT_EMBEDDER: Option<&str> = Some("local/all-minilm-l6-v2");
/// The default embedder for experience memory.
#[cfg(not(feature = "local"))]
pub const DEFAULT_EMBEDDER: Option<&str> = None;

/// A local embedder (installing it first if needed).
#[cfg(feature = "local")]
pub async fn embedder(spec: &str, data_dir: &Path, offline: bool) -> Result<medsim_llm::embedding::SharedEmbedder> {
    ensure_installed(spec, data_dir, offline).await?;
    let name = spec.strip_prefix("local/").unwrap_or(spec);
    let embedder = medsim_local::embedder(data_dir, name).map_err(|error| BadInput(error.to_string()))?;
    Ok(std::sync::Arc::new(embedder))
}

/// A local embedder (not built in).
#[cfg(not(feature = "local"))]
pub async fn embedder(spec: &str, _data_dir: &Path, _offline: bool) -> Result<medsim_llm::embedding::SharedEmbedder> {
    Err(BadInput(format!(
        "{spec}: this medsim was built without the embedded models (the `local` feature)\n  hint: pass --embedder PROVIDER/MODEL of an embeddings endpoint"
    ))
    .into())
}
