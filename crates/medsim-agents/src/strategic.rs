//! The doctor with strategies: private chain-of-thought, worked examples from experience
//! memory, and a final diagnosis decided by a panel, self-consistency or best-of-N. Also the
//! learning step run after each verdict in `medsim learn`: store the solved case, or reflect on
//! the wrong one.
//!
//! Everything the strategies do is reported as the doctor's private events (reasoning,
//! retrieval, opinions, votes, reflection). Only the doctor's reply text reaches the patient and
//! the measurement agent; nothing here is ever given the ground truth except the reflection's
//! lesson prompt, which runs after the verdict in learning mode only.

use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use medsim_core::action::{self, Diagnosis, Differential, DoctorAction};
use medsim_core::transcript::{Event, EventKind, Retrieved, Verdict};
use medsim_llm::embedding::SharedEmbedder;
use medsim_llm::types::Message;

use crate::memory::{Buffer, Entry, Filter, Memory, clip, record_of, transcript_of};
use crate::prompts::PromptSet;
use crate::strategy::Strategies;
use crate::vote::{Ballot, Outcome, best_scored, majority, parse_differential, parse_score};
use crate::{ActorError, DoctorActor, DoctorView, JudgeActor, ModelDoctor, ModelSeat, PromptAdditions, Reply};

/// Read access to experience memory for one doctor.
#[derive(Clone)]
pub struct MemoryAccess {
    /// The memory (shared by every episode of a run; written only by the learner).
    pub memory: Arc<RwLock<Memory>>,
    /// Embeds queries (the same embedder that made the memory).
    pub embedder: SharedEmbedder,
    /// Entries per retrieval.
    pub k: usize,
    /// Which entries may be retrieved.
    pub filter: Filter,
}

impl MemoryAccess {
    /// The `k` entries most similar to `query`.
    pub async fn retrieve(&self, query: &str) -> Result<Vec<(Entry, f32)>, ActorError> {
        let vectors = self
            .embedder
            .embed(&[query.to_owned()])
            .await
            .map_err(|source| ActorError::Model { role: "memory embedder", source })?;
        let Some(vector) = vectors.first() else { return Ok(Vec::new()) };
        let memory = self.memory.read().expect("memory lock");
        Ok(memory
            .search(vector, self.k, self.filter)
            .into_iter()
            .map(|(entry, score)| (entry.clone(), score))
            .collect())
    }
}

/// Panel roles, in the order members are seated.
pub const STANCES: [(&str, &str); 4] = [
    ("generalist", "the generalist. Weigh the whole presentation and the common causes first."),
    (
        "specialist",
        "the specialist for this presentation. Name the specialty the findings point to, and reason as its expert.",
    ),
    (
        "challenger",
        "the challenger. Argue against the leading diagnosis: look for findings it does not explain and for dangerous alternatives.",
    ),
    (
        "steward",
        "the steward. Weigh what the evidence already shows against what more tests would add, and favour the diagnosis the existing findings support best.",
    ),
];

/// The doctor with strategies around a model doctor.
pub struct StrategicDoctor {
    /// The model doctor every call goes through.
    pub base: ModelDoctor,
    /// What is switched on.
    pub strategies: Strategies,
    /// Memory, when `memory` is on.
    pub memory: Option<MemoryAccess>,
    /// The verifier seat for best-of-N (the judge's model; never given the ground truth).
    pub verifier: Option<ModelSeat>,
    examples: Mutex<Option<String>>,
}

impl StrategicDoctor {
    /// A doctor with strategies.
    pub fn new(
        base: ModelDoctor,
        strategies: Strategies,
        memory: Option<MemoryAccess>,
        verifier: Option<ModelSeat>,
    ) -> StrategicDoctor {
        StrategicDoctor { base, strategies, memory, verifier, examples: Mutex::new(None) }
    }

