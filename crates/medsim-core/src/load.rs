//! Reading case files: splitting text into records, choosing the format by content, and
//! collecting cases or the errors of the records that are not valid.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::case::{Case, Format};
use crate::error::{LoadError, RecordError};
use crate::formats::{self, ANY_RECORD, RecordContext, describe};

/// How strictly to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Load the valid records and list the invalid ones instead of stopping at the first.
    pub skip_invalid: bool,
}

/// A loaded collection of cases.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Dataset name (`builtin`, a registered name, or the file's stem).
    pub name: String,
    /// Where it was read from (a path, or `builtin`).
    pub origin: String,
    /// Directory that relative image paths are resolved against (none for the built-in cases).
    pub base_dir: Option<PathBuf>,
    /// The format detected from the content.
    pub format: Format,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The valid cases, in file order.
    pub cases: Vec<Case>,
    /// The records that were rejected (only filled with [`LoadOptions::skip_invalid`]).
    pub rejected: Vec<RecordError>,
}

impl Dataset {
    /// The case with this id.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|case| case.id == id)
    }
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Loads a case file. The dataset name defaults to the file's stem.
pub fn load_path(path: &Path, name: Option<&str>, options: LoadOptions) -> Result<Dataset, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("cases");
    let name = name.unwrap_or(stem);
    let mut dataset = load_bytes(&bytes, &path.display().to_string(), name, options)?;
    dataset.base_dir = path.parent().map(Path::to_owned);
    Ok(dataset)
}

/// Loads cases from bytes; `origin` labels error messages (usually the path).
pub fn load_bytes(bytes: &[u8], origin: &str, name: &str, options: LoadOptions) -> Result<Dataset, LoadError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = bytes[..error.valid_up_to()].iter().filter(|byte| **byte == b'\n').count() as u64 + 1;
            return Err(LoadError::NotText { origin: origin.to_owned(), line });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records =
        if text.trim_start().starts_with('{') { json_lines(text, origin) } else { yaml_records(text, origin) };

    let mut format = None;
    let mut cases = Vec::new();
    let mut rejected = Vec::new();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    for (index, (line, record)) in records.into_iter().enumerate() {
        let context = RecordContext { origin, dataset: name, line, index };
        let result = record.and_then(|value| {
            let record_format = match format {
                Some(format) => format,
                None => {
                    let detected = formats::detect(&value)
                        .ok_or_else(|| context.error("", ANY_RECORD, describe(&value), FORMAT_HINT))?;
                    format = Some(detected);
                    detected
                }
            };
            let case = formats::read_record(record_format, value, &context)?;
            if let Some(first) = seen_ids.get(&case.id) {
                return Err(context.error(
                    "id",
                    "an id not used by an earlier record",
                    format!("{:?}, already used on line {first}", case.id),
                    "give every case in a file its own id",
                ));
            }
            seen_ids.insert(case.id.clone(), line);
            Ok(case)
        });
        match result {
            Ok(case) => cases.push(case),
            Err(error) if options.skip_invalid => rejected.push(error),
            Err(error) => return Err(LoadError::Record(error)),
        }
    }
    if cases.is_empty() && rejected.is_empty() {
        return Err(LoadError::Empty { origin: origin.to_owned() });
    }
    Ok(Dataset {
        name: name.to_owned(),
        origin: origin.to_owned(),
        base_dir: None,
        format: format.unwrap_or(Format::Medsim),
        sha256: sha256_hex(bytes),
        cases,
        rejected,
    })
}

const FORMAT_HINT: &str = "medsim reads AgentClinic OSCE and NEJM JSON Lines and its own format (JSON Lines or YAML); \
     check that this is a case file";

type Record = (u64, Result<Value, RecordError>);

/// One record per non-blank line.
fn json_lines(text: &str, origin: &str) -> Vec<Record> {
    text.split('\n')
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let number = index as u64 + 1;
            let parsed = serde_json::from_str::<Value>(line.trim_end_matches('\r')).map_err(|error| RecordError {
                origin: origin.into(),
                line: number,
                field: String::new(),
                expected: "one complete JSON object on this line",
                found: format!("invalid JSON at column {}: {}", error.column(), json_error_text(&error)),
                hint: "each line of a JSON Lines file must hold one whole record; a record split over several \
                       lines, a trailing comma or an unquoted key breaks it",
            });
            (number, parsed)
        })
        .collect()
}

fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the line is ours to report.
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}

