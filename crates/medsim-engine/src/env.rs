//! The clinic as a reinforcement-learning environment: an outside policy plays the doctor, one
//! step per action, against the engine's own episode loop (patient, measurement and judge as in
//! any run). The reward is the judge's verdict on the primary diagnosis, minus optional costs.
//!
//! Reward hacking is closed off here, not left to trainers: only the primary diagnosis is
//! judged; a hedge or list in it scores 0; an over-long one is cut; the turn budget ends the
//! episode with reward 0 (no extra call after it); anything the patient or the measurement agent
//! says that names the diagnosis is withheld from the observation and flagged; and nothing in an
//! observation, its metadata or an error carries the diagnosis before the episode is done.

use std::sync::Arc;

use medsim_agents::{DoctorView, PolicySeat, Reply, action_from_tool};
use medsim_core::case::Case;
use medsim_core::judging::is_hedge;
use medsim_core::matching;
use medsim_core::transcript::{Event, EventKind};
use medsim_llm::ToolCall;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::assemble::{Assembler, Outside};
use crate::{Episode, case_images, run_episode};

/// The doctor's tools, by name.
pub const TOOLS: [&str; 4] = ["ask", "order_tests", "request_images", "diagnose"];

/// Reward terms and limits.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EnvOptions {
    /// Subtracted from the reward per doctor turn used.
    pub turn_cost: f64,
    /// Subtracted from the reward per test ordered.
    pub test_cost: f64,
    /// Subtracted from the reward per unit of the episode's care cost (the visit and the tests,
    /// priced by the run's price table): 0.0001 makes a $1,000 case cost 0.1.
    #[serde(default)]
    pub price_weight: f64,
    /// A primary diagnosis longer than this (characters) is cut, and flagged.
    pub max_diagnosis_chars: usize,
}

impl Default for EnvOptions {
    fn default() -> EnvOptions {
        EnvOptions { turn_cost: 0.0, test_cost: 0.0, price_weight: 0.0, max_diagnosis_chars: 200 }
    }
}

/// An error a client can act on; `code` is stable, `message` says what was expected. It never
/// names the case's diagnosis.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct EnvError {
    /// `invalid_action`, `unknown_tool`, `not_reset`, `episode_done`, `unknown_case`,
    /// `case_not_in_split`, `no_session`, `too_many_sessions`, `invalid_request`, `internal`.
    pub code: &'static str,
    /// What went wrong and what is expected.
    pub message: String,
}

impl EnvError {
    /// An error with a code.
    pub fn new(code: &'static str, message: impl Into<String>) -> EnvError {
        EnvError { code, message: message.into() }
    }
}

/// An action: one of the doctor's tools and its arguments, as in a tool call. The arguments may
/// also sit beside `tool` (`{"tool": "ask", "question": "…"}`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    /// `ask`, `order_tests`, `request_images` or `diagnose`.
    pub tool: String,
    /// `ask`: `{"question"}`; `order_tests`: `{"tests": [..]}`; `request_images`: `{}`;
    /// `diagnose`: `{"primary", "differential": [{"diagnosis", "probability"}]}`.
    #[serde(default)]
    pub arguments: Value,
}

/// What the policy sees after a step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The case's opening brief.
    pub presentation: String,
    /// What came back from the last action: the patient's answer, test results, a note.
    pub text: String,
    /// The turn the next action takes (from 1).
    pub turn: u32,
    /// The turn budget.
    pub max_turns: u32,
    /// Turns left, the next one included.
    pub turns_left: u32,
    /// Images shown with this observation, as URLs or `data:` URLs.
    pub images: Vec<String>,
    /// Whether images can be requested in this consultation.
    pub images_available: bool,
    /// The episode is over.
    pub done: bool,
}

/// One step's result.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepResult {
    /// What the policy sees.
    pub observation: Observation,
    /// 0 until the episode is done; then the verdict minus costs.
    pub reward: f64,
    /// The episode is over.
    pub done: bool,
    /// `flags` (what the defences noticed this step); when done also the reward's breakdown,
    /// the verdict and the judge's reason.
    pub metadata: Value,
}

/// The environment's state.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EnvState {
    /// The episode id given at reset (or made up).
    pub episode_id: String,
    /// Steps taken.
    pub step_count: u32,
    /// The case.
    pub case_id: String,
    /// The episode is over.
    pub done: bool,
}

