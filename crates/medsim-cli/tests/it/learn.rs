//! `medsim learn`, `run --memory` and `ablate` as real processes against the scripted server
//! (chat and embeddings): memory holds only training cases, evaluation refuses training cases
//! and never writes the memory file, the learning curve and the ablation table are written,
//! and every run records its strategies, split and memory.

use std::collections::BTreeSet;
use std::path::Path;

use medsim_agents::memory::Memory;
use serde_json::Value;

use crate::llm::start_server_with;
use crate::support::medsim;

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor, system: "reviewing one of your own consultations" }
    reply: "LESSON: ask when it started and what makes it worse."
  - when: { role: doctor, system: "with the lesson from your experience" }
    reply: "DIAGNOSIS READY: Retried answer"
  - when: { role: doctor, system: "diagnostic panel" }
    reply: "1. Gout (60%)\n2. Cellulitis (20%)"
  - when: { role: doctor, last: "You have used all" }
    reply: "DIAGNOSIS READY: Gout"
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in today?", "DIAGNOSIS READY: Gout"]
  - when: { role: patient }
    reply: "I have felt unwell for a few days."
  - when: { role: judge, any: "(?i)doctor.s diagnosis: Retried answer" }
    reply: "Yes"
  - when: { role: judge, any: "(?i)correct diagnosis: [A-H]" }
    reply: "Yes"
  - when: { role: judge }
    reply: "No"
"#;

