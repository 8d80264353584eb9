//! Reading case files: splitting text into records, choosing the format by content, and
//! collecting cases or the errors of the records that are not valid.

use std::collections::HashMap;
use std::io::{BufRead, Read};
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

/// How many rejected records a dataset keeps; the rest are only counted.
pub const KEPT_REJECTIONS: usize = 100;

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
    /// The first [`KEPT_REJECTIONS`] records that were rejected (only with
    /// [`LoadOptions::skip_invalid`]).
    pub rejected: Vec<RecordError>,
    /// How many records were rejected in all.
    pub rejected_count: usize,
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
    hex(&digest)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Loads a case file, reading it as a stream: memory holds the cases and one record at a time,
/// never the whole file (YAML files excepted: they are parsed per document). The dataset name
/// defaults to the file's stem.
pub fn load_path(path: &Path, name: Option<&str>, options: LoadOptions) -> Result<Dataset, LoadError> {
    let file = std::fs::File::open(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("cases");
    let name = name.unwrap_or(stem);
    let mut dataset =
        load_reader(std::io::BufReader::new(file), &path.display().to_string(), name, options).map_err(|error| {
            match error {
                LoadError::Read { source, .. } => LoadError::Io { path: path.to_owned(), source },
                other => other,
            }
        })?;
    dataset.base_dir = path.parent().map(Path::to_owned);
    Ok(dataset)
}

/// Loads cases from bytes; `origin` labels error messages (usually the path).
pub fn load_bytes(bytes: &[u8], origin: &str, name: &str, options: LoadOptions) -> Result<Dataset, LoadError> {
    load_reader(std::io::Cursor::new(bytes), origin, name, options)
}

/// Loads cases from a reader.
pub fn load_reader(reader: impl BufRead, origin: &str, name: &str, options: LoadOptions) -> Result<Dataset, LoadError> {
    let mut cases = Vec::new();
    let mut rejected = Vec::new();
    let mut rejected_count = 0usize;
    let read = read_cases(reader, origin, name, &mut |result| match result {
        Ok(case) => {
            cases.push(case);
            Ok(())
        }
        Err(error) if options.skip_invalid => {
            rejected_count += 1;
            if rejected.len() < KEPT_REJECTIONS {
                rejected.push(error);
            }
            Ok(())
        }
        Err(error) => Err(LoadError::Record(error)),
    })?;
    if cases.is_empty() && rejected_count == 0 {
        return Err(LoadError::Empty { origin: origin.to_owned() });
    }
    Ok(Dataset {
        name: name.to_owned(),
        origin: origin.to_owned(),
        base_dir: None,
        format: read.format.unwrap_or(Format::Medsim),
        sha256: read.sha256,
        cases,
        rejected,
        rejected_count,
    })
}

/// What reading a whole file established.
#[derive(Debug, Clone)]
pub struct ReadSummary {
    /// The format of the first record, when one was recognised.
    pub format: Option<Format>,
    /// Hex SHA-256 of every byte read.
    pub sha256: String,
}

/// Reads every record of a case file in order, handing each case (or why the record is not one)
/// to `each`, which may stop the reading by returning an error. One record is in memory at a
/// time.
pub fn read_cases(
    reader: impl BufRead,
    origin: &str,
    name: &str,
    each: &mut dyn FnMut(Result<Case, RecordError>) -> Result<(), LoadError>,
) -> Result<ReadSummary, LoadError> {
    let mut reader = Hashing { inner: reader, hasher: Sha256::new() };
    let mut format = None;
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut index = 0usize;
    for_each_record(&mut reader, origin, &mut |line, record| {
        let context = RecordContext { origin, dataset: name, line, index };
        index += 1;
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
        each(result)
    })?;
    // Hash whatever follows the last record too, so the checksum is the file's.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|source| read_error(origin, source))?;
    Ok(ReadSummary { format, sha256: hex(&reader.hasher.finalize()) })
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: BufRead> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

impl<R: BufRead> BufRead for Hashing<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if let Ok(buffer) = self.inner.fill_buf() {
            let amount = amount.min(buffer.len());
            self.hasher.update(&buffer[..amount]);
        }
        self.inner.consume(amount);
    }
}

