//! `medsim play` driven through its standard input, `medsim consult` with the embedded model,
//! and `medsim measure`.

use std::io::Write;
use std::process::Stdio;

use crate::llm::{start_server_with, write_config};
use crate::support::{medsim, medsim_command};

const SCRIPT: &str = r#"
rules:
  - when: { role: patient }
    reply: "I have a crushing pressure in my chest."
  - when: { role: judge }
    reply: "Yes"
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["Where exactly is the pain?", "DIAGNOSIS READY: Inferior STEMI"]
"#;

fn play(seat: &str, input: &str) -> (std::process::Output, serde_json::Value) {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server_with(directory.path(), SCRIPT);
    let config = write_config(directory.path(), &server.base);
    let saved = directory.path().join("episode.json");
    let mut child = medsim_command(directory.path())
        .args(["--config", &config, "play", "--as", seat, "--case", "cardio-01"])
        .args(["--doctor-model", "scripted/d", "--patient-model", "scripted/p", "--judge-model", "scripted/j"])
        .arg("--save")
        .arg(&saved)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let episode = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap_or_else(|_| "null".into())).unwrap();
    (output, episode)
}

#[test]
fn a_person_plays_the_doctor_through_stdin() {
    let (output, episode) =
        play("doctor", "What brings you in?\nREQUEST TEST: ECG, troponin\nDIAGNOSIS READY: Inferior STEMI\n");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("I have a crushing pressure in my chest."), "{stdout}");
    assert!(stdout.contains("ST-segment elevation of 3 mm"), "the ECG result is shown: {stdout}");
    assert!(stdout.contains("verdict: CORRECT"), "{stdout}");
    assert_eq!(episode["verdict"]["correct"], true);
    assert_eq!(episode["stop_reason"], "diagnosed");
    assert_eq!(episode["turns"], 3);
}

#[test]
fn a_person_plays_the_patient_through_stdin() {
    let (output, episode) = play("patient", "It is in the middle of my chest and goes to my jaw.\n");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("doctor: Where exactly is the pain?"), "{stdout}");
    let utterances: Vec<&serde_json::Value> = episode["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "utterance" && event["role"] == "patient")
        .collect();
    assert_eq!(utterances[0]["text"], "It is in the middle of my chest and goes to my jaw.");
    assert_eq!(episode["verdict"]["method"], "alias");
}

#[test]
fn measure_prints_what_the_measurement_agent_answers() {
    let cache = tempfile::tempdir().unwrap();
    let output = medsim(cache.path(), &["measure", "--case", "cardio-01", "CBC", "lipase", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let results: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(results[0]["matched"], "tests.Complete_Blood_Count");
    assert!(results[0]["result"].as_str().unwrap().contains("Hemoglobin: 14.6 g/dL"));
    assert_eq!(results[1]["assumed_normal"], true);
}

#[test]
fn one_episode_with_the_embedded_model_reaches_a_verdict() {
    let cache = tempfile::tempdir().unwrap();
    let output = medsim(cache.path(), &["consult", "--case", "cardio-01", "--max-turns", "3", "--json"]);
    assert_eq!(output.code, 0, "{output:?}");
    let report: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let episode = &report["episode"];
    assert_ne!(episode["stop_reason"], "error", "{episode}");
    assert!(episode["verdict"]["correct"].is_boolean(), "{episode}");
    let calls = episode["events"].as_array().unwrap().iter().filter(|event| event["type"] == "model_call").count();
    assert!(calls >= 3, "the doctor, patient and judge ran on the embedded model");
    assert!(
        episode["events"].as_array().unwrap().iter().any(|event| event["model"] == "local/qwen2.5-coder-0.5b-instruct")
    );
    assert!(report["prompts"]["doctor.j2"].is_string());
}

#[test]
fn run_limit_3_on_the_embedded_model_writes_a_run_directory_and_summary() {
    let cache = tempfile::tempdir().unwrap();
    let out = cache.path().join("run");
    let output = medsim(cache.path(), &["run", "--limit", "3", "--max-turns", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{output:?}");
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["roles"]["doctor"]["model"], "local/qwen2.5-coder-0.5b-instruct");
    assert_eq!(run["cases"].as_array().unwrap().len(), 3);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["episodes"], 3);
    assert!(out.join("summary.md").exists());
    assert!(output.stdout.contains("accuracy (95 % Wilson CI)"), "{}", output.stdout);
}