fn config(directory: &Path, base: &str) -> String {
    let path = directory.join("medsim.toml");
    std::fs::write(
        &path,
        format!(
            "[providers.s]\nbase_url = \"{base}/v1\"\n[roles]\ndoctor = \"s/d\"\npatient = \"s/p\"\njudge = \"s/j\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display())))
        .unwrap()
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn memory_is_learned_from_training_cases_only_and_evaluation_never_writes_it() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let server = start_server_with(root, SCRIPT);
    let config = config(root, &server.base);
    let memory_path = root.join("memory.sqlite");
    let memory = memory_path.to_str().unwrap();
    let out = root.join("learn");
    let split = ["--split-seed", "3", "--train-size", "8"];
    let mut args = vec!["learn", "--config", &config, "--memory", memory, "--embedder", "s/emb"];
    args.extend(["--strategy", "memory,reflection", "--curve", "0,4,8", "--test-limit", "4", "--concurrency", "4"]);
    args.extend(split);
    args.extend(["--out", out.to_str().unwrap()]);
    let learned = medsim(root, &args);
    assert_eq!(learned.code, 0, "{}", learned.stderr);

    // The training run records its split, strategies and memory.
    let run = read_json(&out.join("train/run.json"));
    assert_eq!(run["kind"], "learn");
    assert_eq!(run["strategies"]["reflection"], true);
    assert_eq!(run["setup"]["strategy"], "memory,reflection");
    let train: BTreeSet<String> =
        run["split"]["train_cases"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect();
    assert_eq!(train.len(), 8);
    let evaluated: BTreeSet<String> =
        run["cases"].as_array().unwrap().iter().map(|id| id.as_str().unwrap().into()).collect();
    assert_eq!(evaluated, train);

    // After each verdict: a right answer is stored as a record; a wrong one is reflected on,
    // and its lesson stored exactly when the retry is judged right (in this script it is,
    // except for a case with answer options, where "Retried answer" maps to no option).
    let (mut written_records, mut written_lessons) = (0, 0);
    for line in std::fs::read_to_string(out.join("train/episodes.jsonl")).unwrap().lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        let events = record["episode"]["events"].as_array().unwrap();
        let of_type = |kind: &str| events.iter().filter(|event| event["type"] == kind).collect::<Vec<_>>();
        let writes = of_type("memory_write");
        let reflections = of_type("reflection");
        if record["outcome"] == "correct" {
            assert!(reflections.is_empty());
            assert_eq!(writes.len(), 1);
            assert_eq!(writes[0]["buffer"], "record");
            written_records += 1;
        } else {
            assert_eq!(reflections.len(), 1, "{record}");
            let stored = reflections[0]["stored"].as_bool().unwrap();
            assert_eq!(stored, reflections[0]["retry_correct"].as_bool().unwrap());
            assert_eq!(writes.len(), usize::from(stored));
            written_lessons += usize::from(stored);
        }
    }
    let stored = Memory::open_read_only(&memory_path).unwrap();
    assert_eq!(stored.counts(), (written_records, written_lessons));
    assert!(written_records > 0 && written_lessons > 0, "{written_records} records, {written_lessons} lessons");
    let entries_in_memory = written_records + written_lessons;
    let cases = medsim_core::builtin::builtin();
    for entry in stored.entries() {
        assert!(train.contains(&entry.case_id), "{} is not a training case", entry.case_id);
    }
    // No held-out case's ground truth or presentation is in it.
    for case in cases.cases.iter().filter(|case| !train.contains(&case.id)) {
        for entry in stored.entries() {
            for text in [&entry.text, &entry.key] {
                assert!(!text.contains(&case.diagnosis), "test case {} leaks into memory: {text}", case.id);
                assert!(!text.contains(&case.objective), "test case {} leaks into memory: {text}", case.id);
            }
        }
    }
    drop(stored);

    // The learning curve: three points on the same four held-out cases.
    let curve = read_json(&out.join("curve.json"));
    let sizes: Vec<u64> =
        curve.as_array().unwrap().iter().map(|point| point["memory_size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [0, 4, 8]);
    assert!(curve.as_array().unwrap().iter().all(|point| point["accuracy"]["judged"] == 4));
    assert!(std::fs::read_to_string(out.join("curve.svg")).unwrap().starts_with("<svg"));
    assert!(std::fs::read_to_string(out.join("curve.md")).unwrap().contains("| 8 | 4 |"));
    let point = read_json(&out.join("curve-4/run.json"));
    assert_eq!(point["memory"]["retrieves"]["max_train_cases"], 4);
    assert_eq!(point["memory"]["split"]["train_size"], 8);
    for id in point["cases"].as_array().unwrap() {
        assert!(!train.contains(id.as_str().unwrap()), "curve evaluates held-out cases only");
    }

    // Evaluating a training case with this memory is refused.
    let before = sha256(&memory_path);
    let mut args = vec!["run", "--config", &config, "--memory", memory, "--embedder", "s/emb", "--split", "train"];
    args.extend(split);
    let refused_dir = root.join("refused");
    args.extend(["--out", refused_dir.to_str().unwrap()]);
    let refused = medsim(root, &args);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("is in the memory (it was a training case)"), "{}", refused.stderr);

    // The held-out part runs, reads the memory, and leaves the file exactly as it was.
    let test_dir = root.join("test-run");
    let mut args = vec!["run", "--config", &config, "--memory", memory, "--embedder", "s/emb", "--split", "test"];
    args.extend(split);
    args.extend(["--limit", "3", "--out", test_dir.to_str().unwrap()]);
    let evaluated = medsim(root, &args);
    assert_eq!(evaluated.code, 0, "{}", evaluated.stderr);
    assert_eq!(sha256(&memory_path), before, "evaluation never writes the memory");
    let run = read_json(&test_dir.join("run.json"));
    assert_eq!(run["strategies"]["memory"]["k"], 3, "--memory alone switches memory on");
    assert_eq!(run["memory"]["entries"], entries_in_memory);
    assert_eq!(run["split"]["part"], "test");
    let episodes = std::fs::read_to_string(test_dir.join("episodes.jsonl")).unwrap();
    assert!(episodes.contains("\"type\":\"retrieval\""), "retrievals are in the transcripts");

    // A memory belongs to one split.
    let other_dir = root.join("other");
    let mut args = vec!["learn", "--config", &config, "--memory", memory, "--embedder", "s/emb"];
    args.extend(["--split-seed", "4", "--train-size", "8", "--out", other_dir.to_str().unwrap()]);
    let other = medsim(root, &args);
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(other.stderr.contains("was learned on another split"), "{}", other.stderr);

    // The ablation: five arms on the same held-out cases, paired against the baseline.
    let ablation = root.join("ablate");
    let mut args = vec!["ablate", "--config", &config, "--memory", memory, "--embedder", "s/emb", "--split", "test"];
    args.extend(split);
    args.extend(["--limit", "4", "--out", ablation.to_str().unwrap()]);
    args.extend(["--grid", "baseline;memory;memory,reflection;panel:n=3:rounds=1;self-consistency:k=3"]);
    let ablated = medsim(root, &args);
    assert_eq!(ablated.code, 0, "{}", ablated.stderr);
    let table = read_json(&ablation.join("ablation.json"));
    let arms = table["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 5);
    for arm in arms {
        assert_eq!(arm["judged"], 4, "{arm}");
        let p = arm["mcnemar_p"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
    assert_eq!(arms[0]["mcnemar_p"], 1.0, "the baseline against itself");
    let baseline_run = read_json(&Path::new(arms[0]["dir"].as_str().unwrap()).join("run.json"));
    assert!(baseline_run["memory"].is_null(), "the baseline arm does not read memory");
    assert!(baseline_run["setup"]["memory"].is_null());
    let panel_run = read_json(&Path::new(arms[3]["dir"].as_str().unwrap()).join("run.json"));
    assert_eq!(panel_run["strategies"]["panel"]["n"], 3);
    // Every run.json of learning, the curve and the ablation follows the run schema.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/run.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for run_json in [out.join("train/run.json"), out.join("curve-4/run.json"), test_dir.join("run.json")]
        .into_iter()
        .chain(arms.iter().map(|arm| Path::new(arm["dir"].as_str().unwrap()).join("run.json")))
    {
        let value = read_json(&run_json);
        let errors: Vec<String> = validator.iter_errors(&value).map(|error| error.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", run_json.display());
    }
    let markdown = std::fs::read_to_string(ablation.join("ablation.md")).unwrap();
    assert!(markdown.contains("McNemar") && markdown.contains("| self-consistency:k=3 |"), "{markdown}");
    // Cost beside accuracy: each arm's care cost per case, and the accuracy–cost chart.
    assert!(markdown.contains("care cost / case"), "{markdown}");
    assert!(arms.iter().all(|arm| arm["care_cost_per_case"].as_f64().is_some_and(|cost| cost >= 130.0)), "{arms:?}");
    let pareto = std::fs::read_to_string(ablation.join("pareto.svg")).unwrap();
    assert_eq!(pareto.matches("class=\"arm\"").count(), 5, "one point per arm");
    assert_eq!(sha256(&memory_path), before, "ablation never writes the memory");

    // Strategy mistakes are named.
    let wrong = medsim(root, &["run", "--config", &config, "--strategy", "memroy"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("unknown strategy \"memroy\""), "{}", wrong.stderr);
}