fn read_error(origin: &str, source: std::io::Error) -> LoadError {
    LoadError::Read { origin: origin.to_owned(), source }
}

const FORMAT_HINT: &str = "medsim reads AgentClinic OSCE and NEJM records and its own format, as JSON Lines, one JSON \
     array or YAML; check that this is a case file";

type Visit<'a> = dyn FnMut(u64, Result<Value, RecordError>) -> Result<(), LoadError> + 'a;

/// Splits the input into records by its first significant byte: `{` JSON Lines, `[` a JSON
/// array (one record per element, read element by element), anything else YAML documents.
fn for_each_record(reader: &mut impl BufRead, origin: &str, visit: &mut Visit<'_>) -> Result<(), LoadError> {
    let mut line = 1u64;
    let mut first = true;
    // The blanks before the first significant byte on its line (YAML indentation).
    let mut indent = String::new();
    // Skip a byte-order mark and leading whitespace, counting lines.
    loop {
        let buffer = reader.fill_buf().map_err(|source| read_error(origin, source))?;
        if buffer.is_empty() {
            return Ok(());
        }
        if first && buffer.starts_with(&[0xEF, 0xBB, 0xBF]) {
            reader.consume(3);
            first = false;
            continue;
        }
        first = false;
        match buffer[0] {
            b'\n' => {
                line += 1;
                indent.clear();
                reader.consume(1);
            }
            blank @ (b' ' | b'\t' | b'\r') => {
                indent.push(blank as char);
                reader.consume(1);
            }
            b'{' => return json_lines(reader, origin, line, visit),
            b'[' => return json_array(reader, origin, line, visit),
            _ => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes).map_err(|source| read_error(origin, source))?;
                let text = utf8(&bytes, origin, line)?;
                let blank = "\n".repeat(line as usize - 1);
                return yaml_records(&format!("{blank}{indent}{text}"), origin, visit);
            }
        }
    }
}

fn utf8<'a>(bytes: &'a [u8], origin: &str, line: u64) -> Result<&'a str, LoadError> {
    std::str::from_utf8(bytes).map_err(|error| LoadError::NotText {
        origin: origin.to_owned(),
        line: line + bytes[..error.valid_up_to()].iter().filter(|byte| **byte == b'\n').count() as u64,
    })
}

/// One record per non-blank line.
fn json_lines(
    reader: &mut impl BufRead,
    origin: &str,
    mut number: u64,
    visit: &mut Visit<'_>,
) -> Result<(), LoadError> {
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        let read = reader.read_until(b'\n', &mut bytes).map_err(|source| read_error(origin, source))?;
        if read == 0 {
            return Ok(());
        }
        let line = utf8(&bytes, origin, number)?;
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.trim().is_empty() {
            let parsed = serde_json::from_str::<Value>(line).map_err(|error| RecordError {
                origin: origin.into(),
                line: number,
                field: String::new(),
                expected: "one complete JSON object on this line",
                found: format!("invalid JSON at column {}: {}", error.column(), json_error_text(&error)),
                hint: "each line of a JSON Lines file must hold one whole record; a record split over several \
                       lines, a trailing comma or an unquoted key breaks it",
            });
            visit(number, parsed)?;
        }
        number += 1;
    }
}