    async fn retrieve(&self, view: &DoctorView, events: &mut Vec<EventKind>) -> Result<String, ActorError> {
        let Some(access) = &self.memory else { return Ok(String::new()) };
        let cached = self.examples.lock().expect("examples").clone();
        // Retrieve on the first turn from the presentation, and again with the whole dialogue
        // when the diagnosis is due; in between the examples stay put (and the prompt prefix
        // with them, which keeps the model server's prefix cache warm).
        if let Some(block) = cached
            && !view.must_diagnose
        {
            return Ok(block);
        }
        let dialogue = format!("{}\n{}", view.history, view.response);
        let query = if dialogue.trim().is_empty() {
            view.presentation.clone()
        } else {
            let tail: String = dialogue.trim().chars().rev().take(1500).collect::<Vec<_>>().into_iter().rev().collect();
            format!("{}\n{tail}", view.presentation)
        };
        let found = access.retrieve(&query).await?;
        events.push(EventKind::Retrieval {
            turn: view.turn,
            entries: found
                .iter()
                .map(|(entry, similarity)| Retrieved {
                    id: entry.id,
                    buffer: entry.buffer.as_str().into(),
                    case_id: entry.case_id.clone(),
                    similarity: *similarity,
                })
                .collect(),
        });
        let block = if found.is_empty() {
            String::new()
        } else {
            let examples: Vec<minijinja::Value> = found
                .iter()
                .map(|(entry, _)| minijinja::context! { buffer => entry.buffer.as_str(), text => entry.text })
                .collect();
            self.base.prompts.render("doctor_memory.j2", minijinja::context! { examples => examples })?
        };
        *self.examples.lock().expect("examples") = Some(block.clone());
        Ok(block)
    }

    async fn reason(
        &self,
        view: &DoctorView,
        additions: &PromptAdditions,
        events: &mut Vec<EventKind>,
    ) -> Result<String, ActorError> {
        let prompt = self.base.prompt(view, additions)?;
        let instruction = self.base.prompts.render("doctor_reason.j2", minijinja::context! {})?;
        let mut seat = self.base.seat.clone();
        seat.max_tokens = seat.max_tokens.max(256);
        let reply = seat
            .call(
                prompt.system,
                Message::user(format!("{}\n\n{instruction}", prompt.user)),
                self.base.prompts.label("doctor_reason.j2"),
            )
            .await?;
        events.extend(reply.calls);
        events.push(EventKind::Reasoning { turn: view.turn, text: reply.text.clone() });
        Ok(reply.text)
    }

    /// Samples `k - 1` more final diagnoses from the same state (the lead is the first).
    async fn samples(
        &self,
        view: &DoctorView,
        additions: &PromptAdditions,
        lead: &Diagnosis,
        k: usize,
        temperature: f64,
        events: &mut Vec<EventKind>,
    ) -> Result<Vec<Ballot>, ActorError> {
        let mut final_view = view.clone();
        final_view.must_diagnose = true;
        final_view.final_turn = true;
        final_view.images = Vec::new();
        let seats: Vec<ModelSeat> = (1..k)
            .map(|index| {
                let mut seat = self.base.seat.clone();
                seat.temperature = temperature;
                seat.seed = Some(seat.seed.unwrap_or(0).wrapping_add(index as u64 * 0x9e37_79b9));
                seat.sample_index = seat.sample_index.wrapping_mul(1000).wrapping_add(index as u32);
                seat
            })
            .collect();
        let replies =
            futures::future::join_all(seats.iter().map(|seat| self.base.act_with(&final_view, additions, Some(seat))))
                .await;
        let mut ballots = vec![ballot_of(lead)];
        for reply in replies {
            let reply = reply?;
            events.extend(reply.calls);
            let diagnosis =
                reply.action.and_then(|action| action.diagnosis).or_else(|| action::parse_text(&reply.text).diagnosis);
            if let Some(diagnosis) = diagnosis {
                ballots.push(ballot_of(&diagnosis));
            }
        }
        Ok(ballots)
    }

