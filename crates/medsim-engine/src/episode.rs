//! The episode loop, step by step: the doctor's turn, images, the repeat guard, tests, the
//! patient, the judge, the final call when the budget runs out, and the record.

use std::time::Instant;

use medsim_agents::{CostView, DoctorView, MeasurementView, PatientView, Reply};
use medsim_core::action::{self, Diagnosis, DoctorAction, normal};
use medsim_core::case::Case;
use medsim_core::matching;
use medsim_core::transcript::{Event, EventKind, RoleName, StopReason, Tokens, Verdict, VerdictMethod};
use medsim_llm::types::ImageSource;
use tokio::sync::mpsc;

use crate::{Actors, Episode, EpisodeConfig, ImagePolicy, Routing, note_line};

/// Events in order, each also sent live when someone watches.
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

/// A step's result: go on, or the episode is over (an error, or a verdict).
type Step<T> = Result<T, Ended>;

/// The episode ended inside a step; its events and stop reason are already recorded.
struct Ended;

/// What the repeat guard decided about the doctor's action.
enum Guarded {
    /// The action repeats an earlier one: it was answered from what the doctor has.
    Answered(String),
    /// The action goes ahead (its repeated tests dropped when beside a new question).
    Go(DoctorAction),
}

/// The tests of an order as the repeat guard compares them.
fn test_key(tests: &[String]) -> Vec<String> {
    let mut key: Vec<String> = tests.iter().map(|test| normal(test)).collect();
    key.sort();
    key.dedup();
    key
}

/// One consultation in progress.
pub(crate) struct Consultation<'a> {
    case: &'a Case,
    images: &'a [ImageSource],
    actors: &'a Actors,
    config: &'a EpisodeConfig,
    recorder: Recorder,
    presentation: String,
    /// Names of the diagnosis, for the leak check.
    forms: Vec<Vec<String>>,
    images_possible: bool,
    attach: bool,
    doctor_history: String,
    patient_history: String,
    measurement_history: String,
    /// What the doctor is told at the start of its next turn.
    response: String,
    verdict: Option<Verdict>,
    stop: StopReason,
    error: Option<String>,
    turns: u32,
    tests_ordered: usize,
    /// The aids' memory: a running summary, and what was ordered and asked, when, with what result.
    notes: String,
    ordered: Vec<(Vec<String>, u32, String)>,
    asked: Vec<(String, u32, String)>,
    repeated_last_turn: bool,
    priced: Vec<medsim_core::prices::PricedTest>,
}