/// A JSON array of records, read element by element: only the element being read is held.
fn json_array(reader: &mut impl BufRead, origin: &str, mut line: u64, visit: &mut Visit<'_>) -> Result<(), LoadError> {
    let syntax = |line: u64, found: String| RecordError {
        origin: origin.into(),
        line,
        field: String::new(),
        expected: "a JSON array of case objects",
        found,
        hint: "a JSON file of cases is one array [ {…}, {…} ] or JSON Lines (one object per line)",
    };
    reader.consume(1); // '['
    let mut element: Vec<u8> = Vec::new();
    let mut element_line = line;
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut byte = [0u8; 1];
    loop {
        let read = reader.read(&mut byte).map_err(|source| read_error(origin, source))?;
        if read == 0 {
            let found = "the end of the file before the closing ]".to_owned();
            return visit(line, Err(syntax(line, found)));
        }
        let c = byte[0];
        if c == b'\n' {
            line += 1;
        }
        if in_string {
            element.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b',' | b']' if depth == 0 => {
                if !element.iter().all(u8::is_ascii_whitespace) {
                    let text = utf8(&element, origin, element_line)?;
                    let parsed = serde_json::from_str::<Value>(text)
                        .map_err(|error| syntax(element_line, format!("invalid JSON: {}", json_error_text(&error))));
                    visit(element_line, parsed)?;
                } else if c == b',' {
                    visit(line, Err(syntax(line, "an empty element (two commas, or a comma first)".into())))?;
                }
                element.clear();
                if c == b']' {
                    return Ok(());
                }
            }
            _ => {
                if element.iter().all(u8::is_ascii_whitespace) {
                    element.clear();
                    if c.is_ascii_whitespace() {
                        continue;
                    }
                    element_line = line;
                }
                match c {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                element.push(c);
            }
        }
    }
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
/// Each document is parsed when it is visited.
fn yaml_records(text: &str, origin: &str, visit: &mut Visit<'_>) -> Result<(), LoadError> {
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
                    visit(line, Ok(item))?;
                }
            }
            Ok(value) => visit(first_line, Ok(value))?,
            Err(error) => {
                let line = error.location().map(|location| start + location.line() as u64 - 1).unwrap_or(first_line);
                let message = error.to_string();
                let message = match message.find(" at line ") {
                    Some(position) => message[..position].to_owned(),
                    None => message,
                };
                visit(
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
                )?;
            }
        }
    }
    Ok(())
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
    fn a_json_array_of_records_is_read_element_by_element() {
        let text = format!("[\n  {OSCE},\n  {OSCE}\n]\n");
        let dataset = load(&text).unwrap();
        assert_eq!(dataset.cases.len(), 2);
        assert_eq!(dataset.cases[1].source.line, Some(3));
        assert_eq!(dataset.sha256, sha256_hex(text.as_bytes()), "the whole file is hashed");
        // Strings with brackets, commas and escaped quotes do not end an element.
        let tricky = OSCE.replace("Diagnose.", r#"Diagnose, [carefully] \"now\" {ok}."#);
        assert_eq!(load(&format!("[{tricky},{OSCE}]")).unwrap().cases.len(), 2);
        let skip = LoadOptions { skip_invalid: true };
        let dataset = load_bytes(format!("[{OSCE}, 7, {{\"a\": 1}}]").as_bytes(), "a.json", "a", skip).unwrap();
        assert_eq!((dataset.cases.len(), dataset.rejected_count), (1, 2));
        let error = match load(&format!("[{OSCE},\n{OSCE}")) {
            Err(LoadError::Record(error)) => error,
            other => panic!("{other:?}"),
        };
        assert!(error.found.contains("before the closing ]"), "{error}");
    }

    #[test]
    fn rejections_are_capped_and_counted() {
        let text = "{\"a\": 1}\n".repeat(KEPT_REJECTIONS + 50);
        let dataset = load_bytes(text.as_bytes(), "x.jsonl", "x", LoadOptions { skip_invalid: true }).unwrap();
        assert_eq!((dataset.rejected.len(), dataset.rejected_count), (KEPT_REJECTIONS, KEPT_REJECTIONS + 50));
    }

    #[test]
    fn empty_and_binary_files_are_errors() {
        assert!(matches!(load("  \n\n"), Err(LoadError::Empty { .. })));
        let binary_after_a_record =
            format!("{OSCE}\n").into_bytes().into_iter().chain(*b"\xff\xfe{}").collect::<Vec<u8>>();
        assert!(matches!(
            load_bytes(&binary_after_a_record, "b", "b", LoadOptions::default()),
            Err(LoadError::NotText { line: 2, .. })
        ));
        assert!(matches!(
            load_bytes(b"\n\xff\xfe", "b", "b", LoadOptions::default()),
            Err(LoadError::NotText { line: 2, .. })
        ));
    }
}