/// YAML documents separated by `---`; a document holding a list gives one record per item.
fn yaml_records(text: &str, origin: &str) -> Vec<Record> {
    let mut documents: Vec<(u64, String)> = Vec::new();
    let mut current = String::new();
    let mut start = 1u64;
    for (index, line) in text.split('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            documents.push((start, std::mem::take(&mut current)));
            start = index as u64 + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    documents.push((start, current));

    let mut records = Vec::new();
    for (start, document) in documents {
        // Skip leading blank and comment lines so the record's line is its first real line.
        let lead =
            document.lines().take_while(|line| line.trim().is_empty() || line.trim_start().starts_with('#')).count();
        if lead == document.lines().count() {
            continue;
        }
        let first_line = start + lead as u64;
        match serde_yaml_ng::from_str::<Value>(&document) {
            Ok(Value::Array(items)) => {
                let item_lines: Vec<u64> = document
                    .lines()
                    .enumerate()
                    .filter(|(_, line)| *line == "-" || line.starts_with("- "))
                    .map(|(offset, _)| start + offset as u64)
                    .collect();
                for (position, item) in items.into_iter().enumerate() {
                    let line = item_lines.get(position).copied().unwrap_or(first_line);
                    records.push((line, Ok(item)));
                }
            }
            Ok(value) => records.push((first_line, Ok(value))),
            Err(error) => {
                let line = error.location().map(|location| start + location.line() as u64 - 1).unwrap_or(first_line);
                let message = error.to_string();
                let message = match message.find(" at line ") {
                    Some(position) => message[..position].to_owned(),
                    None => message,
                };
                records.push((
                    line,
                    Err(RecordError {
                        origin: origin.into(),
                        line,
                        field: String::new(),
                        expected: "a valid YAML document (one case, or a list of cases)",
                        found: format!("invalid YAML: {message}"),
                        hint: "check indentation and quote strings that contain ': ' or start with a special \
                               character",
                    }),
                ));
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Dataset, LoadError> {
        load_bytes(text.as_bytes(), "cases.jsonl", "cases", LoadOptions::default())
    }

    fn error_of(text: &str) -> RecordError {
        match load(text) {
            Err(LoadError::Record(error)) => error,
            other => panic!("expected a record error, got {other:?}"),
        }
    }

    const OSCE: &str = r#"{"OSCE_Examination": {"Objective_for_Doctor": "Diagnose.", "Patient_Actor": {"Demographics": "35F", "Symptoms": {}}, "Physical_Examination_Findings": {"Vital_Signs": {"HR": "72"}}, "Test_Results": {"CBC": {"WBC": "7"}}, "Correct_Diagnosis": "Myasthenia gravis"}}"#;

    #[test]
    fn osce_record_loads_with_index_ids() {
        let dataset = load(&format!("{OSCE}\n{OSCE}")).unwrap();
        assert_eq!(dataset.format, Format::AgentclinicOsce);
        assert_eq!(dataset.cases.len(), 2);
        assert_eq!(dataset.cases[1].id, "1");
        assert_eq!(dataset.cases[1].source.line, Some(2));
        assert_eq!(dataset.cases[0].diagnosis, "Myasthenia gravis");
        assert_eq!(dataset.cases[0].tests.leaves()[0].dotted(), "CBC.WBC");
    }

    #[test]
    fn missing_diagnosis_names_line_and_field() {
        let bad = OSCE.replace(r#", "Correct_Diagnosis": "Myasthenia gravis""#, "");
        let error = error_of(&format!("{OSCE}\n\n{bad}\n"));
        assert_eq!(error.line, 3);
        assert_eq!(error.field, "OSCE_Examination.Correct_Diagnosis");
        assert_eq!(
            error.headline(),
            "cases.jsonl:3: OSCE_Examination.Correct_Diagnosis: expected a non-empty string, found nothing (the key is missing)"
        );
        assert!(error.hint.contains("--skip-invalid"));
    }

    #[test]
    fn wrong_type_is_described() {
        let bad = OSCE.replace(r#""Correct_Diagnosis": "Myasthenia gravis""#, r#""Correct_Diagnosis": 42"#);
        assert_eq!(error_of(&bad).found, "a number (42)");
    }

    #[test]
    fn syntax_error_gives_column() {
        let error = error_of(&format!("{OSCE}\n{{\"OSCE_Examination\": {{,}}\n"));
        assert_eq!(error.line, 2);
        assert_eq!(error.found, "invalid JSON at column 23: key must be a string");
    }

    #[test]
    fn skip_invalid_keeps_the_rest_and_lists_rejections() {
        let text = format!("{OSCE}\nnot json\n{OSCE}\n[1,2]\n");
        let dataset = load_bytes(text.as_bytes(), "x.jsonl", "x", LoadOptions { skip_invalid: true }).unwrap();
        assert_eq!(dataset.cases.len(), 2);
        assert_eq!(dataset.cases[1].id, "2", "ids follow record positions, invalid records included");
        let lines: Vec<u64> = dataset.rejected.iter().map(|error| error.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn nejm_needs_exactly_one_correct_answer() {
        let record = r#"{"question": "Q?", "patient_info": "I am ill.", "physical_exams": "x", "answers": [{"text": "A", "correct": true}, {"text": "B", "correct": true}]}"#;
        let error = error_of(record);
        assert_eq!(error.field, "answers");
        assert_eq!(error.found, "2 correct options out of 2");
    }

    #[test]
    fn yaml_documents_report_their_own_lines() {
        let text = "# demo\nid: a\nobjective: o\npatient: p\ndiagnosis: d\n---\n\nid: b\nobjective: o\npatient: [1]\ndiagnosis: d\n";
        let error = match load_bytes(text.as_bytes(), "c.yaml", "c", LoadOptions::default()) {
            Err(LoadError::Record(error)) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!((error.line, error.field.as_str()), (8, "patient"));
    }

    #[test]
    fn yaml_list_of_cases_loads() {
        let text = "- id: a\n  objective: o\n  patient: p\n  diagnosis: d\n- id: b\n  objective: o\n  patient: p\n  diagnosis: e\n";
        let dataset = load_bytes(text.as_bytes(), "c.yaml", "c", LoadOptions::default()).unwrap();
        assert_eq!(dataset.cases.iter().map(|case| case.source.line).collect::<Vec<_>>(), [Some(1), Some(5)]);
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let text =
            "id: a\nobjective: o\npatient: p\ndiagnosis: d\n---\nid: a\nobjective: o\npatient: p\ndiagnosis: d\n";
        let error = match load_bytes(text.as_bytes(), "c.yaml", "c", LoadOptions::default()) {
            Err(LoadError::Record(error)) => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(error.found, "\"a\", already used on line 1");
    }

    #[test]
    fn empty_and_binary_files_are_errors() {
        assert!(matches!(load("  \n\n"), Err(LoadError::Empty { .. })));
        assert!(matches!(
            load_bytes(b"{}\n\xff\xfe", "b", "b", LoadOptions::default()),
            Err(LoadError::NotText { line: 2, .. })
        ));
    }
}
