//! `medsim run`: a real process killed with SIGKILL at random moments and resumed until done
//! ends with every episode exactly once and the same summary as an uninterrupted run; a run
//! under injected faults records errors apart from wrong answers and `--retry-errors` completes
//! them; `medsim summary`, `runs list` and `show` read the result.

use std::path::Path;
use std::time::Duration;

use crate::llm::start_server_with;
use crate::support::{medsim_command, medsim_with_env};

const SCRIPT: &str = r#"
latency: { mean_ms: 40 }
rules:
  - when: { role: judge, any: "(?i)correct diagnosis: Acute gout" }
    reply: "Yes"
  - when: { role: judge }
    reply: "No"
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in?", "REQUEST TEST: CBC, urinalysis", "DIAGNOSIS READY: Gout"]
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

fn keys(directory: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(directory.join("episodes.jsonl")).unwrap_or_default();
    let mut keys: Vec<(String, u64)> = text
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).expect("every line is a whole record");
            (record["case_id"].as_str().unwrap().to_owned(), record["repeat"].as_u64().unwrap())
        })
        .collect();
    keys.sort();
    keys
}

/// The summary without wall times, which differ between runs.
fn comparable(directory: &Path) -> serde_json::Value {
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.join("summary.json")).unwrap()).unwrap();
    summary.as_object_mut().unwrap().remove("episode_seconds");
    summary
}

#[test]
fn killed_runs_resume_to_the_same_result() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server_with(directory.path(), SCRIPT);
    let config = config(directory.path(), &server.base, "");
    let args = ["--repeats", "2", "--concurrency", "3"];

    // The reference: one uninterrupted run.
    let reference = directory.path().join("reference");
    let output = medsim_with_env(
        directory.path(),
        &[&["--config", &config, "run", "--out", reference.to_str().unwrap()], &args[..]].concat(),
        &[],
    );
    assert_eq!(output.code, 0, "{output:?}");
    assert_eq!(keys(&reference).len(), 34);

    // The same run, killed again and again.
    let killed = directory.path().join("killed");
    let killed_str = killed.to_str().unwrap().to_owned();
    let mut kills = 0;
    let mut delay_ms = 180u64;
    for attempt in 0..40 {
        let mut command = medsim_command(directory.path());
        command.args(["--config", &config, "run"]);
        if killed.join("run.json").exists() {
            command.args(["--resume", &killed_str]);
        } else {
            command.args(["--out", &killed_str]);
            command.args(args);
        }
        let mut child =
            command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        // Pseudo-random moments between 0.18 s and 0.7 s.
        delay_ms = 180 + (delay_ms * 7919 + attempt * 104_729) % 520;
        std::thread::sleep(Duration::from_millis(delay_ms));
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "the resumed run failed");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    // Finish whatever is left.
    let output = medsim_with_env(directory.path(), &["--config", &config, "run", "--resume", &killed_str], &[]);
    assert_eq!(output.code, 0, "{output:?}");
    assert!(kills >= 2, "the run was killed at least twice ({kills})");
    assert_eq!(keys(&killed), keys(&reference), "every episode exactly once");
    let mut unique = keys(&killed);
    unique.dedup();
    assert_eq!(unique.len(), 34);
    assert_eq!(comparable(&killed), comparable(&reference));
    assert_eq!(comparable(&killed)["accuracy"]["correct"], 2, "rheum-01 is right in both repeats");

    // The real run.json and every episode line validate against the committed schemas.
    let schema = |name: &str| -> serde_json::Value {
        let path = format!("{}/../../schemas/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let run_validator = jsonschema::validator_for(&schema("run.schema.json")).unwrap();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(killed.join("run.json")).unwrap()).unwrap();
    assert!(run_validator.is_valid(&run), "{run}");
    assert_eq!(run["roles"]["doctor"]["model"], "s/d");
    let episode_validator = jsonschema::validator_for(&schema("episode.schema.json")).unwrap();
    for line in std::fs::read_to_string(killed.join("episodes.jsonl")).unwrap().lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let errors: Vec<String> = episode_validator.iter_errors(&record).map(|error| error.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

#[test]
fn faults_become_errors_and_retry_errors_completes_them() {
    let directory = tempfile::tempdir().unwrap();
    let faulty =
        format!("seed: 3\nfaults: {{ server_error: 0.15, unavailable: 0.15 }}\n{}", SCRIPT.trim_start_matches('\n'));
    let server = start_server_with(directory.path(), &faulty);
    let retry = "[retry]\nmax_attempts = 1\ninitial_backoff_secs = 0.001\nmax_backoff_secs = 0.002\n";
    let config = config(directory.path(), &server.base, retry);
    let run = directory.path().join("faulty");
    let run_str = run.to_str().unwrap();
    let output =
        medsim_with_env(directory.path(), &["--config", &config, "run", "--out", run_str, "--concurrency", "4"], &[]);
    assert_eq!(output.code, 4, "a run with errors is incomplete: {output:?}");
    assert!(
        output.stderr.contains("ended in an error") && output.stderr.contains("--retry-errors"),
        "{}",
        output.stderr
    );
    let summary = comparable(&run);
    let errors = summary["errors"].as_u64().unwrap();
    assert!(errors > 0, "with no retries some episodes fail: {summary}");
    assert_eq!(summary["episodes"], 17);
    assert_eq!(summary["accuracy"]["judged"].as_u64().unwrap() + errors, 17, "errors are not wrong answers");
    drop(server);

    // The outage is over: retry only the failed episodes.
    let healthy_dir = tempfile::tempdir().unwrap();
    let healthy = start_server_with(healthy_dir.path(), SCRIPT);
    let config = self::config(directory.path(), &healthy.base, "");
    let output =
        medsim_with_env(directory.path(), &["--config", &config, "run", "--resume", run_str, "--retry-errors"], &[]);
    assert_eq!(output.code, 0, "{output:?}");
    let summary = comparable(&run);
    assert_eq!(summary["errors"], 0);
    assert_eq!(keys(&run).len(), 17);
    let mut unique = keys(&run);
    unique.dedup();
    assert_eq!(unique.len(), 17, "no episode twice");

    // Reading it back.
    let listed =
        medsim_with_env(directory.path(), &["runs", "list", directory.path().to_str().unwrap(), "--json"], &[]);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed[0]["episodes"], 17);
    let shown = medsim_with_env(directory.path(), &["show", run_str, "--case", "rheum-01"], &[]);
    assert!(shown.stdout.contains("verdict: CORRECT"), "{}", shown.stdout);
    let again = medsim_with_env(directory.path(), &["summary", run_str, "--json"], &[]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["episodes"], 17);
}

#[test]
fn resume_refuses_a_different_configuration() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server_with(directory.path(), SCRIPT);
    let config = config(directory.path(), &server.base, "");
    let run = directory.path().join("r");
    let run_str = run.to_str().unwrap();
    let output =
        medsim_with_env(directory.path(), &["--config", &config, "run", "--out", run_str, "--limit", "2"], &[]);
    assert_eq!(output.code, 0, "{output:?}");
    let refused =
        medsim_with_env(directory.path(), &["--config", &config, "run", "--resume", run_str, "--max-turns", "5"], &[]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("differs from the one recorded"), "{}", refused.stderr);
    let again = medsim_with_env(directory.path(), &["--config", &config, "run", "--out", run_str], &[]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already holds a run"), "{}", again.stderr);
}