/// One episode in progress, played by an outside doctor.
pub struct Session {
    case: Case,
    forms: Vec<Vec<String>>,
    options: EnvOptions,
    turns: mpsc::Receiver<(DoctorView, oneshot::Sender<Reply>)>,
    events: mpsc::UnboundedReceiver<Event>,
    pending: Option<oneshot::Sender<Reply>>,
    episode: Option<tokio::task::JoinHandle<Episode>>,
    presentation: String,
    state: EnvState,
    /// Flags raised by the action being carried out (hedge, cut), reported with its result.
    action_flags: Vec<&'static str>,
}

impl Session {
    /// Starts an episode of `case` and returns the first observation.
    pub async fn start(
        case: Case,
        base_dir: Option<std::path::PathBuf>,
        assembler: &Assembler,
        options: EnvOptions,
        episode_id: String,
        seed: u64,
    ) -> Result<(Session, StepResult), EnvError> {
        let mut config = assembler.config.clone();
        // The budget ends the episode: no extra call asking for a diagnosis.
        config.final_call = false;
        let (seat, turns) = PolicySeat::new("policy");
        let built = assembler
            .actors(&case, Some((seed, 0)), Some(Outside::Doctor(Arc::new(seat))))
            .map_err(|error| EnvError::new("internal", error.to_string()))?;
        let (sender, events) = mpsc::unbounded_channel();
        let images = case_images(&case, base_dir.as_deref());
        let task_case = case.clone();
        let episode =
            tokio::spawn(async move { run_episode(&task_case, &images, &built.actors, &config, Some(sender)).await });
        let mut forms = matching::variants(&case.diagnosis);
        for alias in &case.diagnosis_aliases {
            forms.extend(matching::variants(alias));
        }
        let mut session = Session {
            state: EnvState { episode_id, step_count: 0, case_id: case.id.clone(), done: false },
            presentation: String::new(),
            case,
            forms,
            options,
            turns,
            events,
            pending: None,
            episode: Some(episode),
            action_flags: Vec::new(),
        };
        let first = session.advance().await?;
        Ok((session, first))
    }

    /// The state.
    pub fn state(&self) -> &EnvState {
        &self.state
    }

    /// Carries out one action.
    pub async fn step(&mut self, action: &Value) -> Result<StepResult, EnvError> {
        if self.state.done {
            return Err(EnvError::new("episode_done", "the episode is done: reset to start another"));
        }
        let reply = self.parse(action)?;
        let pending = self.pending.take().ok_or_else(|| EnvError::new("internal", "no turn is waiting"))?;
        self.state.step_count += 1;
        // The consultation ended on its own (an actor failed): what it left is the result.
        let _ = pending.send(reply);
        self.advance().await
    }