    async fn panel(
        &self,
        view: &DoctorView,
        lead: &Diagnosis,
        members: usize,
        rounds: u32,
        events: &mut Vec<EventKind>,
    ) -> Result<Vec<Ballot>, ActorError> {
        let transcript = clip_start(&format!("{}\n{}", view.history, view.response), 3000);
        let mut seat = self.base.seat.clone();
        seat.max_tokens = seat.max_tokens.max(200);
        let mut previous: Vec<(String, String)> = Vec::new();
        let mut last: Vec<Vec<Differential>> = Vec::new();
        for round in 1..=rounds {
            let mut calls = Vec::new();
            for member in 0..members {
                let (stance, description) = STANCES[member % STANCES.len()];
                let others: Vec<minijinja::Value> = previous
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| *index != member)
                    .map(|(_, (stance, text))| minijinja::context! { stance => stance, text => text })
                    .collect();
                let system = self.base.prompts.render(
                    "panel_member.j2",
                    minijinja::context! { members => members, stance_description => format!("you are {description}"), presentation => view.presentation },
                )?;
                let user = self.base.prompts.render(
                    "panel_user.j2",
                    minijinja::context! { transcript => transcript, lead => lead.primary, round => round, others => others },
                )?;
                let label = self.base.prompts.label("panel_member.j2");
                let seat = &seat;
                calls.push(async move { (stance, seat.call(system, Message::user(user), label).await) });
            }
            let replies = futures::future::join_all(calls).await;
            previous.clear();
            last.clear();
            for (member, (stance, reply)) in replies.into_iter().enumerate() {
                let reply = reply?;
                events.extend(reply.calls);
                let differential = parse_differential(&reply.text);
                events.push(EventKind::Opinion {
                    turn: view.turn,
                    member: member as u32,
                    stance: stance.into(),
                    round,
                    differential: differential.clone(),
                    text: reply.text.clone(),
                });
                previous.push((stance.to_owned(), reply.text));
                last.push(differential);
            }
        }
        Ok(last
            .iter()
            .filter_map(|differential| differential.first())
            .map(|top| Ballot { diagnosis: top.diagnosis.clone(), confidence: top.probability, score: None })
            .collect())
    }

    async fn score(
        &self,
        view: &DoctorView,
        ballots: &mut [Ballot],
        events: &mut Vec<EventKind>,
    ) -> Result<(), ActorError> {
        let Some(verifier) = &self.verifier else { return Ok(()) };
        let transcript = clip_start(&format!("{}\n{}", view.history, view.response), 3000);
        let system = self.base.prompts.render("verifier.j2", minijinja::context! {})?;
        let label = self.base.prompts.label("verifier.j2");
        let mut calls = Vec::new();
        for ballot in ballots.iter() {
            let user = self.base.prompts.render(
                "verifier_user.j2",
                minijinja::context! { transcript => transcript, candidate => ballot.diagnosis },
            )?;
            calls.push(verifier.call(system.clone(), Message::user(user), label.clone()));
        }
        let replies = futures::future::join_all(calls).await;
        for (ballot, reply) in ballots.iter_mut().zip(replies) {
            let reply = reply?;
            events.extend(reply.calls);
            ballot.score = parse_score(&reply.text);
        }
        Ok(())
    }

    async fn decide(
        &self,
        view: &DoctorView,
        additions: &PromptAdditions,
        lead: &Diagnosis,
        events: &mut Vec<EventKind>,
    ) -> Result<Option<(Outcome, &'static str)>, ActorError> {
        let strategies = &self.strategies;
        let (ballots, method) = if let Some(panel) = strategies.panel {
            (self.panel(view, lead, panel.n, panel.rounds, events).await?, "panel")
        } else if let Some(sampling) = strategies.self_consistency {
            (self.samples(view, additions, lead, sampling.k, sampling.temperature, events).await?, "self-consistency")
        } else if let Some(sampling) = strategies.best_of {
            let mut ballots = self.samples(view, additions, lead, sampling.k, sampling.temperature, events).await?;
            self.score(view, &mut ballots, events).await?;
            (ballots, "best-of")
        } else {
            return Ok(None);
        };
        let outcome = if method == "best-of" { best_scored(&ballots) } else { majority(&ballots) };
        Ok(outcome.map(|outcome| (outcome, method)))
    }
}

/// The doctor's reply without its private reasoning: small models sometimes copy their notes
/// into what they say, and what they say reaches the patient.
fn without_private(reply: &str, reasoning: &str) -> String {
    let mut text = reply.to_owned();
    if let Some(position) = text.find("Your private reasoning for this turn") {
        text.truncate(position);
    }
    let reasoning = reasoning.trim();
    if !reasoning.is_empty() {
        text = text.replace(reasoning, " ");
    }
    let cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() { "Please go on.".to_owned() } else { cleaned }
}

fn ballot_of(diagnosis: &Diagnosis) -> Ballot {
    let confidence = diagnosis.differential.first().and_then(|first| first.probability);
    Ballot { diagnosis: diagnosis.primary.clone(), confidence, score: None }
}

/// The last `limit` characters of a text.
fn clip_start(text: &str, limit: usize) -> String {
    let count = text.chars().count();
    if count <= limit {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - limit).collect();
    format!("…{tail}")
}

