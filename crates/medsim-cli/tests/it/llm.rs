//! `medsim llm`: the scripted server as a real process, `chat` and `check` against it through a
//! medsim.toml, the replay cache across processes, and the API key never leaking.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use crate::support::{medsim_command, medsim_with_env};

const KEY: &str = "sk-cli-leaktest-93b1c7d2e8f40a55";

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor }
    reply: "REQUEST TEST: Complete blood count"
  - when: { role: patient }
    reply: "I have been tired for weeks."
  - when: { last: "(?i)ready" }
    reply: "ready"
default: { text: "You said: {{ last }}" }
"#;

pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_server(directory: &std::path::Path) -> Server {
    start_server_with(directory, SCRIPT)
}

pub fn start_server_with(directory: &std::path::Path, text: &str) -> Server {
    let script = directory.join("script.yaml");
    std::fs::write(&script, text).unwrap();
    let mut child = medsim_command(directory)
        .args(["llm", "serve-script", script.to_str().unwrap(), "--record"])
        .arg(directory.join("requests.jsonl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|word| word.starts_with("http://")).expect("address printed").to_owned();
    Server { child, base }
}

pub fn write_config(directory: &std::path::Path, base: &str) -> String {
    let path = directory.join("medsim.toml");
    std::fs::write(
        &path,
        format!(
            "[providers.scripted]\nbase_url = \"{base}/v1\"\napi_key_env = \"MEDSIM_TEST_KEY\"\n\n\
             [providers.scripted-anthropic]\nkind = \"anthropic\"\nbase_url = \"{base}\"\napi_key_env = \"MEDSIM_TEST_KEY\"\n\n\
             [roles]\ndoctor = \"scripted/doctor-model\"\npatient = \"scripted-anthropic/patient-model\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn chat_check_and_cache_through_a_real_scripted_server() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server(directory.path());
    let config = write_config(directory.path(), &server.base);
    let env = [("MEDSIM_TEST_KEY", KEY)];
    let mut outputs = Vec::new();

    let chat =
        medsim_with_env(directory.path(), &["--config", &config, "llm", "chat", "scripted/any", "hello there"], &env);
    assert_eq!(chat.code, 0, "{chat:?}");
    assert_eq!(chat.stdout, "You said: hello there\n");
    assert!(chat.stderr.contains("prompt +"), "{}", chat.stderr);
    outputs.push(format!("{chat:?}"));

    let check = medsim_with_env(
        directory.path(),
        &[
            "--config",
            &config,
            "llm",
            "check",
            "--judge-model",
            "scripted/judge-model",
            "--measurement-model",
            "scripted/measurement-model",
            "--json",
        ],
        &env,
    );
    assert_eq!(check.code, 0, "{check:?}");
    let rows: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let status: Vec<&str> = rows.as_array().unwrap().iter().map(|row| row["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["ok", "ok", "ok", "ok"]);
    assert_eq!(rows[0]["reply"], "REQUEST TEST: Complete blood count");
    assert_eq!(rows[1]["reply"], "I have been tired for weeks.");
    assert_eq!(rows[1]["model"], "scripted-anthropic/patient-model");
    assert!(rows[0]["latency_ms"].as_f64().is_some());
    outputs.push(format!("{check:?}"));

    // Record into the replay cache, stop the server, replay with no server at all.
    let cache = directory.path().join("replay.sqlite");
    let cache = cache.to_str().unwrap();
    let args = [
        "--config",
        &config,
        "llm",
        "chat",
        "scripted/any",
        "cache me",
        "--cache",
        "read-write",
        "--cache-path",
        cache,
    ];
    let recorded = medsim_with_env(directory.path(), &args, &env);
    assert_eq!(recorded.stdout, "You said: cache me\n");
    drop(server);
    let args = [
        "--config",
        &config,
        "llm",
        "chat",
        "scripted/any",
        "cache me",
        "--cache",
        "replay-only",
        "--cache-path",
        cache,
    ];
    let replayed = medsim_with_env(directory.path(), &args, &env);
    assert_eq!(replayed.code, 0, "{replayed:?}");
    assert_eq!(replayed.stdout, recorded.stdout);
    assert!(replayed.stderr.contains("from the replay cache"), "{}", replayed.stderr);
    let args = [
        "--config",
        &config,
        "llm",
        "chat",
        "scripted/any",
        "never asked",
        "--cache",
        "replay-only",
        "--cache-path",
        cache,
    ];
    let missed = medsim_with_env(directory.path(), &args, &env);
    assert_ne!(missed.code, 0);
    assert!(missed.stderr.contains("replay cache miss"), "{}", missed.stderr);
    outputs.extend([format!("{recorded:?}"), format!("{replayed:?}"), format!("{missed:?}")]);

    for output in &outputs {
        assert!(!output.contains(KEY), "the key leaked into output: {output}");
    }
    for entry in std::fs::read_dir(directory.path()).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !bytes.windows(KEY.len()).any(|window| window == KEY.as_bytes()),
            "the key leaked into {}",
            entry.path().display()
        );
    }
    let recorded_requests = std::fs::read_to_string(directory.path().join("requests.jsonl")).unwrap();
    assert!(recorded_requests.lines().count() >= 5);
    assert!(recorded_requests.contains("\"authorized\":true"));
}

#[test]
fn configuration_errors_are_clear() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("medsim.toml");
    std::fs::write(&config, "[providers.vllm]\nbase_url = \"http://127.0.0.1:9/v1\"\ntimeout = 3\n").unwrap();
    let output =
        medsim_with_env(directory.path(), &["--config", config.to_str().unwrap(), "llm", "chat", "vllm/x", "hi"], &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("medsim.toml:3: unknown field `timeout`"), "{}", output.stderr);

    let missing_key = medsim_with_env(directory.path(), &["llm", "chat", "openai/gpt-4o-mini", "hi"], &[]);
    assert_eq!(missing_key.code, 2, "{missing_key:?}");
    assert!(missing_key.stderr.contains("OPENAI_API_KEY"), "{}", missing_key.stderr);

    let bad_spec = medsim_with_env(directory.path(), &["llm", "chat", "gpt-4o", "hi"], &[]);
    assert_eq!(bad_spec.code, 2);
    assert!(bad_spec.stderr.contains("PROVIDER/MODEL"), "{}", bad_spec.stderr);

    let script = directory.path().join("bad.yaml");
    std::fs::write(&script, "rules:\n  - when: { last: \"(\" }\n").unwrap();
    let serve = medsim_with_env(directory.path(), &["llm", "serve-script", script.to_str().unwrap()], &[]);
    assert_eq!(serve.code, 2);
    assert!(serve.stderr.contains("invalid regex"), "{}", serve.stderr);
}
