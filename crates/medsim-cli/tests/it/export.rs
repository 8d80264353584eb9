//! `medsim export` on real runs against the scripted server: each format's columns, the
//! doctor's view only (no diagnosis the doctor did not name, no verdict), held-out cases never
//! exported, and every row carrying its run and case.

use std::path::Path;

use serde_json::Value;

use crate::llm::start_server_with;
use crate::support::medsim;

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor, model: good }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in today?", "REQUEST TEST: Serum glucose", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: doctor, model: bad }
    reply: "DIAGNOSIS READY: Gastroenteritis"
  - when: { role: patient }
    reply: "I have been very thirsty for a week."
  - when: { role: judge }
    reply: "No"
"#;

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn exports_have_trls_columns_the_doctors_view_and_no_held_out_case() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let server = start_server_with(root, SCRIPT);
    let config = root.join("medsim.toml");
    std::fs::write(
        &config,
        format!("[providers.s]\nbase_url = \"{}/v1\"\n[roles]\npatient = \"s/p\"\njudge = \"s/j\"\n", server.base),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let run = |name: &str, doctor: &str, extra: &[&str]| {
        let out = root.join(name);
        let mut args = vec!["run", "--config", &config, "--doctor-model", doctor, "--max-turns", "5"];
        let out_text = out.to_str().unwrap().to_owned();
        args.extend(["--out", &out_text]);
        args.extend(extra);
        let output = medsim(root, &args);
        assert_eq!(output.code, 0, "{}", output.stderr);
        out
    };
    let good = run("good", "s/good", &["--cases", "endo-01,cardio-01", "--repeats", "2"]);
    let bad = run("bad", "s/bad", &["--cases", "endo-01,cardio-01"]);
    let held_out = run("held-out", "s/good", &["--split", "test", "--split-seed", "1", "--train-size", "8"]);
    let train = run("train", "s/good", &["--split", "train", "--split-seed", "1", "--train-size", "8", "--limit", "3"]);
    let export = |runs: &[&Path], format: &str, extra: &[&str]| {
        let out = root.join(format!("{format}-{}.jsonl", runs.len()));
        let mut args = vec!["export"];
        let texts: Vec<String> = runs.iter().map(|run| run.to_str().unwrap().to_owned()).collect();
        args.extend(texts.iter().map(String::as_str));
        let out_text = out.to_str().unwrap().to_owned();
        args.extend(["--format", format, "--out", &out_text]);
        args.extend(extra);
        let output = medsim(root, &args);
        assert_eq!(output.code, 0, "{}", output.stderr);
        (rows(&out), output.stderr)
    };

    // SFT: correct episodes only, as the doctor saw them, with the tools.
    let (sft, _) = export(&[&good], "sft", &[]);
    assert_eq!(sft.len(), 2, "endo-01 twice");
    for row in &sft {
        assert_eq!((row["case_id"].as_str(), row["run_id"].as_str()), (Some("endo-01"), Some("good")));
        let roles: Vec<&str> =
            row["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"], "{row}");
        let calls: Vec<&str> = row["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["tool_calls"][0]["function"]["name"].as_str())
            .collect();
        assert_eq!(calls, ["ask", "order_tests", "diagnose"]);
        assert_eq!(row["messages"][6]["tool_calls"][0]["function"]["arguments"]["primary"], "Diabetic ketoacidosis");
        assert!(row["messages"][5]["content"].as_str().unwrap().contains("mg/dL"), "the results the doctor saw");
        assert_eq!(row["tools"].as_array().unwrap().len(), 4);
        let text = row.to_string();
        assert!(!text.contains("verdict") && !text.contains("\"correct\""), "no verdict in a training row: {text}");
    }
    // With incorrect ones, still nothing the doctor did not see: cardio-01's diagnosis is absent.
    let (all, _) = export(&[&good], "sft", &["--include-incorrect"]);
    assert_eq!(all.len(), 4);
    let cardio = medsim_core::builtin::builtin().case("cardio-01").unwrap().diagnosis.to_lowercase();
    assert!(all.iter().all(|row| !row.to_string().to_lowercase().contains(&cardio)));

    // DPO: a correct and an incorrect episode of one case, the prompt their shared beginning.
    let (dpo, _) = export(&[&good, &bad], "dpo", &[]);
    assert_eq!(dpo.len(), 1, "{dpo:?}");
    let pair = &dpo[0];
    assert_eq!(pair["case_id"], "endo-01");
    let prompt_roles: Vec<&str> =
        pair["prompt"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(prompt_roles, ["system", "user"]);
    assert_eq!(pair["rejected"][0]["tool_calls"][0]["function"]["arguments"]["primary"], "Gastroenteritis");
    assert_eq!(pair["chosen"][0]["tool_calls"][0]["function"]["name"], "ask");

    // KTO: every episode, labelled; GRPO: one prompt per case.
    let (kto, _) = export(&[&good], "kto", &[]);
    assert_eq!(kto.len(), 4);
    assert_eq!(kto.iter().filter(|row| row["label"] == true).count(), 2);
    assert!(kto.iter().all(|row| row["prompt"].as_array().unwrap().len() == 2 && row["completion"].is_array()));
    let (grpo, _) = export(&[&good], "grpo", &[]);
    assert_eq!(grpo.len(), 2);
    assert!(grpo.iter().all(|row| row["split"] == "train" && row["prompt"].as_array().unwrap().len() == 2));

    // Held-out cases are never exported; a training-part run exports only its training cases.
    let (none, stderr) = export(&[&held_out], "sft", &["--include-incorrect"]);
    assert!(none.is_empty(), "{none:?}");
    assert!(stderr.contains("held-out"), "{stderr}");
    let (trained, _) = export(&[&train], "kto", &[]);
    let recorded: Value = serde_json::from_str(&std::fs::read_to_string(train.join("run.json")).unwrap()).unwrap();
    let train_cases: Vec<&str> =
        recorded["split"]["train_cases"].as_array().unwrap().iter().map(|id| id.as_str().unwrap()).collect();
    assert_eq!(trained.len(), 3);
    assert!(trained.iter().all(|row| train_cases.contains(&row["case_id"].as_str().unwrap())));
}

const POLICY: &str = r#"
rules:
  - when: { role: doctor }
    index: call
    cycle: true
    replies: ["DIAGNOSIS READY: Right answer", "DIAGNOSIS READY: Wrong answer", "DIAGNOSIS READY: Right answer or wrong answer"]
  - when: { role: judge, any: "(?im)doctor.s diagnosis: Right answer\\s*$" }
    reply: "Yes"
  - when: { role: judge }
    reply: "No"
"#;

#[test]
fn rollouts_record_rewards_and_group_normalised_advantages() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let server = start_server_with(root, POLICY);
    let config = root.join("medsim.toml");
    std::fs::write(
        &config,
        format!("[providers.s]\nbase_url = \"{}/v1\"\n[roles]\npatient = \"s/p\"\njudge = \"s/j\"\n", server.base),
    )
    .unwrap();
    let out = root.join("rollout");
    let args = ["rollout", "--config", config.to_str().unwrap(), "--doctor-model", "s/policy", "--samples", "3"];
    let mut args = args.to_vec();
    args.extend(["--limit", "2", "--concurrency", "1", "--out", out.to_str().unwrap()]);
    let output = medsim(root, &args);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.contains("6 episode(s) of 2 case(s)")
            && output.stdout.contains("2 group(s) with differing rewards"),
        "{}",
        output.stdout
    );
    let run: Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        (run["kind"].as_str(), run["setup"]["final_call"].as_bool(), run["split"]["part"].as_str()),
        (Some("rollout"), Some(false), Some("train"))
    );
    let rollouts = rows(&out.join("rollouts.jsonl"));
    assert_eq!(rollouts.len(), 6);
    let mut by_case: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for row in &rollouts {
        by_case.entry(row["case_id"].as_str().unwrap().to_owned()).or_default().push(row);
    }
    for (case, group) in by_case {
        let rewards: Vec<f64> = group.iter().map(|row| row["reward"].as_f64().unwrap()).collect();
        assert_eq!(rewards.iter().filter(|reward| **reward == 1.0).count(), 1, "{case}: {rewards:?}");
        let advantages: f64 = group.iter().map(|row| row["advantage"].as_f64().unwrap()).sum();
        assert!(advantages.abs() < 1e-4, "{case}: advantages sum to 0");
        let best = group.iter().find(|row| row["reward"] == 1.0).unwrap();
        assert!((best["advantage"].as_f64().unwrap() - 2f64.sqrt()).abs() < 1e-3, "{best}");
        assert_eq!(group.iter().filter(|row| row["hedged"] == true).count(), 1, "the hedge is flagged: {group:?}");
    }
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let directory = tempfile::tempdir().unwrap();
    let output = crate::support::medsim_with_env(
        directory.path(),
        &["env", "serve", "--host", "0.0.0.0", "--port", "0"],
        &[("MEDSIM_ENV_TOKEN", "")],
    );
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("needs a bearer token") && output.stderr.contains("MEDSIM_ENV_TOKEN"),
        "{}",
        output.stderr
    );
}