#[async_trait]
impl DoctorActor for StrategicDoctor {
    async fn act(&self, view: &DoctorView) -> Result<Reply, ActorError> {
        let mut events = Vec::new();
        let mut additions = PromptAdditions { system: self.retrieve(view, &mut events).await?, user: String::new() };
        let mut reasoning = None;
        if self.strategies.cot {
            let text = self.reason(view, &additions, &mut events).await?;
            additions.user = self.base.prompts.render("doctor_notes.j2", minijinja::context! { reasoning => text })?;
            reasoning = Some(text);
        }
        let mut reply = self.base.act_with(view, &additions, None).await?;
        events.append(&mut reply.calls);
        if let Some(reasoning) = &reasoning {
            reply.text = without_private(&reply.text, reasoning);
        }
        let lead = reply
            .action
            .as_ref()
            .and_then(|action| action.diagnosis.clone())
            .or_else(|| action::parse_text(&reply.text).diagnosis);
        if let Some(lead) = lead
            && self.strategies.votes()
            && let Some((outcome, method)) = self.decide(view, &additions, &lead, &mut events).await?
        {
            let total: u32 = outcome.tallies.iter().map(|tally| tally.votes).sum();
            let differential = outcome
                .tallies
                .iter()
                .map(|tally| Differential {
                    diagnosis: tally.diagnosis.clone(),
                    probability: Some(f64::from(tally.votes) / f64::from(total.max(1))),
                })
                .collect();
            events.push(EventKind::Vote {
                turn: view.turn,
                method: method.into(),
                lead: lead.primary.clone(),
                tallies: outcome.tallies.clone(),
                chosen: outcome.chosen.clone(),
                reason: outcome.reason.clone(),
            });
            reply.text = format!("DIAGNOSIS READY: {}", outcome.chosen);
            reply.action = Some(DoctorAction {
                diagnosis: Some(Diagnosis { primary: outcome.chosen, differential }),
                ..DoctorAction::default()
            });
        }
        reply.calls = events;
        Ok(reply)
    }

    fn describe(&self) -> String {
        if self.strategies.is_baseline() {
            self.base.describe()
        } else {
            format!("{} [{}]", self.base.describe(), self.strategies)
        }
    }

    fn sees_images(&self) -> bool {
        self.base.sees_images()
    }
}

/// Writes experience memory after each verdict of a learning run.
pub struct Learner {
    /// The memory being built.
    pub memory: Arc<RwLock<Memory>>,
    /// Embeds entries.
    pub embedder: SharedEmbedder,
    /// The dataset's name, stored with each entry.
    pub dataset: String,
    /// Reflect on wrong verdicts.
    pub reflection: bool,
    /// Show the retry the lesson as written, answer and all (MedAgentSim's filter).
    pub unmasked: bool,
}

/// A training episode as the learner sees it, after its verdict.
pub struct Lesson<'a> {
    /// The case id.
    pub case_id: &'a str,
    /// The doctor's opening brief.
    pub presentation: &'a str,
    /// Position of the case in the training order.
    pub train_index: u32,
    /// The episode's events so far.
    pub events: &'a [Event],
    /// The verdict.
    pub verdict: &'a Verdict,
}

impl Learner {
    async fn embed(&self, text: &str) -> Result<Vec<f32>, ActorError> {
        let mut vectors = self
            .embedder
            .embed(&[text.to_owned()])
            .await
            .map_err(|source| ActorError::Model { role: "memory embedder", source })?;
        vectors.pop().ok_or_else(|| ActorError::NoVector(self.embedder.name()))
    }

    /// Embeds `key`, writes the entry for the lesson's case, and returns the event saying so.
    async fn remember(
        &self,
        buffer: Buffer,
        lesson: &Lesson<'_>,
        key: String,
        text: String,
    ) -> Result<EventKind, ActorError> {
        let vector = self.embed(&key).await?;
        let entry = Entry {
            id: 0,
            buffer,
            dataset: self.dataset.clone(),
            case_id: lesson.case_id.to_owned(),
            train_index: lesson.train_index,
            key,
            text,
        };
        let id = self.memory.write().expect("memory lock").add(entry, &vector)?;
        Ok(EventKind::MemoryWrite { buffer: buffer.as_str().into(), entry: id })
    }

