//! Issue 13's reproductions, each with real `medsim` processes: readers while a run is being
//! written, two writers at once, settings and flags that used to panic or pass silently, a run
//! whose every episode fails, a large single-line JSON file, resuming from another directory,
//! and a hostile server that echoes the API key in every form it can.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::llm::start_server_with;
use crate::support::{Output, medsim_command, medsim_with_env, shared_file};

const SCRIPT: &str = r#"
latency: { mean_ms: 15 }
rules:
  - when: { role: judge }
    reply: "No"
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in?", "REQUEST TEST: CBC", "DIAGNOSIS READY: Anemia"]
  - when: { role: patient }
    reply: "I feel unwell."
"#;

fn config(directory: &Path, base: &str, extra: &str) -> String {
    let path = directory.join("medsim.toml");
    std::fs::write(
        &path,
        format!("{extra}\n[providers.s]\nbase_url = \"{base}/v1\"\n[roles]\ndoctor = \"s/d\"\npatient = \"s/p\"\njudge = \"s/j\"\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("episodes.jsonl")).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn unique_keys(run: &Path) -> usize {
    let mut keys: Vec<(String, u64)> = lines(run)
        .iter()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (record["case_id"].as_str().unwrap().to_owned(), record["repeat"].as_u64().unwrap())
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

#[test]
fn readers_during_a_run_never_panic_lose_or_change_episodes() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server_with(directory.path(), SCRIPT);
    let config = config(directory.path(), &server.base, "");
    let runs = directory.path().join("runs");
    let run = runs.join("medqa");
    let medqa = shared_file("agentclinic_medqa.jsonl");
    let mut writer = medsim_command(directory.path())
        .args(["--config", &config, "run", "--dataset", &medqa, "--concurrency", "16", "--out"])
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut reads, mut panics, mut shrinks) = (0, Vec::new(), 0);
    let mut seen = 0usize;
    let started = Instant::now();
    while writer.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(120) {
        for args in [
            vec!["summary", run.to_str().unwrap()],
            vec!["runs", "list", runs.to_str().unwrap(), "--json"],
            vec!["show", run.to_str().unwrap()],
        ] {
            let output = medsim_with_env(directory.path(), &args, &[]);
            reads += 1;
            if output.code == 101 || output.stderr.contains("panicked") {
                panics.push(output.stderr);
            }
        }
        let now = lines(&run).len();
        if now < seen {
            shrinks += 1;
        }
        seen = seen.max(now);
    }
    let status = writer.wait().unwrap();
    assert!(status.success(), "the run itself succeeded");
    assert!(panics.is_empty(), "{} of {reads} reads panicked: {:?}", panics.len(), panics.first());
    assert_eq!(shrinks, 0, "no reader ever shortened the log");
    assert!(reads >= 9, "readers ran while the run was going ({reads})");
    assert_eq!(lines(&run).len(), 107, "every episode is on disk");
    assert_eq!(unique_keys(&run), 107);
    let summary = medsim_with_env(directory.path(), &["summary", run.to_str().unwrap(), "--json"], &[]);
    assert_eq!(summary.code, 0, "{summary:?}");
    let summary: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    assert_eq!(summary["episodes"], 107);

    // A finished log whose last record lacks only its newline keeps that record, untouched.
    let log = run.join("episodes.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.trim_end_matches('\n')).unwrap();
    let summary = medsim_with_env(directory.path(), &["summary", run.to_str().unwrap(), "--json"], &[]);
    let parsed: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    assert_eq!(parsed["episodes"], 107, "{}", summary.stderr);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), text.trim_end_matches('\n'), "a reader changes nothing");

    // A log with a repeated episode (merged by hand) is counted once, and the repeat is named.
    let mut doubled = text.clone();
    let first = text.lines().next().unwrap();
    let first_record: serde_json::Value = serde_json::from_str(first).unwrap();
    let first_key = format!("{}#{}", first_record["case_id"].as_str().unwrap(), first_record["repeat"]);
    doubled.push_str(first);
    doubled.push('\n');
    std::fs::write(&log, doubled).unwrap();
    let summary = medsim_with_env(directory.path(), &["summary", run.to_str().unwrap(), "--json"], &[]);
    let parsed: serde_json::Value = serde_json::from_str(&summary.stdout).unwrap();
    assert_eq!(parsed["episodes"], 107);
    assert!(summary.stderr.contains("appear more than once"), "{}", summary.stderr);
    assert!(summary.stderr.contains(&first_key), "{first_key}: {}", summary.stderr);
}

