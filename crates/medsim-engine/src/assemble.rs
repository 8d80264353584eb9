//! The actors of an episode, assembled from a [`Setup`]: a model seat per role, the doctor with
//! its strategies, the measurement agent, the judge; a person (or an outside policy) may take the
//! doctor's or the patient's seat.

use std::collections::BTreeMap;
use std::sync::Arc;

use medsim_agents::prompts::PromptSet;
use medsim_agents::strategic::{MemoryAccess, StrategicDoctor};
use medsim_agents::strategy::Strategies;
use medsim_agents::{
    DoctorActor, GroundedMeasurementActor, Judge, MeasurementActor, ModelDoctor, ModelMeasurement, ModelPatient,
    ModelSeat, PatientActor, Rendering, measurement_information, patient_facts,
};
use medsim_core::case::Case;
use medsim_core::measure::GroundedMeasurement;
use medsim_core::transcript::RoleName;
use medsim_llm::ModelFactory;
use medsim_llm::pricing::PriceTable;

use crate::manifest::RoleRecord;
use crate::run::RunError;
use crate::setup::{MeasurementMode, Setup};
use crate::{Actors, EpisodeConfig};

/// The doctor's strategies and its access to experience memory, set up once per run.
#[derive(Clone, Default)]
pub struct StrategySetup {
    /// The strategies.
    pub strategies: Strategies,
    /// Memory, when a strategy retrieves from it.
    pub memory: Option<MemoryAccess>,
}

/// Someone outside the engine in one seat: a person at a terminal or in a browser, or a policy
/// being trained.
#[derive(Clone)]
pub enum Outside {
    /// The doctor's seat.
    Doctor(Arc<dyn DoctorActor>),
    /// The patient's seat.
    Patient(Arc<dyn PatientActor>),
}

/// An episode's actors, and what reflection needs after the verdict.
pub struct Built {
    /// The actors.
    pub actors: Actors,
    /// The prompts.
    pub prompts: Arc<PromptSet>,
    /// The doctor's model seat, when a model plays the doctor.
    pub doctor_seat: Option<ModelSeat>,
}

/// Builds actors for any case of a run.
pub struct Assembler {
    /// The setup.
    pub setup: Setup,
    /// Models.
    pub factory: Arc<ModelFactory>,
    /// Prompt templates.
    pub prompts: Arc<PromptSet>,
    /// Prices.
    pub prices: Arc<PriceTable>,
    /// The model of each role (`PROVIDER/MODEL`), resolved by the caller from the setup, the
    /// settings file and the defaults.
    pub models: BTreeMap<RoleName, String>,
    /// Strategies and memory.
    pub strategy: StrategySetup,
    /// The episode settings the setup gives (prices read once, here).
    pub config: EpisodeConfig,
    /// Someone outside in a seat of every episode this assembler builds (a person in the
    /// browser playing a recorded run), unless [`Assembler::actors`] is given another.
    pub outside: Option<Outside>,
}

/// The prompt templates a setup asks for (the embedded ones, or a directory overriding some),
/// with its biases checked. Loaded once per run: parsing the templates is the costliest part of
/// setting up actors.
pub fn load_prompts(setup: &Setup) -> Result<Arc<PromptSet>, RunError> {
    let prompts = match &setup.prompts {
        Some(directory) => PromptSet::with_overrides(directory)?,
        None => PromptSet::embedded(),
    };
    for (role, bias) in [(RoleName::Doctor, &setup.doctor_bias), (RoleName::Patient, &setup.patient_bias)] {
        prompts.bias(role.as_str(), bias.as_deref())?;
    }
    Ok(Arc::new(prompts))
}

impl Assembler {
    /// An assembler for `setup`, loading its prompts.
    pub fn new(
        setup: Setup,
        factory: Arc<ModelFactory>,
        prices: Arc<PriceTable>,
        models: BTreeMap<RoleName, String>,
        strategy: StrategySetup,
    ) -> Result<Assembler, RunError> {
        let prompts = load_prompts(&setup)?;
        let config = setup.episode_config().map_err(RunError::Input)?;
        Ok(Assembler { setup, factory, prompts, prices, models, strategy, config, outside: None })
    }

    /// A seat for a role; `seed` is the episode's sampling seed and repeat.
    pub fn seat(&self, role: RoleName, seed: Option<(u64, u32)>) -> Result<ModelSeat, RunError> {
        let spec = self.models.get(&role).ok_or_else(|| {
            RunError::Input(format!(
                "no model for the {} (this medsim has no embedded model): pass --{}-model",
                role.as_str(),
                role.as_str()
            ))
        })?;
        let model = self.factory.model(spec).map_err(|source| RunError::Model { role, source })?;
        let mut seat = ModelSeat::new(model, role, self.prices.clone());
        if let Some((seed, repeat)) = seed {
            seat.seed = Some(seed);
            seat.sample_index = repeat;
        }
        Ok(seat)
    }