impl<'a> Consultation<'a> {
    pub(crate) fn new(
        case: &'a Case,
        images: &'a [ImageSource],
        actors: &'a Actors,
        config: &'a EpisodeConfig,
        live: Option<mpsc::UnboundedSender<Event>>,
    ) -> Consultation<'a> {
        let presentation = match (config.routing, &case.question) {
            // AgentClinic gives NEJM doctors only this constant; the question itself is never shown.
            (Routing::Strict, Some(_)) => "What is the most likely diagnosis?".to_owned(),
            _ => case.objective.clone(),
        };
        let mut forms = matching::variants(&case.diagnosis);
        for alias in &case.diagnosis_aliases {
            forms.extend(matching::variants(alias));
        }
        Consultation {
            case,
            images,
            actors,
            config,
            recorder: Recorder { started: Instant::now(), events: Vec::new(), live },
            presentation,
            forms,
            images_possible: config.images != ImagePolicy::Never,
            attach: config.images == ImagePolicy::Always,
            doctor_history: String::new(),
            patient_history: String::new(),
            measurement_history: String::new(),
            response: String::new(),
            verdict: None,
            stop: StopReason::BudgetExhausted,
            error: None,
            turns: 0,
            tests_ordered: 0,
            notes: String::new(),
            ordered: Vec::new(),
            asked: Vec::new(),
            repeated_last_turn: false,
            priced: Vec::new(),
        }
    }

    /// Turns until a verdict, an error or the budget; then the final call if needed.
    pub(crate) async fn run(mut self) -> Episode {
        self.recorder
            .push(EventKind::EpisodeStarted { case_id: self.case.id.clone(), objective: self.presentation.clone() });
        for turn in 1..=self.config.max_turns {
            self.turns = turn;
            if self.turn(turn).await.is_err() {
                break;
            }
        }
        if self.stop == StopReason::BudgetExhausted && self.verdict.is_none() {
            self.budget_exhausted().await;
        }
        self.finish()
    }

    /// Records an actor's failure: the episode ends with an error.
    fn fail(&mut self, role: RoleName, failure: impl std::fmt::Display) -> Ended {
        self.recorder.push(EventKind::Error { role, message: failure.to_string() });
        self.error = Some(failure.to_string());
        self.stop = StopReason::Error;
        Ended
    }

    fn view(&self, turn: u32) -> DoctorView {
        let aids = &self.config.aids;
        DoctorView {
            presentation: self.presentation.clone(),
            turn,
            max_turns: self.config.max_turns,
            history: self.doctor_history.clone(),
            response: self.response.clone(),
            final_turn: turn >= self.config.max_turns,
            must_diagnose: false,
            images: if self.attach && self.actors.doctor.sees_images() { self.images.to_vec() } else { Vec::new() },
            images_available: self.images_possible,
            notes: if aids.notes { self.notes.clone() } else { String::new() },
            invite_question: aids.first_question && turn == 1,
            resample: aids.resample && self.repeated_last_turn,
            cost: self.config.prices.as_ref().map(|prices| CostView {
                prices: prices.clone(),
                spent: prices.visit.price + self.priced.iter().map(|item| item.price).sum::<f64>(),
                budget: self.config.budget,
                show: self.config.show_prices,
            }),
            ordered_tests: self.ordered.iter().flat_map(|(tests, _, _)| tests.clone()).collect(),
        }
    }

    /// One doctor turn and everything it sets off. `Err` ends the episode.
    async fn turn(&mut self, turn: u32) -> Step<()> {
        let view = self.view(turn);
        self.repeated_last_turn = false;
        let reply = match self.actors.doctor.act(&view).await {
            Ok(reply) => reply,
            Err(failure) => return Err(self.fail(RoleName::Doctor, failure)),
        };
        let action = self.record_reply(turn, &reply);
        if let Some(diagnosis) = &action.diagnosis {
            self.recorder.push(EventKind::Diagnosis { turn, diagnosis: diagnosis.clone() });
            if self.judge(diagnosis, &reply.text).await.is_ok() {
                self.stop = StopReason::Diagnosed;
            }
            return Err(Ended);
        }
        let mut parts: Vec<String> = Vec::new();
        self.images_step(turn, &action, &mut parts);
        let action = match self.repeat_guard(turn, action) {
            Guarded::Answered(response) => {
                self.response = response;
                self.repeated_last_turn = true;
                return Ok(());
            }
            Guarded::Go(action) => action,
        };
        if !action.tests.is_empty() {
            parts.push(self.measure(turn, &action.tests, &reply.text).await?);
        }
        if let Some(question) = self.patient_question(&action, &reply.text) {
            parts.push(self.ask_patient(turn, question).await?);
        }
        self.response = parts.join("\n");
        Ok(())
    }

    /// Records the doctor's reply and returns its action (structured, or parsed from its text).
    fn record_reply(&mut self, turn: u32, reply: &Reply) -> DoctorAction {
        self.recorder.extend(reply.calls.clone());
        self.recorder.push(EventKind::Utterance { role: RoleName::Doctor, text: reply.text.clone(), turn });
        self.doctor_history.push_str(&format!("{}\n\n{}\n\n", self.response, reply.text));
        let action = match (&reply.action, self.config.routing) {
            (Some(structured), _) => structured.clone(),
            (None, Routing::Tolerant) => action::parse_text(&reply.text),
            (None, Routing::Strict) => action::parse_strict(&reply.text),
        };
        self.recorder.push(EventKind::DoctorAction { turn, action: action.clone() });
        action
    }

    /// Images asked for now are shown with the next turn, or the doctor is told why not.
    fn images_step(&mut self, turn: u32, action: &DoctorAction, parts: &mut Vec<String>) {
        self.attach = self.config.images == ImagePolicy::Always;
        if !action.images {
            return;
        }
        let (sent, note) = if !self.images_possible {
            (0, Some("Images are not available in this consultation.".to_owned()))
        } else if self.images.is_empty() {
            (0, Some("No images are available for this patient.".to_owned()))
        } else if !self.actors.doctor.sees_images() {
            (0, Some("The images cannot be shown to you; request the findings as tests instead.".to_owned()))
        } else {
            self.attach = true;
            (self.images.len(), None)
        };
        self.recorder.push(EventKind::ImageRequest { turn, sent, note: note.clone() });
        parts.extend(note);
    }

    /// With the repeat-guard aid: an action that only repeats earlier tests or an earlier
    /// question is answered from what the doctor already has. With the resample aid alone the
    /// repeat goes ahead, and only the next turn's sampling changes.
    fn repeat_guard(&mut self, turn: u32, mut action: DoctorAction) -> Guarded {
        let aids = self.config.aids;
        if !(aids.repeat_guard || aids.resample) || action.diagnosis.is_some() {
            return Guarded::Go(action);
        }
        let wanted = test_key(&action.tests);
        let earlier_tests = self.ordered.iter().find(|(tests, _, _)| !wanted.is_empty() && *tests == wanted).cloned();
        let earlier_question = action
            .question
            .as_deref()
            .and_then(|question| self.asked.iter().find(|(text, _, _)| *text == normal(question)))
            .cloned();
        let repeats_question = action.question.is_none() || earlier_question.is_some();
        // The whole action repeats earlier tests (and no new question), or an earlier question.
        let repeated_tests = earlier_tests.as_ref().filter(|_| repeats_question && !action.images);
        let repeated_question = earlier_question.filter(|_| action.tests.is_empty());
        if !aids.repeat_guard {
            // Resampling alone: the repeat goes ahead unanswered, and the next turn samples
            // differently.
            self.repeated_last_turn = repeated_tests.is_some() || repeated_question.is_some();
            return Guarded::Go(action);
        }
        if let Some((_, first_turn, found)) = repeated_tests {
            self.recorder.push(EventKind::RepeatedAction { turn, repeated: "tests".into(), first_turn: *first_turn });
            return Guarded::Answered(format!(
                "You already ordered these tests at turn {first_turn}; ordering them again gives the same results:\n{found}\nAsk the patient a question, order a different test, or diagnose."
            ));
        }
        if let Some((_, first_turn, answer)) = repeated_question {
            self.recorder.push(EventKind::RepeatedAction { turn, repeated: "question".into(), first_turn });
            return Guarded::Answered(format!(
                "You already asked this at turn {first_turn}; the patient answered: {answer}\nAsk something new, order a test, or diagnose."
            ));
        }
        if earlier_tests.is_some() {
            // Tests repeated beside a new question: only the question goes ahead.
            action.tests.clear();
        }
        Guarded::Go(action)
    }

    /// Test orders go to the measurement agent; returns the results' text. In budget mode an
    /// order above what is left is refused instead, and the doctor told why.
    async fn measure(&mut self, turn: u32, tests: &[String], request_text: &str) -> Step<String> {
        let order: Vec<_> = match &self.config.prices {
            Some(prices) => tests.iter().map(|test| prices.price(test)).collect(),
            None => Vec::new(),
        };
        if let (Some(budget), Some(prices)) = (self.config.budget, &self.config.prices) {
            let price: f64 = order.iter().map(|item| item.price).sum();
            let remaining = budget - prices.visit.price - self.priced.iter().map(|item| item.price).sum::<f64>();
            if price > remaining + 1e-9 {
                self.recorder.push(EventKind::OrderRefused { turn, tests: tests.to_vec(), price, remaining });
                return Ok(format!(
                    "Order refused: it costs ${price:.0} and ${remaining:.0} of this case's ${budget:.0} budget is left. Order fewer or cheaper tests, ask the patient, or diagnose."
                ));
            }
        }
        self.priced.extend(order);
        self.tests_ordered += tests.len();
        self.recorder.push(EventKind::TestOrder { turn, tests: tests.to_vec() });
        let view = MeasurementView {
            tests: tests.to_vec(),
            request_text: request_text.to_owned(),
            history: self.measurement_history.clone(),
        };
        let measured = match self.actors.measurement.measure(&view).await {
            Ok(measured) => measured,
            Err(failure) => return Err(self.fail(RoleName::Measurement, failure)),
        };
        self.recorder.extend(measured.calls);
        self.recorder.push(EventKind::TestResults {
            turn,
            results: measured.results.clone(),
            text: measured.text.clone(),
        });
        self.measurement_history.push_str(&format!("{request_text}\n\n{}\n\n", measured.text));
        self.patient_history.push_str(&format!("{}\n\n", measured.text));
        self.ordered.push((test_key(tests), turn, measured.text.clone()));
        for result in &measured.results {
            self.notes.push_str(&note_line("test", &result.requested, &result.result));
        }
        Ok(measured.text)
    }

    /// What reaches the patient: the question; in tolerant routing, a reply that is neither a
    /// test order nor an image request is taken as a question too.
    fn patient_question(&self, action: &DoctorAction, reply_text: &str) -> Option<String> {
        match self.config.routing {
            Routing::Strict => action.question.clone(),
            Routing::Tolerant => match &action.question {
                Some(question) => Some(question.clone()),
                None if action.tests.is_empty() && !action.images => Some(reply_text.to_owned()),
                None => None,
            },
        }
    }

    /// A question goes to the patient; returns the answer, recording a leak if it names the
    /// diagnosis.
    async fn ask_patient(&mut self, turn: u32, question: String) -> Step<String> {
        let view = PatientView { question: question.clone(), history: self.patient_history.clone() };
        let answer = match self.actors.patient.answer(&view).await {
            Ok(answer) => answer,
            Err(failure) => return Err(self.fail(RoleName::Patient, failure)),
        };
        self.recorder.extend(answer.calls);
        self.recorder.push(EventKind::Utterance { role: RoleName::Patient, text: answer.text.clone(), turn });
        if let Some(matched) = matching::find(&self.forms, &answer.text) {
            self.recorder.push(EventKind::Leak { role: RoleName::Patient, matched, turn });
        }
        self.patient_history.push_str(&format!("{question}\n\n{}\n\n", answer.text));
        self.asked.push((normal(&question), turn, answer.text.clone()));
        self.notes.push_str(&note_line("asked", &question, &answer.text));
        self.measurement_history.push_str(&format!("{}\n\n", answer.text));
        Ok(answer.text)
    }

    /// The judge decides a diagnosis; the verdict is recorded.
    async fn judge(&mut self, diagnosis: &Diagnosis, reply_text: &str) -> Step<()> {
        match self.actors.judge.judge(diagnosis, reply_text).await {
            Ok((judged, calls)) => {
                self.recorder.extend(calls);
                self.recorder.push(EventKind::Verdict { verdict: judged.clone() });
                self.verdict = Some(judged);
                Ok(())
            }
            Err(failure) => Err(self.fail(RoleName::Judge, failure)),
        }
    }

    /// The budget ran out without a diagnosis: ask once for it (not in strict AgentClinic
    /// routing), and judge what comes back; no diagnosis at all is a verdict of its own.
    async fn budget_exhausted(&mut self) {
        let last = self.config.max_turns + 1;
        let mut final_reply: Option<Reply> = None;
        if self.config.routing == Routing::Tolerant && self.config.final_call {
            let view = DoctorView {
                final_turn: true,
                must_diagnose: true,
                images: Vec::new(),
                images_available: false,
                invite_question: false,
                resample: false,
                ..self.view(last)
            };
            match self.actors.doctor.act(&view).await {
                Ok(reply) => {
                    self.recorder.extend(reply.calls.clone());
                    self.recorder.push(EventKind::Utterance {
                        role: RoleName::Doctor,
                        text: reply.text.clone(),
                        turn: last,
                    });
                    final_reply = Some(reply);
                }
                Err(failure) => {
                    self.fail(RoleName::Doctor, failure);
                    return;
                }
            }
        }
        let final_text = final_reply.as_ref().map(|reply| reply.text.clone());
        let action: DoctorAction = final_reply
            .and_then(|reply| reply.action)
            .filter(|action| action.diagnosis.is_some())
            .or_else(|| final_text.as_deref().map(action::parse_text))
            .unwrap_or_default();
        match &action.diagnosis {
            Some(diagnosis) => {
                self.recorder.push(EventKind::Diagnosis { turn: last, diagnosis: diagnosis.clone() });
                let _ = self.judge(diagnosis, final_text.as_deref().unwrap_or_default()).await;
            }
            None => {
                let judged = Verdict {
                    correct: false,
                    diagnosis: String::new(),
                    ground_truth: self.case.diagnosis.clone(),
                    method: VerdictMethod::NoDiagnosis,
                    raw: None,
                    reason: "the doctor gave no diagnosis within the budget".into(),
                };
                self.recorder.push(EventKind::Verdict { verdict: judged.clone() });
                self.verdict = Some(judged);
            }
        }
    }

    /// The episode's record: totals over its model calls and leaks.
    fn finish(mut self) -> Episode {
        self.recorder.push(EventKind::EpisodeEnded { stop_reason: self.stop, turns: self.turns });
        let mut tokens = Tokens::default();
        let mut cost_usd = 0.0;
        let mut patient_leaks = 0;
        for event in &self.recorder.events {
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
            case_id: self.case.id.clone(),
            stop_reason: self.stop,
            verdict: self.verdict,
            turns: self.turns,
            tests_ordered: self.tests_ordered,
            tokens,
            cost_usd,
            wall_ms: self.recorder.started.elapsed().as_secs_f64() * 1000.0,
            patient_leaks,
            error: self.error,
            care_cost: match &self.config.prices {
                Some(prices) => prices.visit.price + self.priced.iter().map(|item| item.price).sum::<f64>(),
                None => 0.0,
            },
            priced: self.priced,
            events: self.recorder.events,
        }
    }
}
