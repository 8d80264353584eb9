//! Helpers: run the real `medsim` binary, and serve a directory over HTTP on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a finished `medsim` process said.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `medsim ARGS` with a private cache directory.
pub fn medsim(cache: &Path, args: &[&str]) -> Output {
    medsim_with_env(cache, args, &[])
}

/// Variables of the outer environment that would point medsim elsewhere.
const OUTER: &[&str] = &["OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "PIP_INDEX_URL"];

/// `medsim` with no MEDSIM_* (or provider base URL) variables from the outer environment but the
/// cache directory.
pub fn medsim_command(cache: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_medsim"));
    for (name, _) in std::env::vars() {
        if name.starts_with("MEDSIM_") || OUTER.contains(&name.as_str()) {
            command.env_remove(name);
        }
    }
    command.env("MEDSIM_CACHE_DIR", cache);
    command
}

/// Runs `medsim ARGS` with extra environment variables.
pub fn medsim_with_env(cache: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let output = medsim_command(cache).args(args).envs(envs.iter().copied()).output().expect("medsim runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `../shared/datasets/agentclinic`, beside the repository.
pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/agentclinic")
}

pub fn shared_file(name: &str) -> String {
    shared_dir().join(name).display().to_string()
}

/// A minimal HTTP/1.1 static file server on 127.0.0.1, serving `root` on a background thread
/// for the life of the test process. It counts the requests it answered.
pub struct FileServer {
    pub address: SocketAddr,
    pub requests: Arc<AtomicUsize>,
}

impl FileServer {
    pub fn start(root: PathBuf) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).map(|read| read == 0).unwrap_or(true) || header == "\r\n" {
                        break;
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
                let file = root.join(&path);
                let response = match std::fs::read(&file) {
                    Ok(body) if !path.contains("..") => {
                        let mut head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        head.extend(body);
                        head
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_vec(),
                };
                let _ = stream.write_all(&response);
            }
        });
        FileServer { address, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.address, path.trim_start_matches('/'))
    }
}
