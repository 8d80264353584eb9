//! medsim-engine: one consultation, from the doctor's first turn to the verdict.
//!
//! The doctor acts each turn. A question goes to the patient; test orders go to the measurement
//! agent; an image request attaches the case images to the next turn (or says why it cannot);
//! a diagnosis goes to the judge. The last turn tells the doctor it is the last; when the budget
//! runs out, one final call asks for the diagnosis. Every step becomes a transcript event, sent
//! live to an optional channel (web view, RL environment) and kept in the returned [`Episode`].
//!
//! Two routings: medsim's (tolerant parsing; a question beside a test order still reaches the
//! patient; a final diagnosis call after the budget) and AgentClinic's exactly
//! ([`Routing::Strict`]: substring markers, a test request takes the patient's turn, no final
//! call).

pub mod assemble;
pub mod bench;
pub mod env;
mod episode;
pub mod export;
pub mod learning;
pub mod manifest;
pub mod run;
pub mod runlog;
pub mod setup;
pub mod summary;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use medsim_agents::{DoctorActor, JudgeActor, MeasurementActor, PatientActor};
use medsim_core::case::Case;
use medsim_core::transcript::{Event, EventKind, StopReason, Tokens, Verdict};
use medsim_llm::types::ImageSource;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// How the doctor's text is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// medsim's tolerant routing.
    Tolerant,
    /// AgentClinic's routing, exactly.
    Strict,
}

/// When case images reach the doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImagePolicy {
    /// With every turn.
    Always,
    /// After the doctor writes REQUEST IMAGES.
    OnRequest,
    /// Never.
    Never,
}

/// Settings of one episode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpisodeConfig {
    /// Doctor turns allowed.
    pub max_turns: u32,
    /// Routing.
    pub routing: Routing,
    /// Images.
    pub images: ImagePolicy,
    /// Help for doctors that loop (small models); none in AgentClinic's own consultation.
    #[serde(default)]
    pub aids: Aids,
    /// When the budget runs out without a diagnosis, ask once more for one (tolerant routing).
    /// An RL environment turns it off: the budget then ends the episode with no diagnosis.
    #[serde(default = "yes")]
    pub final_call: bool,
    /// Prices of the visit and of tests (every ordered test is priced when set).
    #[serde(skip)]
    pub prices: Option<std::sync::Arc<medsim_core::prices::PriceTable>>,
    /// The most a case may cost (visit and tests): orders above what is left are refused.
    #[serde(default)]
    pub budget: Option<f64>,
    /// The doctor's prompt carries the price list and what the case has cost so far.
    #[serde(default)]
    pub show_prices: bool,
}

fn yes() -> bool {
    true
}

impl Default for EpisodeConfig {
    fn default() -> EpisodeConfig {
        EpisodeConfig {
            max_turns: 20,
            routing: Routing::Tolerant,
            images: ImagePolicy::OnRequest,
            aids: Aids::default(),
            final_call: true,
            prices: None,
            budget: None,
            show_prices: false,
        }
    }
}

/// Consultation aids: what the engine does for a doctor that repeats itself or loses track.
/// Each can be switched on alone; run.json records them, so runs stay comparable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aids {
    /// An action identical to an earlier one (the same tests, the same question) is answered
    /// from what the doctor already has, with a nudge, instead of being carried out again.
    #[serde(default)]
    pub repeat_guard: bool,
    /// The doctor's prompt carries a compact running summary of what was asked and found.
    #[serde(default)]
    pub notes: bool,
    /// The first turn invites a question to the patient.
    #[serde(default)]
    pub first_question: bool,
    /// After a repeated action (answered by the repeat guard or, without it, carried out again)
    /// the doctor's next call samples hotter, with another seed.
    #[serde(default)]
    pub resample: bool,
}

impl Aids {
    /// Every aid.
    pub fn all() -> Aids {
        Aids { repeat_guard: true, notes: true, first_question: true, resample: true }
    }

