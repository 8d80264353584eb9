//! Turning what the user typed (`builtin`, a registered name, a path) into a loaded dataset, and
//! downloading registered datasets into the cache with their checksums verified.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use medsim_core::registry::{self, RegisteredDataset};
use medsim_core::{Dataset, LoadOptions, builtin, load, load_path};

use crate::BadInput;

/// Where datasets live and whether the network may be used.
#[derive(Debug, Clone)]
pub struct DatasetStore {
    pub cache_dir: PathBuf,
    pub offline: bool,
}

/// What happened when fetching one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Downloaded (or copied) and verified.
    Fetched { bytes: usize },
    /// A verified copy was already present.
    AlreadyPresent,
}

impl DatasetStore {
    /// The store configured by flags / environment, defaulting to the user cache directory.
    pub fn new(cache_dir: Option<PathBuf>, offline: bool) -> Result<DatasetStore> {
        let cache_dir = match cache_dir {
            Some(directory) => directory,
            None => dirs::cache_dir()
                .map(|directory| directory.join("medsim"))
                .ok_or_else(|| anyhow!("no user cache directory is known on this system; pass --cache-dir DIR"))?,
        };
        Ok(DatasetStore { cache_dir, offline })
    }

    /// Where a registered dataset is stored.
    pub fn path_of(&self, dataset: &RegisteredDataset) -> PathBuf {
        self.cache_dir.join("datasets").join(dataset.file)
    }

    /// Loads `builtin`, a registered name (fetching it first unless offline) or a path.
    pub fn load(&self, spec: &str, options: LoadOptions) -> Result<Dataset> {
        match self.locate(spec)? {
            None => Ok(builtin::builtin()),
            Some((path, name)) => Ok(load_path(&path, name.as_deref(), options)?),
        }
    }

    /// Where a dataset's file is (fetching a registered one first if needed), with the name it
    /// goes by; `None` for the built-in cases.
    pub fn locate(&self, spec: &str) -> Result<Option<(PathBuf, Option<String>)>> {
        if spec == builtin::BUILTIN {
            return Ok(None);
        }
        if let Some(entry) = registry::find(spec) {
            let path = self.path_of(entry);
            if !path.exists() {
                if self.offline {
                    return Err(BadInput(format!(
                        "dataset {spec} is not downloaded and --offline is set\n  hint: run `medsim datasets fetch {spec}` while online, or pass a path to the file"
                    ))
                    .into());
                }
                eprintln!("fetching dataset {spec} from {} …", entry.url());
                self.fetch(entry, None, false)?;
            }
            return Ok(Some((path, Some(spec.to_owned()))));
        }
        let path = Path::new(spec);
        if path.exists() {
            return Ok(Some((path.to_owned(), None)));
        }
        let names: Vec<&str> = registry::registered().iter().map(|entry| entry.name).collect();
        Err(BadInput(format!(
            "no dataset named {spec:?} and no such file\n  hint: use `builtin`, one of {}, or a path to a case file",
            names.join(", ")
        ))
        .into())
    }

    /// Downloads (or copies, with `from` a directory or file) a registered dataset, verifies its
    /// checksum, and installs it atomically. Nothing is written when the checksum is wrong.
    pub fn fetch(&self, entry: &RegisteredDataset, from: Option<&str>, force: bool) -> Result<FetchOutcome> {
        let destination = self.path_of(entry);
        if !force && destination.exists() {
            let bytes =
                std::fs::read(&destination).with_context(|| format!("cannot read {}", destination.display()))?;
            if load::sha256_hex(&bytes) == entry.sha256 {
                return Ok(FetchOutcome::AlreadyPresent);
            }
        }
        let source = from.map(str::to_owned).unwrap_or_else(|| entry.url());
        let bytes = if is_url(&source) {
            if self.offline {
                return Err(BadInput(format!(
                    "fetching {} needs the network and --offline is set\n  hint: pass --from DIR with a local copy",
                    entry.name
                ))
                .into());
            }
            let url = if source.ends_with(".jsonl") {
                source.clone()
            } else {
                format!("{}/{}", source.trim_end_matches('/'), entry.file)
            };
            download(&url).with_context(|| format!("cannot download {} from {url}", entry.name))?
        } else {
            let mut path = PathBuf::from(&source);
            if path.is_dir() {
                path = path.join(entry.file);
            }
            std::fs::read(&path).map_err(|error| {
                BadInput(format!(
                    "cannot read {}: {error}\n  hint: --from takes a URL, a directory holding {}, or the file itself",
                    path.display(),
                    entry.file
                ))
            })?
        };
        let actual = load::sha256_hex(&bytes);
        if actual != entry.sha256 {
            bail!(
                "checksum mismatch for {} from {source}: expected sha256 {}, got {actual}; nothing was written\n  hint: the file is corrupt or not the pinned upstream version (commit {}); try another mirror or fetch again",
                entry.name,
                entry.sha256,
                registry::AGENTCLINIC_COMMIT
            );
        }
        let directory = destination.parent().expect("dataset paths have a parent");
        std::fs::create_dir_all(directory).with_context(|| format!("cannot create {}", directory.display()))?;
        let temporary = directory.join(format!(".{}.{}.partial", entry.file, std::process::id()));
        std::fs::write(&temporary, &bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &destination)
            .with_context(|| format!("cannot move the download into {}", destination.display()))?;
        Ok(FetchOutcome::Fetched { bytes: bytes.len() })
    }
}

/// How a dataset is written into run.json: `builtin` and registered names as given, a path as
/// its absolute, canonical form, so the run resumes from any working directory.
pub fn recorded_spec(spec: &str) -> String {
    medsim_engine::run::recorded_spec(spec, |name| registry::find(name).is_some())
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

fn download(url: &str) -> Result<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = medsim_llm::http::client_builder_from_env()?
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .build()?;
        let explain = |error: reqwest::Error| anyhow::anyhow!(medsim_llm::http::Failure::of(&error).explain(url));
        let response = client.get(url).send().await.map_err(explain)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let excerpt: String = body.chars().take(200).collect();
            bail!("HTTP {status}: {excerpt}");
        }
        Ok(response.bytes().await.map_err(explain)?.to_vec())
    })
}
