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

pub mod runlog;
pub mod summary;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use medsim_agents::{
    DoctorActor, DoctorView, JudgeActor, MeasurementActor, MeasurementView, PatientActor, PatientView,
};
use medsim_core::action::{self, DoctorAction};
use medsim_core::case::Case;
use medsim_core::matching;
use medsim_core::transcript::{Event, EventKind, RoleName, StopReason, Tokens, Verdict, VerdictMethod};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Default for EpisodeConfig {
    fn default() -> EpisodeConfig {
        EpisodeConfig {
            max_turns: 20,
            routing: Routing::Tolerant,
            images: ImagePolicy::OnRequest,
            aids: Aids::default(),
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
    /// After a repeated action the doctor's next call samples hotter, with another seed.
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

struct Recorder {
    started: Instant,
    events: Vec<Event>,
    live: Option<mpsc::UnboundedSender<Event>>,
}

impl Recorder {
    fn push(&mut self, kind: EventKind) {
        let event = Event { t_ms: self.started.elapsed().as_secs_f64() * 1000.0, kind };
        if let Some(live) = &self.live {
            let _ = live.send(event.clone());
        }
        self.events.push(event);
    }

    fn extend(&mut self, kinds: Vec<EventKind>) {
        for kind in kinds {
            self.push(kind);
        }
    }
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
    let mut recorder = Recorder { started: Instant::now(), events: Vec::new(), live };
    let presentation = match (config.routing, &case.question) {
        // AgentClinic gives NEJM doctors only this constant; the question itself is never shown.
        (Routing::Strict, Some(_)) => "What is the most likely diagnosis?".to_owned(),
        _ => case.objective.clone(),
    };
    recorder.push(EventKind::EpisodeStarted { case_id: case.id.clone(), objective: presentation.clone() });
    let mut forms = matching::variants(&case.diagnosis);
    for alias in &case.diagnosis_aliases {
        forms.extend(matching::variants(alias));
    }
    let images_possible = config.images != ImagePolicy::Never;
    let mut attach = config.images == ImagePolicy::Always;
    let (mut doctor_history, mut patient_history, mut measurement_history) =
        (String::new(), String::new(), String::new());
    let mut response = String::new();
    let mut verdict = None;
    let mut stop = StopReason::BudgetExhausted;
    let mut error = None;
    let mut turns = 0;
    let mut tests_ordered = 0;
    // The aids' memory: what was ordered and asked, when, and what came back.
    let mut notes = String::new();
    let mut ordered: Vec<(Vec<String>, u32, String)> = Vec::new();
    let mut asked: Vec<(String, u32, String)> = Vec::new();
    let mut repeated_last_turn = false;

    'turns: for turn in 1..=config.max_turns {
        turns = turn;
        let view = DoctorView {
            presentation: presentation.clone(),
            turn,
            max_turns: config.max_turns,
            history: doctor_history.clone(),
            response: response.clone(),
            final_turn: turn == config.max_turns,
            must_diagnose: false,
            images: if attach && actors.doctor.sees_images() { images.to_vec() } else { Vec::new() },
            images_available: images_possible,
            notes: if config.aids.notes { notes.clone() } else { String::new() },
            invite_question: config.aids.first_question && turn == 1,
            resample: config.aids.resample && repeated_last_turn,
        };
        repeated_last_turn = false;
        let reply = match actors.doctor.act(&view).await {
            Ok(reply) => reply,
            Err(failure) => {
                recorder.push(EventKind::Error { role: RoleName::Doctor, message: failure.to_string() });
                error = Some(failure.to_string());
                stop = StopReason::Error;
                break;
            }
        };
        recorder.extend(reply.calls);
        recorder.push(EventKind::Utterance { role: RoleName::Doctor, text: reply.text.clone(), turn });
        doctor_history.push_str(&format!("{response}\n\n{}\n\n", reply.text));
        let action = match (&reply.action, config.routing) {
            (Some(structured), _) => structured.clone(),
            (None, Routing::Tolerant) => action::parse_text(&reply.text),
            (None, Routing::Strict) => action::parse_strict(&reply.text),
        };
        recorder.push(EventKind::DoctorAction { turn, action: action.clone() });
        if let Some(diagnosis) = &action.diagnosis {
            recorder.push(EventKind::Diagnosis { turn, diagnosis: diagnosis.clone() });
            match actors.judge.judge(diagnosis, &reply.text).await {
                Ok((judged, calls)) => {
                    recorder.extend(calls);
                    recorder.push(EventKind::Verdict { verdict: judged.clone() });
                    verdict = Some(judged);
                    stop = StopReason::Diagnosed;
                }
                Err(failure) => {
                    recorder.push(EventKind::Error { role: RoleName::Judge, message: failure.to_string() });
                    error = Some(failure.to_string());
                    stop = StopReason::Error;
                }
            }
            break 'turns;
        }
        let mut parts: Vec<String> = Vec::new();
        // Images asked for now are shown with the next turn.
        attach = config.images == ImagePolicy::Always;
        if action.images {
            let (sent, note) = if !images_possible {
                (0, Some("Images are not available in this consultation.".to_owned()))
            } else if images.is_empty() {
                (0, Some("No images are available for this patient.".to_owned()))
            } else if !actors.doctor.sees_images() {
                (0, Some("The images cannot be shown to you; request the findings as tests instead.".to_owned()))
            } else {
                attach = true;
                (images.len(), None)
            };
            recorder.push(EventKind::ImageRequest { turn, sent, note: note.clone() });
            if let Some(note) = note {
                parts.push(note);
            }
        }
        let normal = |text: &str| text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        let mut action = action;
        if config.aids.repeat_guard && action.diagnosis.is_none() {
            let mut wanted: Vec<String> = action.tests.iter().map(|test| normal(test)).collect();
            wanted.sort();
            wanted.dedup();
            let earlier_tests = ordered.iter().find(|(tests, _, _)| !wanted.is_empty() && *tests == wanted);
            let earlier_question = action
                .question
                .as_deref()
                .and_then(|question| asked.iter().find(|(text, _, _)| *text == normal(question)));
            let repeats_tests = earlier_tests.is_some();
            let repeats_question = action.question.is_none() || earlier_question.is_some();
            if repeats_tests && repeats_question && !action.images {
                let (_, first_turn, found) = earlier_tests.expect("checked");
                recorder.push(EventKind::RepeatedAction { turn, repeated: "tests".into(), first_turn: *first_turn });
                response = format!(
                    "You already ordered these tests at turn {first_turn}; ordering them again gives the same results:\n{found}\nAsk the patient a question, order a different test, or diagnose."
                );
                repeated_last_turn = true;
                continue;
            }
            if action.tests.is_empty()
                && let Some((_, first_turn, answer)) = earlier_question
            {
                recorder.push(EventKind::RepeatedAction { turn, repeated: "question".into(), first_turn: *first_turn });
                response = format!(
                    "You already asked this at turn {first_turn}; the patient answered: {answer}\nAsk something new, order a test, or diagnose."
                );
                repeated_last_turn = true;
                continue;
            }
            if repeats_tests {
                // Tests repeated beside a new question: only the question goes ahead.
                action.tests.clear();
            }
        }
        if !action.tests.is_empty() {
            tests_ordered += action.tests.len();
            recorder.push(EventKind::TestOrder { turn, tests: action.tests.clone() });
            let view = MeasurementView {
                tests: action.tests.clone(),
                request_text: reply.text.clone(),
                history: measurement_history.clone(),
            };
            match actors.measurement.measure(&view).await {
                Ok(measured) => {
                    recorder.extend(measured.calls);
                    recorder.push(EventKind::TestResults {
                        turn,
                        results: measured.results.clone(),
                        text: measured.text.clone(),
                    });
                    measurement_history.push_str(&format!("{}\n\n{}\n\n", reply.text, measured.text));
                    patient_history.push_str(&format!("{}\n\n", measured.text));
                    let mut key: Vec<String> = action.tests.iter().map(|test| normal(test)).collect();
                    key.sort();
                    key.dedup();
                    ordered.push((key, turn, measured.text.clone()));
                    for result in &measured.results {
                        notes.push_str(&note_line("test", &result.requested, &result.result));
                    }
                    parts.push(measured.text);
                }
                Err(failure) => {
                    recorder.push(EventKind::Error { role: RoleName::Measurement, message: failure.to_string() });
                    error = Some(failure.to_string());
                    stop = StopReason::Error;
                    break;
                }
            }
        }
        let to_patient = match config.routing {
            Routing::Strict => action.question.clone(),
            Routing::Tolerant => match &action.question {
                Some(question) => Some(question.clone()),
                None if action.tests.is_empty() && !action.images => Some(reply.text.clone()),
                None => None,
            },
        };
        if let Some(question) = to_patient {
            let view = PatientView { question: question.clone(), history: patient_history.clone() };
            match actors.patient.answer(&view).await {
                Ok(answer) => {
                    recorder.extend(answer.calls);
                    recorder.push(EventKind::Utterance { role: RoleName::Patient, text: answer.text.clone(), turn });
                    if let Some(matched) = matching::find(&forms, &answer.text) {
                        recorder.push(EventKind::Leak { role: RoleName::Patient, matched, turn });
                    }
                    patient_history.push_str(&format!("{question}\n\n{}\n\n", answer.text));
                    asked.push((normal(&question), turn, answer.text.clone()));
                    notes.push_str(&note_line("asked", &question, &answer.text));
                    measurement_history.push_str(&format!("{}\n\n", answer.text));
                    parts.push(answer.text);
                }
                Err(failure) => {
                    recorder.push(EventKind::Error { role: RoleName::Patient, message: failure.to_string() });
                    error = Some(failure.to_string());
                    stop = StopReason::Error;
                    break;
                }
            }
        }
        response = parts.join("\n");
    }

    // The budget ran out without a diagnosis: ask once for it (not in strict AgentClinic routing).
    if stop == StopReason::BudgetExhausted && verdict.is_none() {
        let mut final_text = None;
        let mut final_action = None;
        if config.routing == Routing::Tolerant {
            let view = DoctorView {
                presentation: presentation.clone(),
                turn: config.max_turns + 1,
                max_turns: config.max_turns,
                history: doctor_history.clone(),
                response: response.clone(),
                final_turn: true,
                must_diagnose: true,
                images: Vec::new(),
                images_available: false,
                notes: if config.aids.notes { notes.clone() } else { String::new() },
                invite_question: false,
                resample: false,
            };
            match actors.doctor.act(&view).await {
                Ok(reply) => {
                    recorder.extend(reply.calls);
                    recorder.push(EventKind::Utterance {
                        role: RoleName::Doctor,
                        text: reply.text.clone(),
                        turn: config.max_turns + 1,
                    });
                    final_text = Some(reply.text);
                    final_action = reply.action;
                }
                Err(failure) => {
                    recorder.push(EventKind::Error { role: RoleName::Doctor, message: failure.to_string() });
                    error = Some(failure.to_string());
                    stop = StopReason::Error;
                }
            }
        }
        if stop == StopReason::BudgetExhausted {
            let action: DoctorAction = final_action
                .filter(|action| action.diagnosis.is_some())
                .or_else(|| final_text.as_deref().map(action::parse_text))
                .unwrap_or_default();
            match &action.diagnosis {
                Some(diagnosis) => {
                    recorder.push(EventKind::Diagnosis { turn: config.max_turns + 1, diagnosis: diagnosis.clone() });
                    match actors.judge.judge(diagnosis, final_text.as_deref().unwrap_or_default()).await {
                        Ok((judged, calls)) => {
                            recorder.extend(calls);
                            recorder.push(EventKind::Verdict { verdict: judged.clone() });
                            verdict = Some(judged);
                        }
                        Err(failure) => {
                            recorder.push(EventKind::Error { role: RoleName::Judge, message: failure.to_string() });
                            error = Some(failure.to_string());
                            stop = StopReason::Error;
                        }
                    }
                }
                None => {
                    let judged = Verdict {
                        correct: false,
                        diagnosis: String::new(),
                        ground_truth: case.diagnosis.clone(),
                        method: VerdictMethod::NoDiagnosis,
                        raw: None,
                        reason: "the doctor gave no diagnosis within the budget".into(),
                    };
                    recorder.push(EventKind::Verdict { verdict: judged.clone() });
                    verdict = Some(judged);
                }
            }
        }
    }
    recorder.push(EventKind::EpisodeEnded { stop_reason: stop, turns });

    let mut tokens = Tokens::default();
    let mut cost_usd = 0.0;
    let mut patient_leaks = 0;
    for event in &recorder.events {
        match &event.kind {
            EventKind::ModelCall { tokens: call, cost_usd: cost, .. } => {
                tokens.prompt += call.prompt;
                tokens.completion += call.completion;
                cost_usd += cost.unwrap_or(0.0);
            }
            EventKind::Leak { .. } => patient_leaks += 1,
            _ => {}
        }
    }
    Episode {
        case_id: case.id.clone(),
        stop_reason: stop,
        verdict,
        turns,
        tests_ordered,
        tokens,
        cost_usd,
        wall_ms: recorder.started.elapsed().as_secs_f64() * 1000.0,
        patient_leaks,
        error,
        events: recorder.events,
    }
}

/// Runs jobs `(case, repeat)` with at most `concurrency` in flight, appending each record to
/// the log the moment its episode ends. Returns how many were written.
pub async fn run_all<F, Fut>(
    jobs: Vec<(Case, u32)>,
    concurrency: usize,
    run_one: F,
    appender: &mut runlog::Appender,
    mut on_record: impl FnMut(&runlog::EpisodeRecord),
) -> Result<usize, runlog::RunLogError>
where
    F: Fn(Case, u32) -> Fut,
    Fut: Future<Output = runlog::EpisodeRecord>,
{
    use futures::StreamExt;
    let mut finished =
        futures::stream::iter(jobs).map(|(case, repeat)| run_one(case, repeat)).buffer_unordered(concurrency.max(1));
    let mut written = 0;
    while let Some(record) = finished.next().await {
        appender.append(&record)?;
        written += 1;
        on_record(&record);
    }
    Ok(written)
}
