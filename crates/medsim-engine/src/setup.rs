//! How every episode of a run is set up — who plays, how, with what budget — independent of any
//! command line. run.json records it as `setup`; a resumed run uses it as recorded.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Aids, EpisodeConfig, ImagePolicy, Routing};

/// Which model plays each role, as `PROVIDER/MODEL`; unset roles fall back to the settings
/// file's `[roles]`, then to the embedded default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleModels {
    /// The doctor's model.
    #[serde(default)]
    pub doctor_model: Option<String>,
    /// The patient's model.
    #[serde(default)]
    pub patient_model: Option<String>,
    /// The measurement agent's model (when it is not grounded).
    #[serde(default)]
    pub measurement_model: Option<String>,
    /// The judge's model.
    #[serde(default)]
    pub judge_model: Option<String>,
}

impl RoleModels {
    /// The model given for a role, if any.
    pub fn get(&self, role: medsim_core::transcript::RoleName) -> Option<&str> {
        use medsim_core::transcript::RoleName;
        match role {
            RoleName::Doctor => self.doctor_model.as_deref(),
            RoleName::Patient => self.patient_model.as_deref(),
            RoleName::Measurement => self.measurement_model.as_deref(),
            RoleName::Judge => self.judge_model.as_deref(),
        }
    }
}

/// How tests are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MeasurementMode {
    /// From the case, deterministically.
    #[default]
    Grounded,
    /// By a model with AgentClinic's measurement prompt (parity).
    Model,
}

/// How the doctor acts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolChoice {
    /// Plain text with AgentClinic's markers.
    #[default]
    Agentclinic,
    /// Tool calls.
    Tools,
}

impl From<ProtocolChoice> for medsim_agents::Protocol {
    fn from(choice: ProtocolChoice) -> medsim_agents::Protocol {
        match choice {
            ProtocolChoice::Agentclinic => medsim_agents::Protocol::Agentclinic,
            ProtocolChoice::Tools => medsim_agents::Protocol::Tools,
        }
    }
}

fn baseline() -> String {
    "baseline".into()
}

fn no_aids() -> String {
    "none".into()
}

/// The setup of every episode of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Setup {
    /// Role models (flattened: `doctor_model`, `patient_model` …).
    pub roles: RoleModels,
    /// How tests are answered.
    pub measurement: MeasurementMode,
    /// How the doctor acts.
    pub protocol: ProtocolChoice,
    /// AgentClinic's routing, judge parsing and prompt rendering, exactly.
    pub strict_agentclinic: bool,
    /// When case images reach the doctor.
    pub images: ImagePolicy,
    /// Doctor turns allowed.
    pub max_turns: u32,
    /// A doctor bias.
    #[serde(default)]
    pub doctor_bias: Option<String>,
    /// A patient bias.
    #[serde(default)]
    pub patient_bias: Option<String>,
    /// A directory of prompt templates overriding the embedded ones.
    #[serde(default)]
    pub prompts: Option<PathBuf>,
    /// The `--strategy` list as given (`baseline` when none).
    #[serde(default = "baseline")]
    pub strategy: String,
    /// The experience memory file.
    #[serde(default)]
    pub memory: Option<PathBuf>,
    /// The embedder for memory.
    #[serde(default)]
    pub embedder: Option<String>,
    /// The consultation aids as given (`none` when none).
    #[serde(default = "no_aids")]
    pub aids: String,
    /// When the budget runs out without a diagnosis, ask once more for one. Off in the RL
    /// environment and rollouts: the budget then ends the episode with no diagnosis.
    #[serde(default = "yes")]
    pub final_call: bool,
    /// A price table adding to or replacing entries of the built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<PathBuf>,
    /// The most one case may cost (visit and tests), in the table's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// The doctor is shown the price list and what the case has cost so far (cost-aware
    /// prompting).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub show_prices: bool,
}

fn yes() -> bool {
    true
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            roles: RoleModels::default(),
            measurement: MeasurementMode::Grounded,
            protocol: ProtocolChoice::Agentclinic,
            strict_agentclinic: false,
            images: ImagePolicy::OnRequest,
            max_turns: 20,
            doctor_bias: None,
            patient_bias: None,
            prompts: None,
            strategy: baseline(),
            memory: None,
            embedder: None,
            aids: no_aids(),
            final_call: true,
            prices: None,
            budget: None,
            show_prices: false,
        }
    }
}

impl Setup {
    /// The episode settings this setup gives.
    pub fn episode_config(&self) -> Result<EpisodeConfig, String> {
        let mut prices = medsim_core::prices::PriceTable::builtin();
        if let Some(path) = &self.prices {
            let text =
                std::fs::read_to_string(path).map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
            prices = prices.merged(medsim_core::prices::PriceTable::parse(&text, &path.display().to_string())?);
        }
        if let Some(budget) = self.budget
            && budget < prices.visit.price
        {
            return Err(format!(
                "--budget {budget}: below the price of one visit; the least is {} {}",
                prices.visit.price, prices.meta.currency
            ));
        }
        Ok(EpisodeConfig {
            max_turns: self.max_turns,
            routing: if self.strict_agentclinic { Routing::Strict } else { Routing::Tolerant },
            images: self.images,
            aids: Aids::parse(&self.aids)?,
            final_call: self.final_call,
            prices: Some(std::sync::Arc::new(prices)),
            budget: self.budget,
            show_prices: self.show_prices,
        })
    }
}
