//! The one way medsim builds an HTTP client, so every download and model call trusts what the
//! rest of the machine trusts, and the one way it explains a failed request.
//!
//! Trusted roots are the operating system's store (through rustls-native-certs, which reads
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` where set), the bundled Mozilla roots, and every certificate
//! in `SSL_CERT_FILE` and in the files of `SSL_CERT_DIR`, read here explicitly so a proxy's CA
//! bundle is trusted whatever the platform store says. A certificate failure is reported as one,
//! with what to do, instead of reqwest's "error sending request".

use std::path::{Path, PathBuf};

/// The environment variable naming a PEM bundle of extra trusted roots.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// The environment variable naming a directory of PEM files of extra trusted roots.
pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A CA file named by the environment could not be read or held no certificate.
    #[error("{variable}={path}: {message}\n  hint: point {variable} at a PEM file of CA certificates, or unset it")]
    CaFile {
        /// `SSL_CERT_FILE` or `SSL_CERT_DIR`.
        variable: &'static str,
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// The certificates medsim adds to the platform's and the bundled roots, read from
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` through `environment`.
pub fn extra_roots(environment: &dyn Fn(&str) -> Option<String>) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let mut roots = Vec::new();
    if let Some(file) = environment(SSL_CERT_FILE).filter(|value| !value.is_empty()) {
        let path = PathBuf::from(&file);
        let certificates = read_pem(&path).map_err(|message| ClientError::CaFile {
            variable: SSL_CERT_FILE,
            path: file.clone(),
            message,
        })?;
        if certificates.is_empty() {
            return Err(ClientError::CaFile {
                variable: SSL_CERT_FILE,
                path: file,
                message: "no PEM certificate in the file".into(),
            });
        }
        roots.extend(certificates);
    }
    if let Some(directory) = environment(SSL_CERT_DIR).filter(|value| !value.is_empty()) {
        // OpenSSL allows several directories separated by ':'. Unreadable or non-PEM files are
        // skipped, as OpenSSL does: such directories hold hash links and other files too.
        for directory in directory.split(':').filter(|part| !part.is_empty()) {
            let Ok(entries) = std::fs::read_dir(directory) else { continue };
            let mut paths: Vec<PathBuf> =
                entries.flatten().map(|entry| entry.path()).filter(|path| path.is_file()).collect();
            paths.sort();
            for path in paths {
                if let Ok(certificates) = read_pem(&path) {
                    roots.extend(certificates);
                }
            }
        }
    }
    Ok(roots)
}

fn read_pem(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    if !bytes.windows(27).any(|window| window == b"-----BEGIN CERTIFICATE-----") {
        return Ok(Vec::new());
    }
    reqwest::Certificate::from_pem_bundle(&bytes).map_err(|error| format!("not a PEM certificate bundle: {error}"))
}

/// A client builder trusting the platform's store, the bundled roots and the CA files the
/// environment names, with medsim's user agent.
pub fn client_builder(environment: &dyn Fn(&str) -> Option<String>) -> Result<reqwest::ClientBuilder, ClientError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("medsim/", env!("CARGO_PKG_VERSION")))
        .tls_built_in_webpki_certs(true)
        .tls_built_in_native_certs(true);
    for root in extra_roots(environment)? {
        builder = builder.add_root_certificate(root);
    }
    Ok(builder)
}

/// [`client_builder`] with the process environment.
pub fn client_builder_from_env() -> Result<reqwest::ClientBuilder, ClientError> {
    client_builder(&|name| std::env::var(name).ok())
}

/// What kind of failure a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server's certificate was not trusted (or not valid for the name).
    Certificate,
    /// The host name did not resolve.
    Dns,
    /// No connection could be made (refused, unreachable).
    Connect,
    /// No answer in time.
    Timeout,
    /// Anything else (a broken connection, a bad body).
    Other,
}

/// A request failure explained: its kind and the whole chain of causes as one line.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The causes of reqwest's error (reqwest's own "error sending request" and hyper's
    /// "client error (Connect)" left out when a cause says more), joined by ": ".
    pub detail: String,
}

impl Failure {
    /// Classifies a reqwest error.
    pub fn of(error: &reqwest::Error) -> Failure {
        let mut causes: Vec<String> = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.starts_with("client error (") && !causes.iter().any(|known| known.contains(&text)) {
                causes.push(text);
            }
            source = cause.source();
        }
        let detail = if causes.is_empty() { error.to_string() } else { causes.join(": ") };
        let lower = detail.to_lowercase();
        let kind =
            if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("tls handshake") {
                FailureKind::Certificate
            } else if error.is_timeout() {
                FailureKind::Timeout
            } else if lower.contains("dns error")
                || lower.contains("failed to lookup address")
                || lower.contains("name or service not known")
                || lower.contains("no address associated")
            {
                FailureKind::Dns
            } else if error.is_connect() {
                FailureKind::Connect
            } else {
                FailureKind::Other
            };
        Failure { kind, detail }
    }

    /// One sentence a person can act on; `url` is what was requested.
    pub fn explain(&self, url: &str) -> String {
        match self.kind {
            FailureKind::Certificate => format!(
                "{url}: the server's certificate is not trusted ({})\n  hint: if you are behind a TLS-inspecting proxy, set SSL_CERT_FILE to its CA bundle (PEM); medsim also trusts the system store and SSL_CERT_DIR",
                self.detail
            ),
            FailureKind::Dns => format!("{url}: the host name does not resolve ({})", self.detail),
            FailureKind::Connect => format!("{url}: cannot connect ({})", self.detail),
            FailureKind::Timeout => format!("{url}: no answer in time ({})", self.detail),
            FailureKind::Other => format!("{url}: {}", self.detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let error = extra_roots(&|name| (name == SSL_CERT_FILE).then(|| "/no/such/ca.pem".to_owned())).unwrap_err();
        assert!(error.to_string().starts_with("SSL_CERT_FILE=/no/such/ca.pem:"), "{error}");
        let directory = tempfile::tempdir().unwrap();
        let empty = directory.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let path = empty.display().to_string();
        let error = extra_roots(&|name| (name == SSL_CERT_FILE).then(|| path.clone())).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        // A directory with no certificates adds nothing and is no error.
        let dir = directory.path().display().to_string();
        assert!(extra_roots(&|name| (name == SSL_CERT_DIR).then(|| dir.clone())).unwrap().is_empty());
    }
}