    /// Validates an action and turns it into the doctor's reply.
    fn parse(&mut self, value: &Value) -> Result<Reply, EnvError> {
        let invalid = |field: &str, expected: &str| {
            EnvError::new("invalid_action", format!("action.{field}: expected {expected}"))
        };
        let object = value.as_object().ok_or_else(|| invalid("(top)", "an object {\"tool\", \"arguments\"}"))?;
        let tool = object.get("tool").and_then(Value::as_str).ok_or_else(|| invalid("tool", "a string"))?;
        if !TOOLS.contains(&tool) {
            return Err(EnvError::new(
                "unknown_tool",
                format!("action.tool: {tool:?} is not a tool: expected one of {}", TOOLS.join(", ")),
            ));
        }
        let mut arguments = match object.get("arguments") {
            Some(Value::Object(arguments)) => Value::Object(arguments.clone()),
            Some(Value::Null) | None => Value::Object(
                object.iter().filter(|(key, _)| *key != "tool").map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            Some(_) => return Err(invalid("arguments", "an object")),
        };
        self.action_flags.clear();
        match tool {
            "ask" => match arguments.get("question").and_then(Value::as_str) {
                Some(question) if !question.trim().is_empty() => {}
                _ => return Err(invalid("arguments.question", "a non-empty string")),
            },
            "order_tests" => {
                let tests = arguments.get("tests").and_then(Value::as_array).ok_or_else(|| {
                    invalid("arguments.tests", "a list of test names, e.g. [\"Complete blood count\"]")
                })?;
                if tests.is_empty() || tests.iter().any(|test| test.as_str().is_none_or(|test| test.trim().is_empty()))
                {
                    return Err(invalid("arguments.tests", "a non-empty list of non-empty strings"));
                }
            }
            "diagnose" => {
                let primary = match arguments.get("primary").and_then(Value::as_str) {
                    Some(primary) if !primary.trim().is_empty() => primary.trim().to_owned(),
                    _ => return Err(invalid("arguments.primary", "a non-empty string: one diagnosis")),
                };
                if let Some(differential) = arguments.get("differential")
                    && !differential.is_array()
                {
                    return Err(invalid("arguments.differential", "a list of {\"diagnosis\", \"probability\"}"));
                }
                let mut cut: String = primary.chars().take(self.options.max_diagnosis_chars).collect();
                if cut.len() < primary.len() {
                    self.action_flags.push("diagnosis_cut");
                    cut = cut.trim().to_owned();
                }
                if is_hedge(&cut) {
                    self.action_flags.push("hedged_diagnosis");
                }
                arguments["primary"] = Value::String(cut);
            }
            _ => {}
        }
        let call = ToolCall { id: format!("step-{}", self.state.step_count + 1), name: tool.to_owned(), arguments };
        let (action, text) = action_from_tool(&call).ok_or_else(|| invalid("arguments", "the tool's arguments"))?;
        Ok(Reply { text, calls: Vec::new(), action: Some(action) })
    }

    /// Waits for the doctor's next turn, or the end of the episode.
    async fn advance(&mut self) -> Result<StepResult, EnvError> {
        match self.turns.recv().await {
            Some((view, reply)) => {
                self.pending = Some(reply);
                let mut flags = self.drain_events();
                let (text, withheld) = self.withhold(&view.response);
                if withheld && !flags.contains(&"patient_leak") && !flags.contains(&"measurement_leak") {
                    flags.push("diagnosis_withheld");
                }
                if self.presentation.is_empty() {
                    self.presentation = self.withhold(&view.presentation).0;
                }
                let images = view.images.iter().filter_map(|image| image.to_url().ok()).collect();
                let observation = Observation {
                    presentation: self.presentation.clone(),
                    text,
                    turn: view.turn,
                    max_turns: view.max_turns,
                    turns_left: view.max_turns.saturating_sub(view.turn) + 1,
                    images,
                    images_available: view.images_available,
                    done: false,
                };
                Ok(StepResult { observation, reward: 0.0, done: false, metadata: json!({ "flags": flags }) })
            }
            None => self.finish().await,
        }
    }

    /// The episode ended: the reward and what it was made of.
    async fn finish(&mut self) -> Result<StepResult, EnvError> {
        let episode = match self.episode.take() {
            Some(task) => {
                task.await.map_err(|error| EnvError::new("internal", format!("the episode failed: {error}")))?
            }
            None => return Err(EnvError::new("episode_done", "the episode is done: reset to start another")),
        };
        let flags = self.drain_events();
        self.state.done = true;
        let verdict = episode.verdict.as_ref();
        let reward = reward(&episode, &self.options);
        let metadata = json!({
            "flags": flags,
            "breakdown": { "verdict": if reward.correct { 1.0 } else { 0.0 }, "turn_cost": -reward.turn_cost, "test_cost": -reward.test_cost, "care_cost": -reward.care_cost },
            "verdict": verdict.map(|verdict| json!({ "correct": verdict.correct, "method": verdict.method, "diagnosis": verdict.diagnosis, "reason": verdict.reason })),
            "correct_diagnosis": self.case.diagnosis,
            "stop_reason": episode.stop_reason,
            "turns": episode.turns,
            "tests_ordered": episode.tests_ordered,
            "error": episode.error,
        });
        let observation = Observation {
            presentation: self.presentation.clone(),
            turn: episode.turns,
            done: true,
            ..Observation::default()
        };
        Ok(StepResult { observation, reward: reward.value, done: true, metadata })
    }

    /// Flags from the events since the last step.
    fn drain_events(&mut self) -> Vec<&'static str> {
        let mut flags = std::mem::take(&mut self.action_flags);
        let mut add = |flag: &'static str| {
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        };
        while let Ok(event) = self.events.try_recv() {
            match &event.kind {
                EventKind::Leak { .. } => add("patient_leak"),
                EventKind::TestResults { text, .. } if matching::find(&self.forms, text).is_some() => {
                    add("measurement_leak")
                }
                EventKind::RepeatedAction { .. } => add("repeated_action"),
                EventKind::Error { .. } => add("error"),
                _ => {}
            }
        }
        flags
    }

    /// The text with every mention of the diagnosis withheld, and whether there was one.
    fn withhold(&self, text: &str) -> (String, bool) {
        let mut text = text.to_owned();
        let mut withheld = false;
        while let Some((range, _)) = matching::find_span(&self.forms, &text) {
            text.replace_range(range, "[withheld]");
            withheld = true;
        }
        (text, withheld)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A dropped client frees its session: the episode stops with it.
        if let Some(task) = self.episode.take() {
            task.abort();
        }
    }
}

