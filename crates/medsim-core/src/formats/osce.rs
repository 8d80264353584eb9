//! AgentClinic OSCE records (MedQA, MedQA-extended, MIMIC-IV): `{"OSCE_Examination": {...}}`.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{RecordContext, describe, optional_string, required_string};
use crate::case::{Case, Format, PatientFacts, Source};
use crate::error::RecordError;
use crate::finding::Findings;

const HINT: &str = "AgentClinic OSCE records look like {\"OSCE_Examination\": {\"Objective_for_Doctor\": …, \
     \"Patient_Actor\": {…}, \"Physical_Examination_Findings\": {…}, \"Test_Results\": {…}, \"Correct_Diagnosis\": …}}; \
     fix the record, or pass --skip-invalid to load the other records";

pub(crate) fn read(value: Value, context: &RecordContext<'_>) -> Result<Case, RecordError> {
    let Value::Object(mut top) = value else {
        return Err(context.error("", "a JSON object with key OSCE_Examination", describe(&value), HINT));
    };
    let osce = match top.shift_remove("OSCE_Examination") {
        Some(Value::Object(osce)) => osce,
        None => return Err(context.missing("OSCE_Examination", "an object", HINT)),
        Some(other) => return Err(context.error("OSCE_Examination", "an object", describe(&other), HINT)),
    };
    let mut osce: Map<String, Value> = osce;
    let diagnosis =
        required_string(&mut osce, "Correct_Diagnosis", "OSCE_Examination.Correct_Diagnosis", context, HINT)?;
    let objective =
        optional_string(&mut osce, "Objective_for_Doctor", "OSCE_Examination.Objective_for_Doctor", context, HINT)?
            .unwrap_or_default();
    let patient = match osce.shift_remove("Patient_Actor") {
        Some(Value::String(text)) => PatientFacts::Text(text),
        Some(value @ Value::Object(_)) => PatientFacts::Structured(Findings::from_value_named(value, "Facts")),
        None => return Err(context.missing("OSCE_Examination.Patient_Actor", "an object of patient facts", HINT)),
        Some(other) => {
            return Err(context.error(
                "OSCE_Examination.Patient_Actor",
                "an object of patient facts (or a string)",
                describe(&other),
                HINT,
            ));
        }
    };
    let exam = osce
        .shift_remove("Physical_Examination_Findings")
        .map(|value| Findings::from_value_named(value, "Findings"))
        .unwrap_or_default();
    let tests =
        osce.shift_remove("Test_Results").map(|value| Findings::from_value_named(value, "Results")).unwrap_or_default();

    let mut extra: IndexMap<String, Value> = top.into_iter().collect();
    if !osce.is_empty() {
        extra.insert("OSCE_Examination".to_owned(), Value::Object(osce));
    }
    Ok(Case {
        id: context.index.to_string(),
        source: Source {
            dataset: context.dataset.to_owned(),
            format: Format::AgentclinicOsce,
            line: Some(context.line),
        },
        objective,
        question: None,
        patient,
        exam,
        tests,
        images: Vec::new(),
        diagnosis,
        diagnosis_aliases: Vec::new(),
        options: Vec::new(),
        specialty: Vec::new(),
        tags: Vec::new(),
        extra,
    })
}
