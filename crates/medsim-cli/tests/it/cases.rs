//! `medsim cases`: stats, validate, show, audit and convert on the public files and the built-in
//! cases; malformed input gives file:line errors and exit code 2, never a panic.

use crate::support::{medsim, shared_file};

fn cache() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn stats_count_every_shared_file_with_zero_errors() {
    let cache = cache();
    let files =
        ["agentclinic_medqa.jsonl", "agentclinic_nejm.jsonl", "agentclinic_nejm_extended.jsonl"].map(shared_file);
    let mut args = vec!["cases", "stats", "--json"];
    args.extend(files.iter().map(String::as_str));
    let output = medsim(cache.path(), &args);
    assert_eq!(output.code, 0, "{output:?}");
    let rows: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let counts: Vec<(u64, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["cases"].as_u64().unwrap(), row["errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [(107, 0), (15, 0), (120, 0)]);
    assert_eq!(rows[2]["tags"]["dermatology"].as_u64().map(|n| n > 0), Some(true));

    let table = medsim(cache.path(), &["cases", "stats", &files[0]]);
    assert!(table.stdout.contains("agentclinic-osce"), "{}", table.stdout);
}

#[test]
fn validate_passes_on_every_shared_file() {
    let cache = cache();
    for file in ["agentclinic_medqa.jsonl", "agentclinic_nejm.jsonl", "agentclinic_nejm_extended.jsonl"] {
        let output = medsim(cache.path(), &["cases", "validate", &shared_file(file)]);
        assert_eq!(output.code, 0, "{output:?}");
        assert!(output.stdout.starts_with("ok "), "{}", output.stdout);
    }
}

#[test]
fn show_prints_every_field() {
    let cache = cache();
    let output = medsim(cache.path(), &["cases", "show", &shared_file("agentclinic_medqa.jsonl"), "0"]);
    assert_eq!(output.code, 0, "{output:?}");
    for expected in [
        "id:         0",
        "agentclinic-osce, line 1",
        "Assess and diagnose the patient presenting with double vision",
        "Demographics: 35-year-old female",
        "Secondary Symptoms: Difficulty climbing stairs; Weakness in upper limbs; Improvement of symptoms after rest",
        "Temperature: 36.6°C (97.9°F)",
        "Acetylcholine Receptor Antibodies: Present (elevated)",
        "Findings: Normal, no thymoma or other masses detected.",
        "## Diagnosis (judge only)\nMyasthenia gravis",
    ] {
        assert!(output.stdout.contains(expected), "missing {expected:?} in\n{}", output.stdout);
    }
    let nejm = medsim(cache.path(), &["cases", "show", &shared_file("agentclinic_nejm.jsonl"), "0"]);
    for expected in ["## Options", "- [x] Exogenous ochronosis", "- [ ] Contact dermatitis", "https://csvc.nejm.org"] {
        assert!(nejm.stdout.contains(expected), "missing {expected:?} in\n{}", nejm.stdout);
    }
    let json = medsim(cache.path(), &["cases", "show", &shared_file("agentclinic_nejm.jsonl"), "3", "--json"]);
    let case: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(case["id"], "3");
    assert_eq!(case["source"]["format"], "agentclinic-nejm");

    let missing = medsim(cache.path(), &["cases", "show", "builtin", "no-such-case"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no case \"no-such-case\" in builtin"), "{}", missing.stderr);
}

fn write(directory: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = directory.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn malformed_input_names_file_line_and_field_with_exit_2() {
    let cache = cache();
    let good = std::fs::read_to_string(shared_file("agentclinic_medqa.jsonl")).unwrap();
    let mut lines: Vec<String> = good.lines().take(4).map(str::to_owned).collect();
    lines[1] = lines[1].replace("\"Correct_Diagnosis\"", "\"Correct_Diagnosys\"");
    lines[3] = "{\"OSCE_Examination\": {\"Patient_Actor\": 7,".to_owned();
    let path = write(&cache, "bad.jsonl", &(lines.join("\n") + "\n"));

    let strict = medsim(cache.path(), &["cases", "list", &path]);
    assert_eq!(strict.code, 2, "{strict:?}");
    assert!(
        strict.stderr.contains(&format!(
            "{path}:2: OSCE_Examination.Correct_Diagnosis: expected a non-empty string, found nothing (the key is missing)"
        )),
        "{}",
        strict.stderr
    );
    assert!(strict.stderr.contains("hint:"), "{}", strict.stderr);
    assert!(!strict.stderr.contains("panicked"));

    let skipping = medsim(cache.path(), &["cases", "list", &path, "--skip-invalid", "--json"]);
    assert_eq!(skipping.code, 0, "{skipping:?}");
    let listed: serde_json::Value = serde_json::from_str(&skipping.stdout).unwrap();
    let ids: Vec<&str> = listed.as_array().unwrap().iter().map(|row| row["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0", "2"]);
    assert!(skipping.stderr.contains(&format!("{path}:2: ")), "{}", skipping.stderr);
    assert!(skipping.stderr.contains(&format!("{path}:4: expected one complete JSON object")), "{}", skipping.stderr);

    let validated = medsim(cache.path(), &["cases", "validate", &path, "--json"]);
    assert_eq!(validated.code, 2);
    let report: serde_json::Value = serde_json::from_str(&validated.stdout).unwrap();
    let lines: Vec<u64> =
        report[0]["errors"].as_array().unwrap().iter().map(|error| error["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(report[0]["cases"], 2);
}

#[test]
fn yaml_errors_point_at_the_document() {
    let cache = cache();
    let path = write(
        &cache,
        "mine.yaml",
        "id: a\nobjective: Diagnose.\npatient: I feel unwell.\ndiagnosis: Influenza\n---\nid: b\nobjective: Diagnose.\npatient: I feel unwell.\ndiagnosis: [1, 2]\n",
    );
    let output = medsim(cache.path(), &["cases", "validate", &path]);
    assert_eq!(output.code, 2);
    assert!(
        output.stdout.contains(&format!(
            "{path}:6: diagnosis: expected a non-empty string (the correct diagnosis), found a list of 2 items"
        )),
        "{}",
        output.stdout
    );
}

#[test]
fn binary_empty_and_missing_files_exit_2_without_panicking() {
    let cache = cache();
    let binary = cache.path().join("binary.jsonl");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let empty = write(&cache, "empty.jsonl", "\n\n");
    for path in [binary.display().to_string(), empty, "missing.jsonl".to_owned()] {
        for command in ["list", "validate", "stats", "audit"] {
            let output = medsim(cache.path(), &["cases", command, &path]);
            assert_eq!(output.code, 2, "{command} {path}: {output:?}");
            assert!(!output.stderr.contains("panicked"), "{}", output.stderr);
        }
    }
}

#[test]
fn builtin_is_the_default_and_clean() {
    let cache = cache();
    let listed = medsim(cache.path(), &["cases", "list"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains("cases in builtin (medsim)"), "{}", listed.stdout);
    let audit = medsim(cache.path(), &["cases", "audit", "builtin"]);
    assert_eq!(audit.code, 0, "{audit:?}");
    assert!(audit.stdout.starts_with("0 of "), "{}", audit.stdout);
}

#[test]
fn audit_reports_medqa_leaks_with_exit_1() {
    let cache = cache();
    let output = medsim(cache.path(), &["cases", "audit", &shared_file("agentclinic_medqa.jsonl"), "--json"]);
    assert_eq!(output.code, 1, "{output:?}");
    let report: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert!(report["summary"]["leaking_to_patient_or_measurement"].as_u64().unwrap() > 0);
    let leak = &report["leaks"][0];
    for key in ["case_id", "diagnosis", "audience", "field", "matched"] {
        assert!(leak.get(key).is_some(), "{key} in {leak}");
    }
}

#[test]
fn convert_round_trips_through_the_cli() {
    let cache = cache();
    let native = cache.path().join("nejm.yaml");
    let converted = medsim(
        cache.path(),
        &["cases", "convert", &shared_file("agentclinic_nejm.jsonl"), "--output", &native.display().to_string()],
    );
    assert_eq!(converted.code, 0, "{converted:?}");
    let original = medsim(cache.path(), &["cases", "show", &shared_file("agentclinic_nejm.jsonl"), "7", "--json"]);
    let again = medsim(cache.path(), &["cases", "show", &native.display().to_string(), "7", "--json"]);
    assert_eq!(original.stdout, again.stdout);
}

#[test]
fn schema_and_completions_and_help() {
    let cache = cache();
    let schema = medsim(cache.path(), &["cases", "schema"]);
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout).unwrap();
    assert_eq!(schema["title"], "medsim case");
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/case.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema, committed);
    let completions = medsim(cache.path(), &["completions", "bash"]);
    assert!(completions.stdout.contains("_medsim()"), "{}", &completions.stdout[..200.min(completions.stdout.len())]);
    let help = medsim(cache.path(), &["cases", "audit", "--help"]);
    assert!(help.stdout.contains("Example: medsim cases audit"), "{}", help.stdout);
    let usage = medsim(cache.path(), &["cases", "frobnicate"]);
    assert_eq!(usage.code, 2);
}
