//! The case model: one clinical scenario, whatever file it came from.
//!
//! Every loader produces a [`Case`]; every later part of medsim (agents, engine, reports) reads
//! only this type. Serialising a case gives medsim's own format, which keeps everything the source
//! had: fields medsim does not know are carried in [`Case::extra`].

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::finding::Findings;

/// Version tag of medsim's own case format, written into the JSON Schema.
pub const CASE_FORMAT_VERSION: &str = "medsim.case/v1";

/// One clinical scenario.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "medsim case", description = "One clinical scenario in medsim's own format (medsim.case/v1).")]
pub struct Case {
    /// Identifier, unique within its dataset. AgentClinic records are numbered from 0 in file
    /// order, as AgentClinic's own scenario ids are. Defaults to the record's position.
    #[serde(default)]
    pub id: String,
    /// Where the case came from. Defaults to the file being read.
    #[serde(default)]
    pub source: Source,
    /// The doctor's task as the case states it. For NEJM cases this is the case question.
    /// Defaults to `question` when that is given.
    #[serde(default)]
    pub objective: String,
    /// The case vignette posed as a question (NEJM image challenges), when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// What the patient knows: structured facts or free text.
    pub patient: PatientFacts,
    /// Physical examination findings.
    #[serde(default, skip_serializing_if = "Findings::is_empty")]
    pub exam: Findings,
    /// Test results (laboratory, imaging reports, special tests).
    #[serde(default, skip_serializing_if = "Findings::is_empty")]
    pub tests: Findings,
    /// Images that belong to the case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<CaseImage>,
    /// The correct diagnosis.
    pub diagnosis: String,
    /// Other names under which the diagnosis counts as correct.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis_aliases: Vec<String>,
    /// Answer options, exactly one of them correct (NEJM-style cases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<AnswerOption>,
    /// Specialties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specialty: Vec<String>,
    /// Free tags for grouping results (NEJM `type`, which mixes specialties and modalities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Fields of the source record medsim does not interpret, kept verbatim.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(with = "IndexMap<String, Value>")]
    pub extra: IndexMap<String, Value>,
}

/// Provenance of a case.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
pub struct Source {
    /// Dataset name (`agentclinic-medqa`, `builtin`, or a file's stem).
    pub dataset: String,
    /// The format the record was read from.
    pub format: Format,
    /// 1-based line of the record in its original file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

/// The formats medsim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// AgentClinic OSCE JSON Lines (MedQA, MedQA-extended, MIMIC-IV).
    AgentclinicOsce,
    /// AgentClinic NEJM JSON Lines (with or without `type`).
    AgentclinicNejm,
    /// medsim's own format, JSON Lines or YAML.
    #[default]
    Medsim,
}

impl Format {
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::AgentclinicOsce => "agentclinic-osce",
            Format::AgentclinicNejm => "agentclinic-nejm",
            Format::Medsim => "medsim",
        }
    }

    /// Parses [`Format::name`].
    pub fn from_name(name: &str) -> Option<Format> {
        [Format::AgentclinicOsce, Format::AgentclinicNejm, Format::Medsim]
            .into_iter()
            .find(|format| format.name() == name)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the patient knows about themselves.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PatientFacts {
    /// Named facts (demographics, history, symptoms …), as OSCE cases give them.
    Structured(Findings),
    /// A free-text brief, as NEJM cases give it.
    Text(String),
}

impl PatientFacts {
    /// The facts as plain text for a prompt or a terminal.
    pub fn render(&self) -> String {
        match self {
            PatientFacts::Structured(findings) => findings.render(),
            PatientFacts::Text(text) => text.clone(),
        }
    }
}

/// An image belonging to a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CaseImage {
    /// Remote address of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Local file, relative to the case file's directory (or to the built-in case directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Modality when known (ECG, X-ray, CT, photograph …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// A neutral caption that does not name the diagnosis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// One answer option of a multiple-choice case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AnswerOption {
    /// The option's text.
    pub text: String,
    /// Whether this is the correct option.
    pub correct: bool,
}

impl Case {
    /// The case as a JSON value in medsim's own format.
    pub fn to_native_value(&self) -> Value {
        serde_json::to_value(self).expect("a case always serialises to JSON")
    }

    /// Every named text the patient actor would be given, with its field path.
    pub fn patient_fields(&self) -> Vec<(String, String)> {
        match &self.patient {
            PatientFacts::Text(text) => vec![("patient".to_owned(), text.clone())],
            PatientFacts::Structured(findings) => findings
                .leaves()
                .into_iter()
                .map(|leaf| (format!("patient.{}", leaf.dotted()), leaf.text.into_owned()))
                .collect(),
        }
    }

    /// Every named result the measurement actor would be given, with its field path.
    pub fn measurement_fields(&self) -> Vec<(String, String)> {
        let exam =
            self.exam.leaves().into_iter().map(|leaf| (format!("exam.{}", leaf.dotted()), leaf.text.into_owned()));
        let tests =
            self.tests.leaves().into_iter().map(|leaf| (format!("tests.{}", leaf.dotted()), leaf.text.into_owned()));
        exam.chain(tests).collect()
    }

    /// Every text the doctor is given at the start: the objective, the question and image captions.
    pub fn doctor_fields(&self) -> Vec<(String, String)> {
        let mut fields = vec![("objective".to_owned(), self.objective.clone())];
        if let Some(question) = self.question.as_ref().filter(|question| **question != self.objective) {
            fields.push(("question".to_owned(), question.clone()));
        }
        for (index, image) in self.images.iter().enumerate() {
            if let Some(caption) = &image.caption {
                fields.push((format!("images[{index}].caption"), caption.clone()));
            }
        }
        fields
    }
}
