//! Record-level readers for each case format, sharing one way of reporting what is wrong.
//!
//! Each reader takes one parsed record (a JSON value) and either returns a [`Case`] or a
//! [`RecordError`] naming the field. Readers are lenient about shapes the public files really
//! use (a string here, a list or an object there; empty objects; extra keys) and strict about
//! what a consultation cannot do without (a diagnosis, a patient, one correct answer option).

pub(crate) mod native;
pub(crate) mod nejm;
pub(crate) mod osce;

use serde_json::{Map, Value};

use crate::case::{Case, Format};
use crate::error::RecordError;

/// Where a record is, for error messages and provenance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext<'a> {
    pub origin: &'a str,
    pub dataset: &'a str,
    pub line: u64,
    /// 0-based position of the record in its file, counting invalid records too.
    pub index: usize,
}

impl RecordContext<'_> {
    pub fn error(&self, field: &str, expected: &'static str, found: String, hint: &'static str) -> RecordError {
        RecordError { origin: self.origin.into(), line: self.line, field: field.to_owned(), expected, found, hint }
    }

    pub fn missing(&self, field: &str, expected: &'static str, hint: &'static str) -> RecordError {
        self.error(field, expected, "nothing (the key is missing)".to_owned(), hint)
    }
}

/// Reads one record in the given format.
pub(crate) fn read_record(format: Format, value: Value, context: &RecordContext<'_>) -> Result<Case, RecordError> {
    match format {
        Format::AgentclinicOsce => osce::read(value, context),
        Format::AgentclinicNejm => nejm::read(value, context),
        Format::Medsim => native::read(value, context),
    }
}

/// Guesses the format from a record's keys; `None` when nothing fits.
pub(crate) fn detect(value: &Value) -> Option<Format> {
    let object = value.as_object()?;
    if object.contains_key("OSCE_Examination") {
        Some(Format::AgentclinicOsce)
    } else if ["patient_info", "answers", "physical_exams", "image_url"].iter().any(|key| object.contains_key(*key)) {
        Some(Format::AgentclinicNejm)
    } else if ["diagnosis", "patient", "objective"].iter().any(|key| object.contains_key(*key)) {
        Some(Format::Medsim)
    } else {
        None
    }
}

/// What every format expects of a record, for the "unknown format" error.
pub(crate) const ANY_RECORD: &str = "an AgentClinic OSCE record (key OSCE_Examination), an AgentClinic NEJM record \
     (keys question, patient_info, answers) or a medsim case (keys id, patient, diagnosis)";

/// A short description of a value for "found …" in error messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("a boolean ({flag})"),
        Value::Number(number) => format!("a number ({number})"),
        Value::String(text) if text.trim().is_empty() => "an empty string".to_owned(),
        Value::String(text) => format!("a string ({})", excerpt(text, 40)),
        Value::Array(items) if items.is_empty() => "an empty list".to_owned(),
        Value::Array(items) => format!("a list of {} item{}", items.len(), if items.len() == 1 { "" } else { "s" }),
        Value::Object(map) => describe_object(map),
    }
}

pub(crate) fn describe_object(map: &Map<String, Value>) -> String {
    if map.is_empty() {
        return "an empty object".to_owned();
    }
    let mut keys: Vec<&str> = map.keys().map(String::as_str).take(6).collect();
    if map.len() > 6 {
        keys.push("…");
    }
    format!("an object with keys {}", keys.join(", "))
}

/// The first `limit` characters of a text, quoted, with an ellipsis when cut.
pub(crate) fn excerpt(text: &str, limit: usize) -> String {
    let mut out: String = text.chars().take(limit).collect();
    if text.chars().count() > limit {
        out.push('…');
    }
    format!("{out:?}")
}

/// A required non-empty string field.
pub(crate) fn required_string(
    object: &mut Map<String, Value>,
    key: &str,
    field: &str,
    context: &RecordContext<'_>,
    hint: &'static str,
) -> Result<String, RecordError> {
    match object.shift_remove(key) {
        None => Err(context.missing(field, "a non-empty string", hint)),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(other) => Err(context.error(field, "a non-empty string", describe(&other), hint)),
    }
}

/// An optional string field; `null` counts as absent.
pub(crate) fn optional_string(
    object: &mut Map<String, Value>,
    key: &str,
    field: &str,
    context: &RecordContext<'_>,
    hint: &'static str,
) -> Result<Option<String>, RecordError> {
    match object.shift_remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(context.error(field, "a string", describe(&other), hint)),
    }
}

/// A list of strings; a single string counts as a list of one.
pub(crate) fn string_list(
    object: &mut Map<String, Value>,
    key: &str,
    field: &str,
    context: &RecordContext<'_>,
    hint: &'static str,
) -> Result<Vec<String>, RecordError> {
    match object.shift_remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text]),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => Ok(text),
                other => Err(context.error(&format!("{field}[{index}]"), "a string", describe(&other), hint)),
            })
            .collect(),
        Some(other) => Err(context.error(field, "a list of strings", describe(&other), hint)),
    }
}

/// Answer options `[{text, correct}]`, checked to have exactly one correct entry.
pub(crate) fn answer_options(
    items: Value,
    field: &str,
    context: &RecordContext<'_>,
    hint: &'static str,
) -> Result<Vec<crate::case::AnswerOption>, RecordError> {
    let Value::Array(items) = items else {
        return Err(context.error(field, "a list of {text, correct} objects", describe(&items), hint));
    };
    let mut options = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let item_field = format!("{field}[{index}]");
        let Value::Object(mut object) = item else {
            return Err(context.error(&item_field, "an object {text, correct}", describe(&item), hint));
        };
        let text = required_string(&mut object, "text", &format!("{item_field}.text"), context, hint)?;
        let correct = match object.shift_remove("correct") {
            Some(Value::Bool(flag)) => flag,
            None => return Err(context.missing(&format!("{item_field}.correct"), "true or false", hint)),
            Some(other) => {
                return Err(context.error(&format!("{item_field}.correct"), "true or false", describe(&other), hint));
            }
        };
        options.push(crate::case::AnswerOption { text, correct });
    }
    let correct = options.iter().filter(|option| option.correct).count();
    if !options.is_empty() && correct != 1 {
        return Err(context.error(
            field,
            "exactly one option with \"correct\": true",
            format!("{correct} correct options out of {}", options.len()),
            hint,
        ));
    }
    Ok(options)
}