/// A finished episode's reward and what it is made of.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reward {
    /// The reward: 1 for an accepted primary diagnosis, else 0, minus the costs.
    pub value: f64,
    /// The judge accepted the primary diagnosis and it was no hedge.
    pub correct: bool,
    /// The primary diagnosis hedged or listed (scored 0 whatever the judge said).
    pub hedged: bool,
    /// Subtracted for turns.
    pub turn_cost: f64,
    /// Subtracted for tests.
    pub test_cost: f64,
    /// Subtracted for the care cost (`price_weight` × the episode's care cost).
    pub care_cost: f64,
}

/// The environment's reward for a finished episode: only the last primary diagnosis counts, and
/// a hedge or list in it scores 0.
pub fn reward(episode: &Episode, options: &EnvOptions) -> Reward {
    let primary = episode.events.iter().rev().find_map(|event| match &event.kind {
        EventKind::Diagnosis { diagnosis, .. } => Some(diagnosis.primary.as_str()),
        _ => None,
    });
    let hedged = primary.is_some_and(is_hedge);
    let correct = episode.verdict.as_ref().is_some_and(|verdict| verdict.correct) && !hedged;
    let turn_cost = options.turn_cost * f64::from(episode.turns);
    let test_cost = options.test_cost * episode.tests_ordered as f64;
    let care_cost = options.price_weight * episode.care_cost;
    Reward {
        value: if correct { 1.0 } else { 0.0 } - turn_cost - test_cost - care_cost,
        correct,
        hedged,
        turn_cost,
        test_cost,
        care_cost,
    }
}

/// What `rollouts.jsonl` sums up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RolloutSummary {
    /// Episodes.
    pub episodes: usize,
    /// Cases (groups).
    pub groups: usize,
    /// Mean reward.
    pub mean_reward: f64,
    /// Groups whose rewards differ (the only ones that carry a learning signal in GRPO).
    pub groups_with_signal: usize,
}

/// Writes `rollouts.jsonl` beside a run's log: each episode's reward and its advantage within
/// its group (the samples of one case): `(reward − mean) / (standard deviation + 1e-6)`, 0 when
/// the group's rewards are all equal. Episodes that ended in an error are left out.
pub fn write_rollouts(
    directory: &std::path::Path,
    options: &EnvOptions,
) -> Result<RolloutSummary, crate::run::RunError> {
    use crate::runlog::{Outcome, RunDir};
    let mut groups: std::collections::BTreeMap<String, Vec<(u32, Reward, u32, usize)>> = Default::default();
    RunDir::new(directory).visit_episodes(|record| {
        if record.outcome != Outcome::Error {
            let reward = reward(&record.episode, options);
            let entry = (record.repeat, reward, record.episode.turns, record.episode.tests_ordered);
            groups.entry(record.case_id.clone()).or_default().push(entry);
        }
    })?;
    let mut text = String::new();
    let mut summary = RolloutSummary { groups: groups.len(), ..RolloutSummary::default() };
    for (case_id, samples) in &groups {
        let n = samples.len() as f64;
        let mean = samples.iter().map(|sample| sample.1.value).sum::<f64>() / n;
        let sd = (samples.iter().map(|sample| (sample.1.value - mean).powi(2)).sum::<f64>() / n).sqrt();
        summary.groups_with_signal += usize::from(sd > 1e-12);
        for (repeat, reward, turns, tests) in samples {
            let advantage = if sd > 1e-12 { (reward.value - mean) / (sd + 1e-6) } else { 0.0 };
            summary.episodes += 1;
            summary.mean_reward += reward.value;
            let row = json!({"case_id": case_id, "repeat": repeat, "reward": reward.value, "advantage": advantage, "group_mean": mean, "group_size": samples.len(), "correct": reward.correct, "hedged": reward.hedged, "turns": turns, "tests_ordered": tests});
            text.push_str(&row.to_string());
            text.push('\n');
        }
    }
    summary.mean_reward /= summary.episodes.max(1) as f64;
    let path = directory.join("rollouts.jsonl");
    std::fs::write(&path, text)
        .map_err(|source| crate::run::RunError::Io { path: path.display().to_string(), source })?;
    Ok(summary)
}

/// JSON Schemas of the action, the observation and the state.
pub fn schemas() -> Value {
    json!({
        "action": schemars::schema_for!(Action),
        "observation": schemars::schema_for!(Observation),
        "state": schemars::schema_for!(EnvState),
    })
}
