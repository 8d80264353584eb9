//! The transcript of an episode: typed, timestamped events.
//!
//! Everything later parts need is here — the run log, reports, the web view, post-training
//! exports — so events carry what was said and done, by whom, and what each model call cost.
//! Events marked private (the doctor's reasoning) are never shown to another role.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::action::{Diagnosis, DoctorAction};

/// A role in a consultation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// The doctor.
    Doctor,
    /// The patient.
    Patient,
    /// The measurement agent.
    Measurement,
    /// The judge.
    Judge,
}

impl RoleName {
    /// Every role, in the order they act.
    pub const ALL: [RoleName; 4] = [RoleName::Doctor, RoleName::Patient, RoleName::Measurement, RoleName::Judge];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Doctor => "doctor",
            RoleName::Patient => "patient",
            RoleName::Measurement => "measurement",
            RoleName::Judge => "judge",
        }
    }
}

/// Why an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The doctor gave a diagnosis within the turn budget.
    Diagnosed,
    /// The budget ran out (a final diagnosis was asked for).
    BudgetExhausted,
    /// An actor failed for good.
    Error,
}

/// How a verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictMethod {
    /// Same words as the correct diagnosis (up to case, punctuation, plurals, order).
    Exact,
    /// Same words as one of the case's accepted aliases.
    Alias,
    /// The judge's shortcut decided without a model: a name of the same disease (correct), or a
    /// hedge, a conflicting qualifier or a dropped letter or number (incorrect).
    Shortcut,
    /// The judge's rule decided without a model: a more specific form of the truth.
    Rule,
    /// The judge model decided.
    Judge,
    /// The judge mapped the diagnosis to one of the case's answer options.
    Options,
    /// No diagnosis was given.
    NoDiagnosis,
}

/// The judge's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// Whether the diagnosis is correct.
    pub correct: bool,
    /// The diagnosis judged.
    pub diagnosis: String,
    /// The correct diagnosis.
    pub ground_truth: String,
    /// How it was decided.
    pub method: VerdictMethod,
    /// The judge model's raw reply, when one was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Why.
    pub reason: String,
}

/// One result returned by the measurement agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResult {
    /// The test as requested.
    pub requested: String,
    /// Path of the case result that answered it (`tests.Complete_Blood_Count`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// The result text given to the doctor.
    pub result: String,
    /// True when the case had no such result and a normal reading was reported.
    #[serde(default)]
    pub assumed_normal: bool,
}