    /// What run.json records of each role: its model and the sampling its seats use.
    pub fn roles_record(&self) -> Result<BTreeMap<String, RoleRecord>, RunError> {
        let mut roles = BTreeMap::new();
        for role in [RoleName::Doctor, RoleName::Patient, RoleName::Measurement, RoleName::Judge] {
            if role == RoleName::Measurement && self.setup.measurement == MeasurementMode::Grounded {
                roles.insert(
                    role.as_str().to_owned(),
                    RoleRecord { model: "grounded".into(), temperature: None, max_tokens: None },
                );
                continue;
            }
            let outside = match (&self.outside, role) {
                (Some(Outside::Doctor(doctor)), RoleName::Doctor) => Some(doctor.describe()),
                (Some(Outside::Patient(_)), RoleName::Patient) => Some("person".to_owned()),
                _ => None,
            };
            if let Some(name) = outside {
                roles.insert(role.as_str().to_owned(), RoleRecord { model: name, temperature: None, max_tokens: None });
                continue;
            }
            if !self.models.contains_key(&role) {
                continue;
            }
            let seat = self.seat(role, None)?;
            roles.insert(
                role.as_str().to_owned(),
                RoleRecord {
                    model: seat.model.name(),
                    temperature: Some(seat.temperature),
                    max_tokens: Some(seat.max_tokens),
                },
            );
        }
        Ok(roles)
    }

    /// The actors for one episode of `case`.
    pub fn actors(&self, case: &Case, seed: Option<(u64, u32)>, outside: Option<Outside>) -> Result<Built, RunError> {
        let strict = self.setup.strict_agentclinic;
        let rendering = if strict { Rendering::AgentClinic } else { Rendering::Readable };
        let outside = outside.or_else(|| self.outside.clone());
        let (doctor, doctor_seat) = match &outside {
            Some(Outside::Doctor(doctor)) => (doctor.clone(), None),
            _ => {
                let (doctor, seat) = self.model_doctor(seed)?;
                (doctor, Some(seat))
            }
        };
        let patient: Arc<dyn PatientActor> = match &outside {
            Some(Outside::Patient(patient)) => patient.clone(),
            _ => Arc::new(ModelPatient {
                seat: self.seat(RoleName::Patient, seed)?,
                prompts: self.prompts.clone(),
                bias: self.setup.patient_bias.clone(),
                facts: patient_facts(case, rendering),
                carer_note: !strict,
            }),
        };
        let measurement: Arc<dyn MeasurementActor> = match self.setup.measurement {
            MeasurementMode::Grounded => {
                Arc::new(GroundedMeasurementActor { grounded: GroundedMeasurement::new(case) })
            }
            MeasurementMode::Model => Arc::new(ModelMeasurement {
                seat: self.seat(RoleName::Measurement, seed)?,
                prompts: self.prompts.clone(),
                information: measurement_information(case, rendering),
            }),
        };
        let judge = Arc::new(Judge {
            seat: Some(self.seat(RoleName::Judge, seed)?),
            prompts: self.prompts.clone(),
            ground_truth: case.diagnosis.clone(),
            aliases: case.diagnosis_aliases.clone(),
            options: case.options.iter().map(|option| (option.text.clone(), option.correct)).collect(),
            strict,
        });
        Ok(Built { actors: Actors { doctor, patient, measurement, judge }, prompts: self.prompts.clone(), doctor_seat })
    }

    fn model_doctor(&self, seed: Option<(u64, u32)>) -> Result<(Arc<dyn DoctorActor>, ModelSeat), RunError> {
        let seat = self.seat(RoleName::Doctor, seed)?;
        let base = ModelDoctor {
            seat: seat.clone(),
            prompts: self.prompts.clone(),
            bias: self.setup.doctor_bias.clone(),
            protocol: self.setup.protocol.into(),
        };
        if self.strategy.strategies.is_baseline() {
            return Ok((Arc::new(base), seat));
        }
        if let Some(settings) = self.strategy.strategies.dxo {
            return Ok((Arc::new(medsim_agents::orchestrator::DxoDoctor::new(base, settings)), seat));
        }
        // Best-of-N's verifier is the judge's model, shown the transcript and a candidate only.
        let verifier = match self.strategy.strategies.best_of {
            Some(_) => Some(self.seat(RoleName::Judge, seed)?),
            None => None,
        };
        let doctor =
            StrategicDoctor::new(base, self.strategy.strategies.clone(), self.strategy.memory.clone(), verifier);
        Ok((Arc::new(doctor), seat))
    }
}
