//! A real HTTPS file server on 127.0.0.1 with a certificate authority generated for the test:
//! what a package index behind a TLS-inspecting proxy looks like to medsim. Shared with the CLI
//! tests (`#[path]`), so both drive the same server.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The server: its address, the CA certificate (PEM) that signed its certificate, and every
/// request path it answered.
pub struct HttpsFileServer {
    pub address: SocketAddr,
    pub ca_pem: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpsFileServer {
    /// Serves the files under `root` (a path ending in `/` serves its `index.json`).
    pub fn start(root: PathBuf) -> HttpsFileServer {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "medsim test proxy CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        leaf_params.subject_alt_names.push(rcgen::SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
            )
            .unwrap();
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                let root = root.clone();
                let log = log.clone();
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    serve_one(&mut tls, &root, &log);
                });
            }
        });
        HttpsFileServer { address, ca_pem: ca.pem(), requests }
    }

    /// `https://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}/{}", self.address, path.trim_start_matches('/'))
    }

    /// Writes the CA certificate to `directory/ca.pem` and returns its path.
    pub fn write_ca(&self, directory: &Path) -> PathBuf {
        let path = directory.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

fn serve_one<S: std::io::Read + Write>(stream: &mut S, root: &Path, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&mut *stream);
    let mut request_line = String::new();
    // A client that rejects the certificate ends the handshake here.
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).map(|read| read == 0).unwrap_or(true) || header == "\r\n" {
            break;
        }
    }
    drop(reader);
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    log.lock().unwrap().push(path.clone());
    let file =
        if path.ends_with('/') || path.is_empty() { root.join(&path).join("index.json") } else { root.join(&path) };
    let response = match std::fs::read(&file) {
        Ok(body) if !path.contains("..") => {
            let kind = if file.extension().is_some_and(|extension| extension == "json") {
                "application/vnd.pypi.simple.v1+json"
            } else {
                "application/octet-stream"
            };
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: {kind}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            head.extend(body);
            head
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_vec(),
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
}

/// Lays out a PEP 691 JSON simple index under `root` for one wheel: `simple/PACKAGE/index.json`
/// listing `files/WHEEL`, whose bytes are `wheel`.
pub fn publish_wheel(root: &Path, package: &str, wheel_name: &str, wheel: &[u8]) {
    let listing = root.join("simple").join(package);
    std::fs::create_dir_all(&listing).unwrap();
    std::fs::create_dir_all(root.join("files")).unwrap();
    std::fs::write(root.join("files").join(wheel_name), wheel).unwrap();
    let index = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": package,
        // Relative, as PEP 691 allows: resolved against the listing's URL.
        "files": [{"filename": wheel_name, "url": format!("../../files/{wheel_name}"), "size": wheel.len(), "hashes": {}}],
    });
    std::fs::write(listing.join("index.json"), index.to_string()).unwrap();
}
