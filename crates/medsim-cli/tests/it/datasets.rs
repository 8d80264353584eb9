//! `medsim datasets`: fetching by name from a real HTTP server on loopback, checksum rejection,
//! offline copies, and using a fetched name anywhere a dataset is accepted.

use std::sync::atomic::Ordering;

use crate::support::{FileServer, medsim, shared_dir};

#[test]
fn fetch_from_loopback_verifies_and_installs() {
    let cache = tempfile::tempdir().unwrap();
    let server = FileServer::start(shared_dir());
    let fetched = medsim(
        cache.path(),
        &["datasets", "fetch", "agentclinic-medqa", "agentclinic-nejm", "--from", &server.url("/")],
    );
    assert_eq!(fetched.code, 0, "{fetched:?}");
    assert!(fetched.stdout.contains("fetched agentclinic-medqa"), "{}", fetched.stdout);
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    let installed = cache.path().join("datasets/agentclinic_medqa.jsonl");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(shared_dir().join("agentclinic_medqa.jsonl")).unwrap()
    );

    // A second fetch finds the verified copy and does not download again.
    let again = medsim(cache.path(), &["datasets", "fetch", "agentclinic-medqa", "--from", &server.url("/")]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("already present"), "{}", again.stdout);
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);

    // The name now works anywhere a dataset is accepted, offline.
    let stats = medsim(cache.path(), &["--offline", "cases", "stats", "agentclinic-medqa", "--json"]);
    assert_eq!(stats.code, 0, "{stats:?}");
    let rows: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    assert_eq!(rows[0]["cases"], 107);
    assert_eq!(rows[0]["dataset"], "agentclinic-medqa");

    let listed = medsim(cache.path(), &["datasets", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    let medqa = listed.as_array().unwrap().iter().find(|row| row["name"] == "agentclinic-medqa").unwrap();
    assert_eq!(medqa["downloaded"], true);
    let nejm_ext = listed.as_array().unwrap().iter().find(|row| row["name"] == "agentclinic-nejm-extended").unwrap();
    assert_eq!(nejm_ext["downloaded"], false);
}

#[test]
fn corrupted_file_is_rejected_and_nothing_is_written() {
    let mirror = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(shared_dir().join("agentclinic_nejm.jsonl")).unwrap();
    let position = bytes.len() / 2;
    bytes[position] ^= 0x20;
    std::fs::write(mirror.path().join("agentclinic_nejm.jsonl"), bytes).unwrap();
    let server = FileServer::start(mirror.path().to_owned());

    let cache = tempfile::tempdir().unwrap();
    let fetched = medsim(cache.path(), &["datasets", "fetch", "agentclinic-nejm", "--from", &server.url("/")]);
    assert_eq!(fetched.code, 3, "{fetched:?}");
    assert!(fetched.stderr.contains("checksum mismatch for agentclinic-nejm"), "{}", fetched.stderr);
    assert!(fetched.stderr.contains("22ac74ed6e0efd9d280e4e4c53918d7446ea4a4d56816bbb364ae87812b8ea71"));
    let directory = cache.path().join("datasets");
    let leftovers: Vec<_> =
        std::fs::read_dir(&directory).map(|entries| entries.flatten().collect()).unwrap_or_default();
    assert!(leftovers.is_empty(), "nothing written: {leftovers:?}");
}

#[test]
fn missing_file_on_the_server_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let server = FileServer::start(empty.path().to_owned());
    let cache = tempfile::tempdir().unwrap();
    let fetched = medsim(cache.path(), &["datasets", "fetch", "agentclinic-medqa", "--from", &server.url("/mirror/")]);
    assert_eq!(fetched.code, 3);
    assert!(fetched.stderr.contains("HTTP 404"), "{}", fetched.stderr);
    assert!(fetched.stderr.contains("/mirror/agentclinic_medqa.jsonl"), "{}", fetched.stderr);
}

#[test]
fn fetch_from_a_local_directory_and_path_command() {
    let cache = tempfile::tempdir().unwrap();
    let fetched = medsim(
        cache.path(),
        &["datasets", "fetch", "agentclinic-nejm-extended", "--from", &shared_dir().display().to_string()],
    );
    assert_eq!(fetched.code, 0, "{fetched:?}");
    let path = medsim(cache.path(), &["datasets", "path", "agentclinic-nejm-extended"]);
    assert_eq!(path.stdout.trim(), cache.path().join("datasets/agentclinic_nejm_extended.jsonl").display().to_string());
}

#[test]
fn unknown_names_and_offline_misses_exit_2() {
    let cache = tempfile::tempdir().unwrap();
    let unknown = medsim(cache.path(), &["datasets", "fetch", "agentclinic-mystery"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("medsim datasets list"), "{}", unknown.stderr);
    let offline = medsim(cache.path(), &["--offline", "cases", "list", "agentclinic-nejm"]);
    assert_eq!(offline.code, 2);
    assert!(offline.stderr.contains("medsim datasets fetch agentclinic-nejm"), "{}", offline.stderr);
    let neither = medsim(cache.path(), &["cases", "list", "no/such/file.jsonl"]);
    assert_eq!(neither.code, 2);
    assert!(neither.stderr.contains("no dataset named"), "{}", neither.stderr);
}
