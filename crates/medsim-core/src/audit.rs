//! The leak audit: which cases give their answer away to the patient or the measurement agent?
//!
//! A case leaks when its correct diagnosis (or a close variant, see [`crate::matching`]) appears
//! in text a role is handed. Such cases are not wrong, but results on them measure reading, not
//! diagnosis; researchers need to know which they are.
//!
//! Besides these exact leaks, the audit flags *possible* leaks: another name of the disease from
//! the lexicon's diagnosis groups ("SLE" for systemic lupus erythematosus), or every content word
//! of the diagnosis within one sentence, in any order and with other words between ("posterior
//! dislocation of the right hip" for posterior hip dislocation; "narrowing of the aorta …
//! consistent with coarctation" for coarctation of the aorta). Possible leaks are for a person to
//! review; they are counted apart.

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
    /// `exact` (the diagnosis's words in a row) or `possible` (a synonym, or its words spread
    /// over one sentence).
    pub kind: LeakKind,
}

/// How sure the audit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakKind {
    /// The diagnosis's words, in a row.
    Exact,
    /// Another name of the disease, or all of its content words within one sentence.
    Possible,
}

/// Words of a diagnosis that say nothing by themselves.
const WEAK: &[&str] = &[
    "disease",
    "syndrome",
    "disorder",
    "acute",
    "chronic",
    "primary",
    "secondary",
    "type",
    "left",
    "right",
    "infection",
    "deficiency",
];

/// A possible leak in one text: another name of the disease, or all its content words in one
/// sentence.
fn possible(diagnosis: &str, synonyms: &[Vec<String>], text: &str) -> Option<String> {
    if let Some(found) = matching::find(synonyms, text) {
        return Some(found);
    }
    let content: Vec<String> = matching::tokens(diagnosis)
        .into_iter()
        .filter(|word| word.chars().count() > 2 && !WEAK.contains(&word.as_str()))
        .collect();
    if content.len() < 2 {
        return None;
    }
    for sentence in text.split(['.', ';', '\n']) {
        let words = matching::tokens(sentence);
        if content.iter().all(|word| words.contains(word)) {
            return Some(content.join(" "));
        }
    }
    None
}

/// Other names of a diagnosis from the lexicon's groups, as matcher forms.
fn synonym_forms(diagnosis: &str, own: &[Vec<String>]) -> Vec<Vec<String>> {
    let wanted = crate::judging::words(diagnosis).join(" ");
    let mut out = Vec::new();
    for group in crate::lexicon::Lexicon::get().diagnosis_groups() {
        if group.iter().any(|name| crate::judging::words(name).join(" ") == wanted) {
            for name in group {
                for form in matching::variants(name) {
                    if !own.contains(&form) && !out.contains(&form) {
                        out.push(form);
                    }
                }
            }
        }
    }
    out
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
    let synonyms = synonym_forms(&case.diagnosis, &forms);
    let mut leaks = Vec::new();
    for (audience, fields) in groups {
        for (field, text) in fields {
            let (matched, kind) = match matching::find(&forms, &text) {
                Some(matched) => (matched, LeakKind::Exact),
                None => match possible(&case.diagnosis, &synonyms, &text) {
                    Some(matched) => (matched, LeakKind::Possible),
                    None => continue,
                },
            };
            leaks.push(Leak {
                case_id: case.id.clone(),
                diagnosis: case.diagnosis.clone(),
                audience,
                field,
                matched,
                kind,
            });
        }
    }
    leaks
}

/// Every leak in a set of cases.
pub fn audit(cases: &[Case]) -> Vec<Leak> {
    cases.iter().flat_map(audit_case).collect()
}