    /// Parses `none`, `all`, or a comma-separated list of `repeat-guard`, `notes`,
    /// `first-question`, `resample`.
    pub fn parse(text: &str) -> Result<Aids, String> {
        let mut aids = Aids::default();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            match item {
                "none" => {}
                "all" => aids = Aids::all(),
                "repeat-guard" => aids.repeat_guard = true,
                "notes" => aids.notes = true,
                "first-question" => aids.first_question = true,
                "resample" => aids.resample = true,
                other => {
                    return Err(format!(
                        "unknown aid {other:?}: expected none, all, repeat-guard, notes, first-question or resample"
                    ));
                }
            }
        }
        Ok(aids)
    }
}

/// The running summary a doctor's prompt carries with the notes aid, one line per finding.
fn note_line(kind: &str, asked: &str, found: &str) -> String {
    let short = |text: &str, limit: usize| -> String {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > limit { format!("{}…", flat.chars().take(limit).collect::<String>()) } else { flat }
    };
    format!("- {kind} {}: {}\n", short(asked, 80), short(found, 160))
}

/// Who plays each role.
#[derive(Clone)]
pub struct Actors {
    /// Doctor.
    pub doctor: Arc<dyn DoctorActor>,
    /// Patient.
    pub patient: Arc<dyn PatientActor>,
    /// Measurement.
    pub measurement: Arc<dyn MeasurementActor>,
    /// Judge.
    pub judge: Arc<dyn JudgeActor>,
}

/// A finished episode.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Episode {
    /// The case.
    pub case_id: String,
    /// Why it ended.
    pub stop_reason: StopReason,
    /// The verdict (absent only when the episode failed before one).
    pub verdict: Option<Verdict>,
    /// Doctor turns used (the final diagnosis call not counted).
    pub turns: u32,
    /// Tests ordered.
    pub tests_ordered: usize,
    /// Tokens over all model calls.
    pub tokens: Tokens,
    /// Cost over all priced calls, USD.
    pub cost_usd: f64,
    /// Wall time, milliseconds.
    pub wall_ms: f64,
    /// Patient utterances that named the diagnosis.
    pub patient_leaks: usize,
    /// The error that ended it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every test ordered, priced (when the run prices tests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priced: Vec<medsim_core::prices::PricedTest>,
    /// What the case cost: the visit and the tests (0 when the run does not price).
    #[serde(default)]
    pub care_cost: f64,
    /// Everything that happened.
    pub events: Vec<Event>,
}

impl Episode {
    /// Adds events after the episode ended (learning: reflection, memory writes), counting
    /// their model calls' tokens and cost.
    pub fn append(&mut self, kinds: Vec<EventKind>) {
        let t_ms = self.wall_ms;
        for kind in kinds {
            if let EventKind::ModelCall { tokens, cost_usd, .. } = &kind {
                self.tokens.prompt += tokens.prompt;
                self.tokens.completion += tokens.completion;
                self.cost_usd += cost_usd.unwrap_or(0.0);
            }
            self.events.push(Event { t_ms, kind });
        }
    }
}

/// The images of a case, ready to send: URLs as they are, local files resolved against the
/// dataset's directory, built-in images inline.
pub fn case_images(case: &Case, base_dir: Option<&Path>) -> Vec<ImageSource> {
    let mut images = Vec::new();
    for image in &case.images {
        if let Some(url) = &image.url {
            images.push(ImageSource::Url(url.clone()));
        } else if let Some(path) = &image.path {
            if case.source.dataset == medsim_core::builtin::BUILTIN
                && let Some(bytes) = medsim_core::builtin::builtin_image(path)
            {
                images.push(ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: base64::engine::general_purpose::STANDARD.encode(bytes),
                });
                continue;
            }
            let resolved = base_dir.map(|base| base.join(path)).unwrap_or_else(|| path.into());
            images.push(ImageSource::File(resolved));
        }
    }
    images
}

/// Runs one episode. It never panics on an actor's failure: the episode ends with stop reason
/// `error` and the cause.
pub async fn run_episode(
    case: &Case,
    images: &[ImageSource],
    actors: &Actors,
    config: &EpisodeConfig,
    live: Option<mpsc::UnboundedSender<Event>>,
) -> Episode {
    episode::Consultation::new(case, images, actors, config, live).run().await
}
