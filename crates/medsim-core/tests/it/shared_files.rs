//! Every public AgentClinic file loads without error, and survives load → native → load.

use medsim_core::{Format, LoadOptions, load_bytes, load_path};

use crate::shared_file;

const FILES: &[(&str, usize, Format)] = &[
    ("agentclinic_medqa.jsonl", 107, Format::AgentclinicOsce),
    ("agentclinic_nejm.jsonl", 15, Format::AgentclinicNejm),
    ("agentclinic_nejm_extended.jsonl", 120, Format::AgentclinicNejm),
];

#[test]
fn shared_files_load_strictly_with_expected_counts() {
    for (file, count, format) in FILES {
        let dataset = load_path(&shared_file(file), None, LoadOptions::default()).unwrap();
        assert_eq!(dataset.cases.len(), *count, "{file}");
        assert_eq!(dataset.format, *format, "{file}");
        assert!(dataset.rejected.is_empty());
    }
}

#[test]
fn round_trip_through_native_jsonl_and_yaml_is_lossless() {
    for (file, _, _) in FILES {
        let original = load_path(&shared_file(file), Some("source"), LoadOptions::default()).unwrap();
        let jsonl: String =
            original.cases.iter().map(|case| serde_json::to_string(&case.to_native_value()).unwrap() + "\n").collect();
        let reloaded = load_bytes(jsonl.as_bytes(), "native.jsonl", "other", LoadOptions::default()).unwrap();
        assert_eq!(reloaded.format, Format::Medsim);
        assert_eq!(reloaded.cases, original.cases, "{file} via JSON Lines");

        let yaml: String = original
            .cases
            .iter()
            .map(|case| serde_yaml_ng::to_string(&case.to_native_value()).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        let reloaded = load_bytes(yaml.as_bytes(), "native.yaml", "other", LoadOptions::default()).unwrap();
        assert_eq!(reloaded.cases, original.cases, "{file} via YAML");
    }
}

#[test]
fn nothing_in_the_source_record_is_lost() {
    // Every string in the source record must appear somewhere in the native record.
    for (file, _, _) in FILES {
        let text = std::fs::read_to_string(shared_file(file)).unwrap();
        let dataset = load_path(&shared_file(file), None, LoadOptions::default()).unwrap();
        for (line, case) in text.lines().filter(|line| !line.trim().is_empty()).zip(&dataset.cases) {
            let source: serde_json::Value = serde_json::from_str(line).unwrap();
            let native = serde_json::to_string(&case.to_native_value()).unwrap();
            let mut strings = Vec::new();
            collect_strings(&source, &mut strings);
            for string in strings.into_iter().filter(|string| !STRUCTURAL_KEYS.contains(&string.as_str())) {
                let encoded = serde_json::to_string(&string).unwrap();
                assert!(native.contains(&encoded), "{file} case {}: {string:?} lost", case.id);
            }
        }
    }
}

/// Keys whose meaning is carried by the case model's own fields rather than by name.
const STRUCTURAL_KEYS: &[&str] = &[
    "OSCE_Examination",
    "Objective_for_Doctor",
    "Patient_Actor",
    "Physical_Examination_Findings",
    "Test_Results",
    "Correct_Diagnosis",
    "image_url",
    "question",
    "patient_info",
    "physical_exams",
    "answers",
    "text",
    "correct",
    "type",
];

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn nejm_fields_map_to_the_case_model() {
    let dataset = load_path(&shared_file("agentclinic_nejm_extended.jsonl"), None, LoadOptions::default()).unwrap();
    let first = &dataset.cases[0];
    assert_eq!(first.diagnosis, "Exogenous ochronosis");
    assert_eq!(first.options.len(), 5);
    assert_eq!(first.tags, ["dermatology"]);
    assert!(first.images[0].url.as_deref().unwrap().starts_with("https://"));
    assert!(first.question.as_deref().unwrap().ends_with("What is the most likely diagnosis?"));
    assert!(first.extra.is_empty(), "every NEJM key is understood");
}

#[test]
fn missing_trailing_newline_and_crlf_are_fine() {
    let text = std::fs::read_to_string(shared_file("agentclinic_nejm.jsonl")).unwrap();
    assert!(!text.ends_with('\n'), "the shared file really lacks the final newline");
    let crlf = text.replace('\n', "\r\n");
    let dataset = load_bytes(crlf.as_bytes(), "crlf.jsonl", "crlf", LoadOptions::default()).unwrap();
    assert_eq!(dataset.cases.len(), 15);
}