/// A proposed test the orchestrator's steward, checklist or budget took out or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Removal {
    /// The test as proposed.
    pub test: String,
    /// `steward`, `checklist`, `budget` or `limit`.
    pub by: String,
    /// Why.
    pub reason: String,
    /// The cheaper test put in its place, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// Token counts of a model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tokens {
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The episode began.
    EpisodeStarted {
        /// The case.
        case_id: String,
        /// The doctor's opening brief.
        objective: String,
    },
    /// Something a role said (the doctor's full text, the patient's answer).
    Utterance {
        /// Who.
        role: RoleName,
        /// What.
        text: String,
        /// Doctor turn number (1-based).
        turn: u32,
    },
    /// How the doctor's text was read.
    DoctorAction {
        /// Turn number.
        turn: u32,
        /// The action.
        action: DoctorAction,
    },
    /// Tests were ordered.
    TestOrder {
        /// Turn number.
        turn: u32,
        /// Test names as requested.
        tests: Vec<String>,
    },
    /// The measurement agent answered.
    TestResults {
        /// Turn number.
        turn: u32,
        /// One entry per test.
        results: Vec<TestResult>,
        /// The text given to the doctor.
        text: String,
    },
    /// A test order above what is left of the case's budget was refused (budget mode); the
    /// doctor was told the price and what is left, and the turn counted.
    OrderRefused {
        /// Turn number.
        turn: u32,
        /// The tests ordered.
        tests: Vec<String>,
        /// What the order would have cost.
        price: f64,
        /// What was left of the budget.
        remaining: f64,
    },
    /// The doctor repeated an earlier action (the same tests, or the same question); it was
    /// answered from what the doctor already had, with a nudge, and counted as a turn.
    RepeatedAction {
        /// Turn number.
        turn: u32,
        /// `tests` or `question`.
        repeated: String,
        /// The turn the action was first taken.
        first_turn: u32,
    },
    /// The doctor asked for images.
    ImageRequest {
        /// Turn number.
        turn: u32,
        /// Images sent with the next turn.
        sent: usize,
        /// Why none were sent, if so.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Private reasoning of the doctor (never shown to another role).
    Reasoning {
        /// Turn number.
        turn: u32,
        /// The reasoning.
        text: String,
    },
    /// Entries of experience memory placed in the doctor's prompt as worked examples.
    Retrieval {
        /// Turn number.
        turn: u32,
        /// What was retrieved, most similar first.
        entries: Vec<Retrieved>,
    },
    /// One panel doctor's opinion (a ranked differential).
    Opinion {
        /// Turn number.
        turn: u32,
        /// Member index, from 0.
        member: u32,
        /// The member's role on the panel (generalist, specialist, challenger, steward).
        stance: String,
        /// Discussion round, from 1.
        round: u32,
        /// The differential as read from the text, most likely first.
        differential: Vec<crate::action::Differential>,
        /// What the member wrote.
        text: String,
    },
    /// A vote over candidate diagnoses (panel, self-consistency, best-of-N), computed in code.
    Vote {
        /// Turn number.
        turn: u32,
        /// `panel`, `self-consistency` or `best-of`.
        method: String,
        /// The doctor's own diagnosis before the vote.
        lead: String,
        /// Candidates after merging synonyms, in order of the decision.
        tallies: Vec<Tally>,
        /// The diagnosis chosen.
        chosen: String,
        /// How it was chosen (majority, tie broken by confidence, …).
        reason: String,
    },
    /// The orchestrator doctor's decision for a turn (strategy `dxo`), computed in code from what
    /// its hypothesis keeper, test chooser, challenger and steward said (their `opinion`
    /// events come first) and from the checklist.
    Deliberation {
        /// Turn number.
        turn: u32,
        /// `ask`, `order`, `diagnose`, or `fallback` (the team gave nothing usable and the plain
        /// doctor acted).
        decision: String,
        /// Why, in words.
        reason: String,
        /// The leading hypothesis.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leading: Option<crate::action::Differential>,
        /// Tests the chooser and the challenger proposed.
        #[serde(default)]
        proposed: Vec<String>,
        /// Tests taken out or changed, by whom and why.
        #[serde(default)]
        removed: Vec<Removal>,
        /// Tests ordered.
        #[serde(default)]
        ordered: Vec<String>,
    },
    /// Learning mode: after a wrong verdict, the doctor's lesson and retried diagnosis.
    Reflection {
        /// The lesson written with the correct diagnosis in view.
        lesson: String,
        /// The diagnosis retried from the same transcript with the lesson (no answer in view).
        retry: String,
        /// Whether the retry was judged correct.
        retry_correct: bool,
        /// Whether the lesson was stored (only when the retry was correct).
        stored: bool,
    },
    /// Learning mode: an entry was written to experience memory after the verdict.
    MemoryWrite {
        /// `record` or `experience`.
        buffer: String,
        /// The entry's id in the memory file.
        entry: i64,
    },
    /// The doctor's diagnosis.
    Diagnosis {
        /// Turn number.
        turn: u32,
        /// The diagnosis.
        diagnosis: Diagnosis,
    },
    /// The judge's verdict.
    Verdict {
        /// The verdict.
        verdict: Verdict,
    },
    /// A role's words contained the correct diagnosis.
    Leak {
        /// Who said it.
        role: RoleName,
        /// The matching words.
        matched: String,
        /// Turn number.
        turn: u32,
    },
    /// A model call.
    ModelCall {
        /// The role that made it.
        role: RoleName,
        /// `provider/model`.
        model: String,
        /// Tokens.
        tokens: Tokens,
        /// Wall time in milliseconds.
        latency_ms: f64,
        /// Attempts (retries + 1; 0 for a cache hit).
        attempts: u32,
        /// Served from the replay cache.
        cache_hit: bool,
        /// Cost in USD, when the model has a price.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        /// The prompt template used, `name@version`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
    /// An actor failed.
    Error {
        /// Which role.
        role: RoleName,
        /// What happened.
        message: String,
    },
    /// The episode ended.
    EpisodeEnded {
        /// Why.
        stop_reason: StopReason,
        /// Doctor turns used.
        turns: u32,
    },
}

/// An entry of experience memory retrieved for the doctor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Retrieved {
    /// The entry's id in the memory file.
    pub id: i64,
    /// `record` (a solved case) or `experience` (a lesson).
    pub buffer: String,
    /// The training case it came from.
    pub case_id: String,
    /// Cosine similarity to the query.
    pub similarity: f32,
}

/// One candidate of a vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tally {
    /// The diagnosis (the first wording seen among its synonyms).
    pub diagnosis: String,
    /// Votes.
    pub votes: u32,
    /// Summed stated confidence of its voters.
    pub confidence: f64,
    /// Verifier score (best-of-N), 0–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// A timestamped event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Milliseconds since the episode started.
    pub t_ms: f64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}