    /// After a verdict: a correct diagnosis is stored as a record; a wrong one, with
    /// reflection on, is reflected on and its lesson stored if the retry is correct. Returns
    /// the events to add to the episode.
    pub async fn after_verdict(
        &self,
        seat: &ModelSeat,
        prompts: &PromptSet,
        judge: &dyn JudgeActor,
        lesson: Lesson<'_>,
    ) -> Result<Vec<EventKind>, ActorError> {
        let mut events = Vec::new();
        let verdict = lesson.verdict;
        if verdict.correct {
            let (key, text) = record_of(lesson.presentation, lesson.events, &verdict.diagnosis);
            events.push(self.remember(Buffer::Record, &lesson, key, text).await?);
            return Ok(events);
        }
        if !self.reflection {
            return Ok(events);
        }
        let reflected =
            reflect(seat, prompts, judge, lesson.events, &verdict.diagnosis, &verdict.ground_truth, !self.unmasked)
                .await?;
        events.extend(reflected.events);
        if reflected.retry_correct {
            let key = format!("{}\n{}", lesson.presentation, reflected.lesson);
            let text =
                format!("{} (from a patient presenting as: {})", reflected.lesson, clip(lesson.presentation, 150));
            events.push(self.remember(Buffer::Experience, &lesson, key, text).await?);
        }
        Ok(events)
    }
}

/// What reflection produced.
pub struct Reflected {
    /// The lesson.
    pub lesson: String,
    /// Whether the retry with the lesson was judged correct.
    pub retry_correct: bool,
    /// Model calls and the `Reflection` event.
    pub events: Vec<EventKind>,
}

/// Reflection on a wrong verdict (learning mode only): the doctor sees its transcript and the
/// correct diagnosis and writes a lesson; then, shown the transcript and the lesson but not the
/// answer, it retries the final diagnosis, which the judge rules on.
pub async fn reflect(
    seat: &ModelSeat,
    prompts: &PromptSet,
    judge: &dyn JudgeActor,
    events: &[Event],
    wrong: &str,
    correct: &str,
    mask: bool,
) -> Result<Reflected, ActorError> {
    let transcript = clip_start(&transcript_of(events), 3000);
    let mut seat = seat.clone();
    seat.max_tokens = seat.max_tokens.max(200);
    let mut out = Vec::new();
    let system = prompts.render("reflect.j2", minijinja::context! {})?;
    let user = prompts.render(
        "reflect_user.j2",
        minijinja::context! { transcript => transcript, diagnosis => if wrong.is_empty() { "(none given)" } else { wrong }, correct => correct },
    )?;
    let reply = seat.call(system, Message::user(user), prompts.label("reflect.j2")).await?;
    out.extend(reply.calls);
    let lesson = reply.text;
    // The retry is shown the lesson with the answer blanked out: a retry that is right only
    // because the lesson names the diagnosis would say nothing about the lesson.
    let shown = if mask { redact(&lesson, correct) } else { lesson.clone() };
    let system = prompts.render("retry.j2", minijinja::context! {})?;
    let user = prompts.render("retry_user.j2", minijinja::context! { transcript => transcript, lesson => shown })?;
    let reply = seat.call(system, Message::user(user), prompts.label("retry.j2")).await?;
    out.extend(reply.calls);
    let retry = action::parse_text(&reply.text).diagnosis.or_else(|| {
        parse_differential(&reply.text)
            .into_iter()
            .next()
            .map(|entry| Diagnosis { primary: entry.diagnosis, differential: Vec::new() })
    });
    let (retry_text, retry_correct) = match retry {
        Some(diagnosis) => {
            let (verdict, calls) = judge.judge(&diagnosis, &reply.text).await?;
            out.extend(calls);
            (diagnosis.primary, verdict.correct)
        }
        None => (String::new(), false),
    };
    out.push(EventKind::Reflection { lesson: lesson.clone(), retry: retry_text, retry_correct, stored: retry_correct });
    Ok(Reflected { lesson, retry_correct, events: out })
}

