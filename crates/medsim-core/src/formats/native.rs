//! medsim's own case format (`medsim.case/v1`), read from JSON Lines or YAML. It is exactly what
//! serialising a [`Case`] writes; see `schemas/case.schema.json`.

use indexmap::IndexMap;
use serde_json::Value;

use super::{RecordContext, answer_options, describe, optional_string, required_string, string_list};
use crate::case::{Case, CaseImage, Format, PatientFacts, Source};
use crate::error::RecordError;
use crate::finding::Findings;

const HINT: &str = "medsim cases need at least id, patient and diagnosis (see schemas/case.schema.json, or run \
     `medsim cases schema`); fix the record, or pass --skip-invalid to load the other records";

pub(crate) fn read(value: Value, context: &RecordContext<'_>) -> Result<Case, RecordError> {
    let Value::Object(mut object) = value else {
        return Err(context.error("", "an object (a medsim case)", describe(&value), HINT));
    };
    let id = match object.shift_remove("id") {
        None | Some(Value::Null) => context.index.to_string(),
        Some(Value::String(text)) if !text.trim().is_empty() => text,
        Some(Value::Number(number)) => number.to_string(),
        Some(other) => return Err(context.error("id", "a non-empty string", describe(&other), HINT)),
    };
    let source = match object.shift_remove("source") {
        None | Some(Value::Null) => {
            Source { dataset: context.dataset.to_owned(), format: Format::Medsim, line: Some(context.line) }
        }
        Some(Value::Object(mut source)) => {
            let dataset = required_string(&mut source, "dataset", "source.dataset", context, HINT)?;
            let format_name = required_string(&mut source, "format", "source.format", context, HINT)?;
            let Some(format) = Format::from_name(&format_name) else {
                return Err(context.error(
                    "source.format",
                    "one of agentclinic-osce, agentclinic-nejm, medsim",
                    format!("{format_name:?}"),
                    HINT,
                ));
            };
            let line = match source.shift_remove("line") {
                None | Some(Value::Null) => None,
                Some(Value::Number(number)) if number.as_u64().is_some() => number.as_u64(),
                Some(other) => {
                    return Err(context.error("source.line", "a positive whole number", describe(&other), HINT));
                }
            };
            Source { dataset, format, line }
        }
        Some(other) => {
            return Err(context.error("source", "an object {dataset, format, line}", describe(&other), HINT));
        }
    };
    let question = optional_string(&mut object, "question", "question", context, HINT)?;
    let objective = match optional_string(&mut object, "objective", "objective", context, HINT)? {
        Some(objective) => objective,
        None => match &question {
            Some(question) => question.clone(),
            None => {
                return Err(context.missing("objective", "a string (the doctor's task)", HINT));
            }
        },
    };
    let patient = match object.shift_remove("patient") {
        Some(Value::String(text)) => PatientFacts::Text(text),
        Some(value @ Value::Object(_)) => PatientFacts::Structured(Findings::from_value_named(value, "Facts")),
        None => return Err(context.missing("patient", "an object of patient facts or a string", HINT)),
        Some(other) => {
            return Err(context.error("patient", "an object of patient facts or a string", describe(&other), HINT));
        }
    };
    let exam = tree(&mut object, "exam", context)?;
    let tests = tree(&mut object, "tests", context)?;
    let images = match object.shift_remove("images") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            items.into_iter().enumerate().map(|(index, item)| image(item, index, context)).collect::<Result<_, _>>()?
        }
        Some(other) => {
            return Err(context.error("images", "a list of {url|path, modality, caption}", describe(&other), HINT));
        }
    };
    let options = match object.shift_remove("options") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => answer_options(value, "options", context, HINT)?,
    };
    let diagnosis = match object.shift_remove("diagnosis") {
        Some(Value::String(text)) if !text.trim().is_empty() => text,
        None if options.iter().any(|option| option.correct) => {
            options.iter().find(|option| option.correct).map(|option| option.text.clone()).unwrap_or_default()
        }
        None => return Err(context.missing("diagnosis", "a non-empty string (the correct diagnosis)", HINT)),
        Some(other) => {
            return Err(context.error(
                "diagnosis",
                "a non-empty string (the correct diagnosis)",
                describe(&other),
                HINT,
            ));
        }
    };
    let diagnosis_aliases = string_list(&mut object, "diagnosis_aliases", "diagnosis_aliases", context, HINT)?;
    let specialty = string_list(&mut object, "specialty", "specialty", context, HINT)?;
    let tags = string_list(&mut object, "tags", "tags", context, HINT)?;
    let mut extra: IndexMap<String, Value> = match object.shift_remove("extra") {
        None | Some(Value::Null) => IndexMap::new(),
        Some(Value::Object(map)) => map.into_iter().collect(),
        Some(other) => return Err(context.error("extra", "an object", describe(&other), HINT)),
    };
    // Keys medsim does not know are kept, not dropped.
    extra.extend(object);
    Ok(Case {
        id,
        source,
        objective,
        question,
        patient,
        exam,
        tests,
        images,
        diagnosis,
        diagnosis_aliases,
        options,
        specialty,
        tags,
        extra,
    })
}

fn tree(
    object: &mut serde_json::Map<String, Value>,
    key: &str,
    context: &RecordContext<'_>,
) -> Result<Findings, RecordError> {
    match object.shift_remove(key) {
        None | Some(Value::Null) => Ok(Findings::new()),
        Some(value @ (Value::Object(_) | Value::String(_))) => Ok(Findings::from_value_named(value, "Findings")),
        Some(other) => Err(context.error(key, "an object of named results (or a string)", describe(&other), HINT)),
    }
}

fn image(item: Value, index: usize, context: &RecordContext<'_>) -> Result<CaseImage, RecordError> {
    let field = format!("images[{index}]");
    let Value::Object(mut object) = item else {
        return Err(context.error(&field, "an object {url|path, modality, caption}", describe(&item), HINT));
    };
    let url = optional_string(&mut object, "url", &format!("{field}.url"), context, HINT)?;
    let path = optional_string(&mut object, "path", &format!("{field}.path"), context, HINT)?;
    let modality = optional_string(&mut object, "modality", &format!("{field}.modality"), context, HINT)?;
    let caption = optional_string(&mut object, "caption", &format!("{field}.caption"), context, HINT)?;
    if url.is_none() && path.is_none() {
        return Err(context.missing(&format!("{field}.url"), "a url or a path", HINT));
    }
    if let Some(key) = object.keys().next() {
        return Err(context.error(
            &format!("{field}.{key}"),
            "only url, path, modality and caption",
            format!("an unknown key {key:?}"),
            HINT,
        ));
    }
    Ok(CaseImage { url, path, modality, caption })
}
