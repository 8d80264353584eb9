//! `medsim measure --eval` and `medsim judge --pairs`: real processes on the committed labelled
//! sets, bad input named by file, line and field, and a judge model over HTTP.

use std::path::PathBuf;

use crate::llm::start_server_with;
use crate::support::{medsim_with_env, shared_dir};

fn repository_file(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).display().to_string()
}

#[test]
fn measure_eval_reports_every_dataset_and_part_and_names_bad_records() {
    let directory = tempfile::tempdir().unwrap();
    let shared = shared_dir().display().to_string();
    let fetch = medsim_with_env(
        directory.path(),
        &["datasets", "fetch", "agentclinic-medqa", "agentclinic-nejm", "agentclinic-nejm-extended", "--from", &shared],
        &[],
    );
    assert_eq!(fetch.code, 0, "{fetch:?}");
    let medqa = repository_file("eval/measurement/medqa.jsonl");
    let output = medsim_with_env(directory.path(), &["measure", "--eval", &medqa, "--json"], &[]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    for part in ["agentclinic-medqa/dev", "agentclinic-medqa/heldout", "all/dev", "all/heldout"] {
        assert!(report["tallies"][part]["tests"].as_u64().unwrap() > 100, "{part}");
        assert_eq!(report["tallies"][part]["modality_region_mismatches"], 0, "{part}");
    }
    assert!(report["errors"].as_array().unwrap().iter().all(|error| error["line"].as_u64().unwrap() > 0));

    let bad = directory.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"dataset\": \"agentclinic-medqa\", \"case\": \"0\", \"request\": \"CBC\", \"expect\": [{\"accept\": []}]}\n{\"dataset\": \"agentclinic-medqa\", \"case\": \"0\", \"request\": \"CBC\", \"expect\": [{\"acept\": []}]}\n",
    )
    .unwrap();
    let output = medsim_with_env(directory.path(), &["measure", "--eval", bad.to_str().unwrap()], &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(output.stderr.contains("bad.jsonl:2:") && output.stderr.contains("acept"), "{}", output.stderr);
}

#[test]
fn the_shortcut_alone_never_calls_an_incorrect_pair_correct() {
    let directory = tempfile::tempdir().unwrap();
    let pairs = repository_file("eval/judge/pairs.jsonl");
    let output =
        medsim_with_env(directory.path(), &["judge", "--pairs", &pairs, "--judge-model", "none", "--json"], &[]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lines: Vec<serde_json::Value> = output.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let pairs_judged = &lines[..lines.len() - 1];
    assert!(pairs_judged.len() >= 300);
    let summary = &lines[lines.len() - 1]["summary"]["all"];
    assert_eq!(summary["false_correct"], 0, "precision 100 %: {summary}");
    assert!(summary["decided"].as_u64().unwrap() >= 100, "{summary}");
    for pair in pairs_judged {
        assert!(["correct", "incorrect", "undecided"].contains(&pair["verdict"].as_str().unwrap()));
        assert!(["shortcut", "none"].contains(&pair["method"].as_str().unwrap()));
    }
}

#[test]
fn a_judge_model_over_http_decides_what_the_shortcut_cannot() {
    let directory = tempfile::tempdir().unwrap();
    // A scripted judge that knows one synonym, as a strong model would.
    let server = start_server_with(
        directory.path(),
        "rules:\n  - when: { role: judge, last: \"Correct diagnosis: Mal de debarquement syndrome\\\\nDoctor's diagnosis: Disembarkment syndrome\" }\n    reply: { json: { same_disease: \"yes\" } }\n  - when: { role: judge }\n    reply: { json: { same_disease: \"no\" } }\n",
    );
    let config = directory.path().join("medsim.toml");
    std::fs::write(&config, format!("[providers.s]\nbase_url = \"{}/v1\"\n", server.base)).unwrap();
    let pairs = directory.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        [
            r#"{"truth": "Mal de debarquement syndrome", "answer": "Disembarkment syndrome", "label": "correct"}"#,
            r#"{"truth": "Hepatitis A", "answer": "Hepatitis B", "label": "incorrect"}"#,
            r#"{"truth": "Gout", "answer": "Gout or pseudogout", "label": "incorrect"}"#,
            r#"{"truth": "Pulmonary embolism", "answer": "Acute pulmonary embolism", "label": "correct"}"#,
            r#"{"truth": "Kawasaki disease", "answer": "Scarlet fever", "label": "incorrect"}"#,
            r#"{"truth": "Sepsis", "answer": "Septic shock", "label": "ambiguous"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let output = medsim_with_env(
        directory.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "judge",
            "--pairs",
            pairs.to_str().unwrap(),
            "--judge-model",
            "s/judge",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.code, 0, "{output:?}");
    let lines: Vec<serde_json::Value> = output.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let method = |index: usize| lines[index]["method"].as_str().unwrap().to_owned();
    assert_eq!((method(0), lines[0]["verdict"].as_str().unwrap()), ("s/judge".to_owned(), "correct"));
    assert_eq!(method(1), "shortcut", "a letter differs: no model call");
    assert_eq!(method(2), "shortcut", "a hedge: no model call");
    assert_eq!(method(3), "rule", "a more specific form");
    assert_eq!((method(4), lines[4]["verdict"].as_str().unwrap()), ("s/judge".to_owned(), "incorrect"));
    let summary = &lines[6]["summary"]["all"];
    assert_eq!(summary["unambiguous"], 5);
    assert_eq!(summary["agree"], 5);
    assert!((summary["kappa"].as_f64().unwrap() - 1.0).abs() < 1e-9, "{summary}");

    let bad = directory.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"truth\": \"a\", \"answer\": \"b\", \"label\": \"maybe\"}\n").unwrap();
    let output =
        medsim_with_env(directory.path(), &["judge", "--pairs", bad.to_str().unwrap(), "--judge-model", "none"], &[]);
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("bad.jsonl:1: label: expected correct, incorrect or ambiguous"),
        "{}",
        output.stderr
    );
}
