//! The leak audit: which cases give their answer away to the patient or the measurement agent?
//!
//! A case leaks when its correct diagnosis (or a close variant, see [`crate::matching`]) appears
//! in text a role is handed. Such cases are not wrong, but results on them measure reading, not
//! diagnosis; researchers need to know which they are.

use serde::Serialize;

use crate::case::Case;
use crate::matching;

/// The role that would see the leaking text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// The patient actor (patient facts).
    Patient,
    /// The measurement actor (examination findings and test results).
    Measurement,
    /// The doctor (objective, question, image captions).
    Doctor,
}

impl Audience {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Audience::Patient => "patient",
            Audience::Measurement => "measurement",
            Audience::Doctor => "doctor",
        }
    }
}

/// One place where a case names its own diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leak {
    /// The case.
    pub case_id: String,
    /// The case's correct diagnosis.
    pub diagnosis: String,
    /// Who would see it.
    pub audience: Audience,
    /// Dotted path of the field, e.g. `tests.Biopsy.Findings`.
    pub field: String,
    /// The matching words as found in the field (normalised).
    pub matched: String,
}

/// Every leak in one case, in field order.
pub fn audit_case(case: &Case) -> Vec<Leak> {
    let mut forms = matching::variants(&case.diagnosis);
    for alias in &case.diagnosis_aliases {
        for form in matching::variants(alias) {
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    let groups = [
        (Audience::Patient, case.patient_fields()),
        (Audience::Measurement, case.measurement_fields()),
        (Audience::Doctor, case.doctor_fields()),
    ];
    let mut leaks = Vec::new();
    for (audience, fields) in groups {
        for (field, text) in fields {
            if let Some(matched) = matching::find(&forms, &text) {
                leaks.push(Leak {
                    case_id: case.id.clone(),
                    diagnosis: case.diagnosis.clone(),
                    audience,
                    field,
                    matched,
                });
            }
        }
    }
    leaks
}

/// Every leak in a set of cases.
pub fn audit(cases: &[Case]) -> Vec<Leak> {
    cases.iter().flat_map(audit_case).collect()
}