#[test]
fn runs_report_care_cost_and_refuse_a_budget_below_one_visit() {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    let server = start_server_with(root, SCRIPT);
    let config = root.join("medsim.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.s]\nbase_url = \"{}/v1\"\n[roles]\ndoctor = \"s/good\"\npatient = \"s/p\"\njudge = \"s/j\"\n",
            server.base
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = root.join("priced");
    let output = medsim(root, &["run", "--config", config, "--cases", "endo-01", "--out", out.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("care cost per case (visit and tests, 95 % CI) | $134"), "{}", output.stdout);
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["care_cost"]["mean"], 134.0, "{summary}");
    assert_eq!(summary["care_cost"]["share_by_category"]["analyte"], 1.0);
    // Cost per tag, beside accuracy per tag.
    let by_tag = summary["care_cost_by_tag"].as_object().expect("care cost by tag");
    assert!(!by_tag.is_empty() && by_tag.values().all(|cost| cost == 134.0), "{summary}");
    assert!(output.stdout.contains("| tag | n | accuracy | 95 % CI | cost per case |"), "{}", output.stdout);

    // Cost-aware prompting is recorded in run.json, so runs with and without it stay apart.
    let shown = root.join("shown");
    let output = medsim(
        root,
        &["run", "--config", config, "--cases", "endo-01", "--show-prices", "--out", shown.to_str().unwrap()],
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(shown.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["setup"]["show_prices"], true, "{manifest}");
    let plain: Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert!(plain["setup"].get("show_prices").is_none(), "{plain}");

    let low = medsim(
        root,
        &["run", "--config", config, "--cases", "endo-01", "--budget", "50", "--out", root.join("x").to_str().unwrap()],
    );
    assert_eq!(low.code, 2, "{low:?}");
    assert!(low.stderr.contains("--budget 50: below the price of one visit; the least is 130 USD"), "{}", low.stderr);
    let prices = root.join("prices.toml");
    std::fs::write(&prices, "[meta]\ncurrency = \"USD\"\nyear = 2025\nsource = \"test\"\n[visit]\nprice = -5\n[category]\nanalyte = 1\npanel = 1\nimaging = 1\nexamination = 0\nvital = 0\nother = 1\n").unwrap();
    let bad = medsim(
        root,
        &[
            "run",
            "--config",
            config,
            "--cases",
            "endo-01",
            "--prices",
            prices.to_str().unwrap(),
            "--out",
            root.join("y").to_str().unwrap(),
        ],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("prices.toml:6: visit.price: expected a price of 0 or more, found -5"),
        "{}",
        bad.stderr
    );
}