/// The text with every mention of the diagnosis (up to case, punctuation, plurals, word order,
/// and its parenthetical or alternative forms) replaced by `[the correct diagnosis]`, and so is
/// every abbreviation of it: one spelled by the diagnosis's words (`IBS`, `DKA`), or one the text
/// defines next to a mention (`… syndrome (XYZ)`, `XYZ (… syndrome)`).
pub fn redact(text: &str, diagnosis: &str) -> String {
    const MASK: &str = "[the correct diagnosis]";
    let forms = medsim_core::matching::variants(diagnosis);
    let mut out = text.to_owned();
    // Each pass blanks one mention (bounded, in case a diagnosis's words are the mask's own).
    for _ in 0..64 {
        let Some((span, _)) = medsim_core::matching::find_span(&forms, &out) else { break };
        out.replace_range(span, MASK);
    }
    let words = medsim_core::matching::word_spans(&out);
    let defined = |start: usize, end: usize| {
        let (before, after) = (out[..start].trim_end(), out[end..].trim_start());
        (before.ends_with(&format!("{MASK} (")) && after.starts_with(')')) || after.starts_with(&format!("({MASK}"))
    };
    let aliases: Vec<String> = words
        .iter()
        .map(|&(start, end)| (start, end, &out[start..end]))
        .filter(|&(start, end, word)| {
            let capitals = word.chars().filter(char::is_ascii_uppercase).count();
            (capitals >= 2 && defined(start, end)) || medsim_core::matching::abbreviates(word, diagnosis)
        })
        .map(|(_, _, word)| word.to_owned())
        .collect();
    let spans: Vec<(usize, usize)> =
        words.into_iter().filter(|&(start, end)| aliases.iter().any(|alias| *alias == out[start..end])).collect();
    for (start, end) in spans.into_iter().rev() {
        out.replace_range(start..end, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_blanked_out_of_a_lesson() {
        assert_eq!(
            redact(
                "The correct diagnosis is Myasthenia gravis; next time test for myasthenia GRAVIS early.",
                "Myasthenia gravis"
            ),
            "The correct diagnosis is [the correct diagnosis]; next time test for [the correct diagnosis] early."
        );
        assert_eq!(
            redact("Think of PML in immunosuppressed patients.", "Progressive multifocal encephalopathy (PML)"),
            "Think of [the correct diagnosis] in immunosuppressed patients."
        );
        assert_eq!(redact("Ask about travel.", "Pulmonary embolism"), "Ask about travel.");
    }

    #[test]
    fn abbreviations_of_the_answer_are_blanked_too() {
        // The lesson of the 1.5B ablation's training case 23: the mask left "(IBS)" visible, the
        // retry answered "IBS", and the lesson was stored (docs/results/ablation-1.5b.md).
        assert_eq!(
            redact(
                "The correct diagnosis was Irritable Bowel Syndrome (IBS). Consider IBS when tests are normal.",
                "Irritable bowel syndrome"
            ),
            "The correct diagnosis was [the correct diagnosis] ([the correct diagnosis]). Consider [the correct diagnosis] when tests are normal."
        );
        // A lesson the fix was not written from (training case 30 of the same run), abridged.
        assert_eq!(
            redact(
                "This is a classic sign of respiratory distress syndrome (RDS). The chest X-ray test was the correct one to use to diagnose RDS.",
                "Respiratory Distress Syndrome"
            ),
            "This is a classic sign of [the correct diagnosis] ([the correct diagnosis]). The chest X-ray test was the correct one to use to diagnose [the correct diagnosis]."
        );
        // Spelled from inside the words, and in the plural.
        assert_eq!(
            redact("Missed DKA; recurrent DKAs.", "Diabetic ketoacidosis"),
            "Missed [the correct diagnosis]; recurrent [the correct diagnosis]."
        );
        // An abbreviation the lesson itself defines, either way round (a one-word diagnosis never
        // gets one from its own letters).
        assert_eq!(
            redact("Think of tuberculosis (TB); TB needs a sputum smear.", "Tuberculosis"),
            "Think of [the correct diagnosis] ([the correct diagnosis]); [the correct diagnosis] needs a sputum smear."
        );
        assert_eq!(
            redact("Think of TB (tuberculosis) in migrants; TB can mimic cancer.", "Tuberculosis"),
            "Think of [the correct diagnosis] ([the correct diagnosis]) in migrants; [the correct diagnosis] can mimic cancer."
        );
        assert_eq!(
            redact("Think of GBS (Guillain-Barre syndrome) after diarrhoea.", "Guillain-Barre syndrome"),
            "Think of [the correct diagnosis] ([the correct diagnosis]) after diarrhoea."
        );
        // Other capitals stay: the tests the lesson recommends are the lesson.
        assert_eq!(
            redact("Order a CT and a CBC before calling it cholecystitis.", "Cholecystitis"),
            "Order a CT and a CBC before calling it [the correct diagnosis]."
        );
    }

    #[test]
    fn copied_reasoning_is_cut_from_the_reply() {
        let reasoning = "Likely angina; ask about exertion.";
        assert_eq!(
            without_private(
                "Does it come on when you walk? Your private reasoning for this turn (no one else sees it): Likely angina",
                reasoning
            ),
            "Does it come on when you walk?"
        );
        assert_eq!(
            without_private("Likely angina; ask about exertion. When did it start?", reasoning),
            "When did it start?"
        );
        assert_eq!(without_private("Likely angina; ask about exertion.", reasoning), "Please go on.");
    }
}