#[test]
fn two_resumes_at_once_do_not_run_an_episode_twice() {
    let directory = tempfile::tempdir().unwrap();
    let slow = SCRIPT.replace("mean_ms: 15", "mean_ms: 40");
    let server = start_server_with(directory.path(), &slow);
    let config = config(directory.path(), &server.base, "");
    let run = directory.path().join("run");
    let medqa = shared_file("agentclinic_medqa.jsonl");
    // Start a run and kill it once a few episodes are on disk.
    let mut first = medsim_command(directory.path())
        .args(["--config", &config, "run", "--dataset", &medqa, "--concurrency", "8", "--out"])
        .arg(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while lines(&run).len() < 5 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = lines(&run).len();
    assert!(before < 107, "killed part-way ({before})");

    let resume = || {
        medsim_command(directory.path())
            .args(["--config", &config, "run", "--concurrency", "8", "--resume"])
            .arg(&run)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (resume(), resume());
    let outputs: Vec<Output> = [a, b]
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            Output {
                code: output.status.code().unwrap_or(-1),
                stdout: String::new(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .collect();
    let codes: Vec<i32> = outputs.iter().map(|output| output.code).collect();
    assert!(codes.contains(&0), "one resume finished the run: {outputs:?}");
    let refused = outputs.iter().find(|output| output.code == 2).expect("the other was refused");
    assert!(refused.stderr.contains("is in use by another medsim process (pid "), "{}", refused.stderr);
    assert_eq!(lines(&run).len(), 107, "no episode twice");
    assert_eq!(unique_keys(&run), 107);
}

#[test]
fn settings_and_flags_out_of_range_are_errors_that_name_where() {
    let directory = tempfile::tempdir().unwrap();
    let config = directory.path().join("medsim.toml");
    for (text, expected) in [
        ("[providers.vllm]\ntimeout_secs = -5\n", ":2: providers.vllm.timeout_secs: expected seconds"),
        ("[providers.vllm]\ntimeout_secs = nan\n", ":2: providers.vllm.timeout_secs"),
        ("[providers.vllm]\ntimeout_secs = inf\n", ":2: providers.vllm.timeout_secs"),
        ("[providers.vllm]\ntimeout_secs = 1e300\n", ":2: providers.vllm.timeout_secs"),
        ("[providers.vllm]\nconnect_timeout_secs = -1\n", ":2: providers.vllm.connect_timeout_secs"),
        ("[providers.vllm]\nbase_url = \"not a url\"\n", ":2: providers.vllm.base_url"),
    ] {
        std::fs::write(&config, text).unwrap();
        let output = medsim_with_env(
            directory.path(),
            &["--config", config.to_str().unwrap(), "llm", "chat", "vllm/x", "hi"],
            &[],
        );
        assert_eq!(output.code, 2, "{text:?}: {output:?}");
        assert!(output.stderr.contains(expected), "{text:?}: {}", output.stderr);
    }
    for (flag, value) in [
        ("--concurrency", "0"),
        ("--concurrency", "100000"),
        ("--repeats", "0"),
        ("--max-turns", "0"),
        ("--max-turns", "100000"),
        ("--limit", "0"),
    ] {
        let output = medsim_with_env(directory.path(), &["run", flag, value], &[]);
        assert_eq!(output.code, 2, "{flag} {value}: {output:?}");
        let explained = output.stderr.contains("expected") || output.stderr.contains("is not in 1..=");
        assert!(output.stderr.contains(flag) && explained, "{flag} {value}: {}", output.stderr);
    }
}

#[test]
fn a_run_whose_every_episode_failed_is_not_a_success() {
    let directory = tempfile::tempdir().unwrap();
    let failing = format!("faults: {{ server_error: 1.0 }}\n{}", SCRIPT.trim_start_matches('\n'));
    let server = start_server_with(directory.path(), &failing);
    let config = config(directory.path(), &server.base, "[retry]\nmax_attempts = 1\n");
    let run = directory.path().join("run");
    let output = medsim_with_env(
        directory.path(),
        &["--config", &config, "run", "--limit", "3", "--out", run.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.code, 4, "{output:?}");
    assert!(output.stdout.contains("accuracy (95 % Wilson CI) | n/a"), "{}", output.stdout);
    assert!(
        output.stderr.contains("3 of 3 episode(s)") && output.stderr.contains("--retry-errors"),
        "{}",
        output.stderr
    );
    let summary = medsim_with_env(directory.path(), &["summary", run.to_str().unwrap()], &[]);
    assert_eq!(summary.code, 4, "summary says so too: {summary:?}");
}

#[test]
fn a_large_single_line_json_array_is_validated_in_bounded_memory() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("big.json");
    // About 40 MB on one line: 1.6 million small objects, none of them a case.
    let mut text = String::with_capacity(42_000_000);
    text.push('[');
    for index in 0..1_600_000 {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&format!("{{\"a\": {index}, \"b\": \"xy\"}}"));
    }
    text.push(']');
    std::fs::write(&path, &text).unwrap();
    drop(text);
    // The address space is capped at 1 GiB: the former reader grew to about 128 times the file.
    let script = format!("ulimit -v 1048576; exec {} cases validate {}", env!("CARGO_BIN_EXE_medsim"), path.display());
    let output = medsim_command(directory.path()).args(["--version"]).output().unwrap();
    assert!(output.status.success());
    let output = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("0 valid, 1600000 rejected"), "{stdout}");
    assert!(stdout.contains("… and 1599950 more rejected record(s)"), "errors are capped: {stdout}");
}

#[test]
fn a_run_resumes_from_any_working_directory() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server_with(directory.path(), SCRIPT);
    let config = config(directory.path(), &server.base, "");
    let data = directory.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(shared_file("agentclinic_medqa.jsonl"), data.join("medqa.jsonl")).unwrap();
    let run = directory.path().join("run");
    let mut command = medsim_command(directory.path());
    command.current_dir(&data).args(["--config", &config, "run", "--dataset", "medqa.jsonl", "--limit", "2", "--out"]);
    let output = command.arg(&run).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let spec = recorded["dataset"]["spec"].as_str().unwrap();
    assert_eq!(Path::new(spec), data.join("medqa.jsonl").canonicalize().unwrap(), "absolute and canonical");
    let elsewhere = tempfile::tempdir().unwrap();
    let mut command = medsim_command(directory.path());
    command.current_dir(elsewhere.path()).args(["--config", &config, "run", "--resume"]).arg(&run);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The key a hostile server echoes.
const KEY: &str = "sk-Hostile+Key/9f8e7d6c5b4a3210";

/// Every form of the key a hostile server sends back.
fn echoed_forms() -> Vec<String> {
    use base64::Engine;
    let standard = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE;
    vec![
        KEY.to_owned(),
        KEY.to_uppercase(),
        KEY.to_lowercase(),
        standard.encode(format!("Bearer {KEY}")),
        url_safe.encode(format!("{{\"key\":\"{KEY}\"}}")),
        "sk-Hostile%2BKey%2F9f8e7d6c5b4a3210".to_owned(),
    ]
}

/// True when `text` shows the key in any form: the forms sent, or 8 characters of it in a row.
fn leaks(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    for form in echoed_forms() {
        let probe: String = form.chars().skip(form.len() / 3).take(12).collect();
        if text.contains(&probe) {
            return Some(probe);
        }
    }
    let key = KEY.to_lowercase();
    let characters: Vec<char> = key.chars().collect();
    characters.windows(8).map(|window| window.iter().collect::<String>()).find(|fragment| lower.contains(fragment))
}

#[test]
fn a_hostile_server_that_echoes_the_key_never_gets_it_into_output_or_files() {
    let directory = tempfile::tempdir().unwrap();
    let echo = echoed_forms().join(" | ");
    let script = format!(
        r#"
rules:
  - when: {{ model: broken }}
    reply: {{ status: 400, text: "invalid key: {echo}" }}
  - when: {{ model: down }}
    reply: {{ status: 503, text: "overloaded for {echo}" }}
  - when: {{ role: judge }}
    reply: "Yes. {echo}"
  - when: {{ role: doctor, tools: true }}
    replies:
      - {{ tool_calls: [ {{ name: ask, arguments: {{ question: "Key {echo}?" }} }} ] }}
      - {{ tool_calls: [ {{ name: diagnose, arguments: {{ primary: "Gout {echo}", differential: [ {{ diagnosis: "{echo}" }} ] }} }} ] }}
  - when: {{ role: doctor }}
    replies: ["Tell me more. {echo}", "DIAGNOSIS READY: Gout {echo}"]
  - when: {{ role: patient }}
    reply: "My key is {echo}"
default: {{ text: "echo {echo}" }}
"#
    );
    let server = start_server_with(directory.path(), &script);
    let config = directory.path().join("medsim.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.h]\nbase_url = \"{}/v1\"\napi_key_env = \"HOSTILE_KEY\"\nrequires_key = true\n[retry]\nmax_attempts = 2\ninitial_backoff_secs = 0.01\n[roles]\ndoctor = \"h/d\"\npatient = \"h/p\"\njudge = \"h/j\"\n",
            server.base
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = directory.path().join("run");
    let environment = [("HOSTILE_KEY", KEY)];
    let commands: Vec<Vec<&str>> = vec![
        vec!["--config", config, "llm", "chat", "h/any", "hello"],
        vec!["--config", config, "llm", "chat", "h/any", "hello", "--json"],
        vec!["--config", config, "llm", "chat", "h/broken", "hello"],
        vec!["--config", config, "llm", "chat", "h/down", "hello"],
        vec!["--config", config, "llm", "check"],
        vec!["--config", config, "consult", "--case", "rheum-01"],
        vec!["--config", config, "consult", "--case", "rheum-01", "--protocol", "tools", "--json"],
        vec!["--config", config, "run", "--limit", "3", "--protocol", "tools", "--out", run.to_str().unwrap()],
    ];
    let mut answered = 0;
    for args in &commands {
        let output = medsim_with_env(directory.path(), args, &environment);
        answered += usize::from(output.code == 0);
        for (stream, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            if let Some(fragment) = leaks(text) {
                panic!("{args:?} {stream} shows the key ({fragment}):\n{text}");
            }
        }
    }
    assert!(answered >= 5, "the server's answers were used, not just refused");
    let mut files = 0;
    for entry in walk(&run) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        files += 1;
        if let Some(fragment) = leaks(&text) {
            panic!("{} holds the key ({fragment})", entry.display());
        }
    }
    assert!(files >= 3, "run.json, episodes.jsonl and the summaries were checked");
    let episodes = std::fs::read_to_string(run.join("episodes.jsonl")).unwrap();
    assert!(episodes.contains("[redacted]"), "the echoes were there, and were scrubbed");
}

fn walk(directory: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
