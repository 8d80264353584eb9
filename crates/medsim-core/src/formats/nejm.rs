//! AgentClinic NEJM records: `{"image_url", "question", "patient_info", "physical_exams",
//! "answers": [{"text", "correct"}], "type"?}`.

use indexmap::IndexMap;
use serde_json::Value;

use super::{RecordContext, answer_options, describe, optional_string, required_string, string_list};
use crate::case::{Case, CaseImage, Format, PatientFacts, Source};
use crate::error::RecordError;
use crate::finding::Findings;

const HINT: &str = "AgentClinic NEJM records look like {\"image_url\": …, \"question\": …, \"patient_info\": …, \
     \"physical_exams\": …, \"answers\": [{\"text\": …, \"correct\": true|false}, …]}; fix the record, or pass \
     --skip-invalid to load the other records";

pub(crate) fn read(value: Value, context: &RecordContext<'_>) -> Result<Case, RecordError> {
    let Value::Object(mut object) = value else {
        return Err(context.error("", "a JSON object (an AgentClinic NEJM record)", describe(&value), HINT));
    };
    let question = required_string(&mut object, "question", "question", context, HINT)?;
    let options = match object.shift_remove("answers") {
        None => return Err(context.missing("answers", "a list of {text, correct} objects", HINT)),
        Some(value) => answer_options(value, "answers", context, HINT)?,
    };
    let Some(diagnosis) = options.iter().find(|option| option.correct).map(|option| option.text.clone()) else {
        return Err(context.error("answers", "at least one answer option", "an empty list".to_owned(), HINT));
    };
    let patient = match object.shift_remove("patient_info") {
        Some(Value::String(text)) => PatientFacts::Text(text),
        Some(value @ Value::Object(_)) => PatientFacts::Structured(Findings::from_value_named(value, "Facts")),
        None => return Err(context.missing("patient_info", "a string (the patient's brief)", HINT)),
        Some(other) => {
            return Err(context.error("patient_info", "a string (the patient's brief)", describe(&other), HINT));
        }
    };
    let exam = object
        .shift_remove("physical_exams")
        .map(|value| Findings::from_value_named(value, "Findings"))
        .unwrap_or_default();
    let image_url = optional_string(&mut object, "image_url", "image_url", context, HINT)?;
    // NEJM `type` mixes specialties and modalities ("dermatology", "CT scan"): kept as tags.
    let tags = string_list(&mut object, "type", "type", context, HINT)?;
    let images = image_url
        .filter(|url| !url.trim().is_empty())
        .map(|url| vec![CaseImage { url: Some(url), path: None, modality: None, caption: None }])
        .unwrap_or_default();
    let extra: IndexMap<String, Value> = object.into_iter().collect();
    Ok(Case {
        id: context.index.to_string(),
        source: Source {
            dataset: context.dataset.to_owned(),
            format: Format::AgentclinicNejm,
            line: Some(context.line),
        },
        objective: question.clone(),
        question: Some(question),
        patient,
        exam,
        tests: Findings::new(),
        images,
        diagnosis,
        diagnosis_aliases: Vec::new(),
        options,
        specialty: Vec::new(),
        tags,
        extra,
    })
}
