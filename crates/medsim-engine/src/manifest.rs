//! `run.json`: everything needed to reproduce a run, typed. `schemas/run.schema.json` is
//! generated from [`RunManifest`]; a damaged file is refused naming the field.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::setup::Setup;

/// Version of the run manifest.
pub const RUN_SCHEMA: &str = "medsim.run/v1";

/// Where the cases came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetInfo {
    /// As given: `builtin`, a registered name, or the file's absolute, canonical path.
    pub spec: String,
    /// The dataset's name.
    pub name: String,
    /// Where it was read from.
    pub origin: String,
    /// SHA-256 of the file; a resume refuses a changed file.
    pub sha256: String,
    /// The format detected.
    pub format: Value,
}

/// A role's model and the sampling its seats actually used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RoleRecord {
    /// `PROVIDER/MODEL`, or `grounded` for the deterministic measurement agent.
    pub model: String,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Completion budget per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

/// What made a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// `medsim run`.
    Run,
    /// The training run of `medsim learn`.
    Learn,
    /// One point of a learning curve.
    LearningCurve,
    /// One arm of `medsim ablate`.
    AblationArm,
    /// `medsim rollout`: k samples per case of a policy, with rewards and advantages.
    Rollout,
}

/// run.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "medsim run", description = "run.json: everything needed to reproduce a run (medsim.run/v1).")]
pub struct RunManifest {
    /// `medsim.run/v1`.
    pub schema: String,
    /// The run directory's name.
    pub run_id: String,
    /// The medsim that started the run.
    pub medsim_version: String,
    /// The dataset.
    pub dataset: DatasetInfo,
    /// The case ids, in the order they were planned.
    pub cases: Vec<String>,
    /// Episodes per case.
    pub repeats: u32,
    /// The run's seed; each episode derives its own from it.
    pub seed: u64,
    /// Episodes in flight at once.
    pub concurrency: usize,
    /// How every episode is set up.
    pub setup: Setup,
    /// Each role's model and sampling.
    pub roles: BTreeMap<String, RoleRecord>,
    /// Prompt template name to version.
    pub prompts: BTreeMap<String, String>,
    /// What made the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RunKind>,
    /// The ablation arm (its strategy list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// Training cases whose memory a learning-curve point used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    /// The doctor's strategies with every parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategies: Option<Value>,
    /// The train/test split, when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Value>,
    /// The experience memory used, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Value>,
    /// How the verdicts were reached (written when the run finishes): `exact`, `alias`,
    /// `shortcut`, `rule`, `options`, `no_diagnosis`, `model PROVIDER/MODEL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<BTreeMap<String, usize>>,
}

/// Why run.json cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A field is missing or of the wrong kind.
    #[error(
        "{path}: {field}: {message}\n  hint: the file was edited or damaged; restore it, or start a new run with --out"
    )]
    Field {
        /// The file.
        path: String,
        /// The field, dotted (`setup.max_turns`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl RunManifest {
    /// Reads run.json, naming the field of any error.
    pub fn read(path: &Path) -> Result<RunManifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Read { path: path.display().to_string(), source })?;
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let field = error.path().to_string();
            ManifestError::Field {
                path: path.display().to_string(),
                field: if field == "." { "(top)".into() } else { field },
                message: error.inner().to_string(),
            }
        })
    }

    /// The number of episodes planned.
    pub fn planned(&self) -> usize {
        self.cases.len() * self.repeats as usize
    }
}

/// The JSON Schema of run.json, pretty-printed.
pub fn run_schema_json() -> String {
    let mut schema = schemars::schema_for!(RunManifest);
    schema.insert("$id".to_owned(), format!("urn:medsim:schema:{RUN_SCHEMA}").into());
    serde_json::to_string_pretty(&schema).expect("schemas serialise") + "\n"
}
