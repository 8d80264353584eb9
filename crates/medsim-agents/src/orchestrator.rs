//! The orchestrator doctor (strategy `dxo`), in the spirit of MAI-DxO: in every turn a team
//! deliberates and code decides.
//!
//! - the **hypothesis keeper** keeps a ranked differential with probabilities;
//! - the **test chooser** proposes the tests that best tell the leading diagnoses apart, and a
//!   question for the patient;
//! - the **challenger** looks for what the leader does not explain and proposes a test that could
//!   disprove it;
//! - the **steward** keeps, replaces with a cheaper equivalent, or vetoes each proposed test;
//! - the **checklist** (code) drops tests already done, repeated, or whose names the measurement
//!   lexicon does not recognise, and the **budget** drops what the case can no longer pay for.
//!
//! The decision is computed from their outputs: diagnose when the turns run out, or when the
//! leader reaches the threshold once the patient has been asked something; ask first while no
//! question has been asked; otherwise order
//! what survived stewardship; otherwise ask; otherwise diagnose. Each role's output is an
//! `opinion` event and the decision a `deliberation` event, both private to the doctor. The
//! team sees what the doctor sees (presentation, dialogue, results) and nothing else; the
//! ground truth never reaches it.

use std::sync::Mutex;

use async_trait::async_trait;
use medsim_core::action::{Diagnosis, Differential, DoctorAction, normal};
use medsim_core::prices::PriceTable;
use medsim_core::transcript::{EventKind, Removal};
use medsim_llm::types::Message;
use serde_json::{Value, json};

use crate::memory::clip;
use crate::strategy::DxoStrategy;
use crate::vote::parse_differential;
use crate::{ActorError, DoctorActor, DoctorView, ModelDoctor, Reply};

/// The orchestrator doctor. One per episode (it remembers the questions it asked).
pub struct DxoDoctor {
    /// The plain doctor: its seat and prompts serve the team, and it acts itself when the
    /// team gives nothing usable.
    pub base: ModelDoctor,
    /// Threshold and tests per turn.
    pub settings: DxoStrategy,
    asked: Mutex<Vec<String>>,
}

/// The steward's word on one test.
#[derive(Debug, Clone, PartialEq)]
enum Stewardship {
    Keep,
    Replace(String, String),
    Veto(String),
}

/// A JSON object from a reply: the whole text, or the first `{…}` in it.
fn json_of(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text.trim()) {
        return Some(value);
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    serde_json::from_str(text.get(start..=end)?).ok()
}

fn string_field(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty() && !text.eq_ignore_ascii_case("none"))
}

/// The keeper's differential: JSON, or a ranked list in prose.
fn read_differential(text: &str) -> Vec<Differential> {
    let from_json: Vec<Differential> = json_of(text)
        .and_then(|value| value.get("differential").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|item| {
            let diagnosis = string_field(item, "diagnosis")?;
            let probability =
                item.get("probability").and_then(Value::as_f64).map(|p| if p > 1.0 { p / 100.0 } else { p });
            Some(Differential { diagnosis, probability: probability.map(|p| p.clamp(0.0, 1.0)) })
        })
        .collect();
    let mut differential =
        if from_json.is_empty() && json_of(text).is_none() { parse_differential(text) } else { from_json };
    differential.retain(|entry| !entry.diagnosis.trim().is_empty());
    // Most probable first, whatever order they came in.
    differential.sort_by(|a, b| {
        b.probability.unwrap_or(0.0).partial_cmp(&a.probability.unwrap_or(0.0)).unwrap_or(std::cmp::Ordering::Equal)
    });
    differential
}

/// `TEST: name` and `QUESTION: text` lines, for replies that are not JSON.
fn prefixed_lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches(['-', '*', ' ']);
            let (head, rest) = line.split_once(':')?;
            (head.trim().eq_ignore_ascii_case(prefix)).then(|| rest.trim().trim_matches('*').trim().to_owned())
        })
        .filter(|rest| !rest.is_empty())
        .collect()
}

fn read_chooser(text: &str) -> (Vec<String>, Option<String>) {
    match json_of(text) {
        Some(value) => {
            let tests = value
                .get("tests")
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(|item| item.as_str().map(|test| test.trim().to_owned())).collect())
                .unwrap_or_default();
            (tests, string_field(&value, "question"))
        }
        None => (prefixed_lines(text, "test"), prefixed_lines(text, "question").into_iter().next()),
    }
}

fn read_challenger(text: &str) -> (Option<String>, String) {
    match json_of(text) {
        Some(value) => {
            let challenge = [("against", "does not explain"), ("alternative", "alternative")]
                .iter()
                .filter_map(|(key, label)| string_field(&value, key).map(|text| format!("{label}: {text}")))
                .collect::<Vec<_>>()
                .join("; ");
            (string_field(&value, "test"), challenge)
        }
        None => (prefixed_lines(text, "test").into_iter().next(), clip(text.trim(), 300)),
    }
}

fn read_steward(text: &str) -> Vec<(String, Stewardship)> {
    if let Some(value) = json_of(text) {
        return value
            .get("decisions")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let test = string_field(item, "test")?;
                        let reason = string_field(item, "reason").unwrap_or_default();
                        let word = match string_field(item, "action")?.to_lowercase().as_str() {
                            "keep" => Stewardship::Keep,
                            "veto" => Stewardship::Veto(reason),
                            "replace" => Stewardship::Replace(string_field(item, "replacement")?, reason),
                            _ => return None,
                        };
                        Some((test, word))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    let mut words = Vec::new();
    for rest in prefixed_lines(text, "veto") {
        let (test, reason) = rest.split_once(['—', '|']).unwrap_or((&rest, ""));
        words.push((test.trim().to_owned(), Stewardship::Veto(reason.trim().to_owned())));
    }
    for rest in prefixed_lines(text, "replace") {
        if let Some((test, cheaper)) = rest.split_once("->") {
            words.push((test.trim().to_owned(), Stewardship::Replace(cheaper.trim().to_owned(), String::new())));
        }
    }
    words
}

impl DxoDoctor {
    /// An orchestrator around a model doctor.
    pub fn new(base: ModelDoctor, settings: DxoStrategy) -> DxoDoctor {
        DxoDoctor { base, settings, asked: Mutex::new(Vec::new()) }
    }

    /// One team member's call; its output becomes an `opinion` event.
    #[allow(clippy::too_many_arguments)]
    async fn member(
        &self,
        member: u32,
        stance: &str,
        template: &str,
        context: &minijinja::Value,
        schema: Value,
        view: &DoctorView,
        events: &mut Vec<EventKind>,
    ) -> Result<String, ActorError> {
        // The consultation comes first and is the same for every member (and grows turn by turn):
        // a prefix cache reads it once; each member's instruction follows it.
        let system = self.base.prompts.render("dxo_team.j2", context.clone())?;
        let user = self
            .base
            .prompts
            .render(template, minijinja::context! { tests => self.settings.tests, ..context.clone() })?;
        let mut seat = self.base.seat.clone();
        seat.max_tokens = seat.max_tokens.max(256);
        let reply =
            seat.call_json(system, Message::user(user), self.base.prompts.label(template), stance, schema).await?;
        events.extend(reply.calls);
        let differential = if member == 0 { read_differential(&reply.text) } else { Vec::new() };
        events.push(EventKind::Opinion {
            turn: view.turn,
            member,
            stance: stance.into(),
            round: 1,
            differential,
            text: reply.text.clone(),
        });
        Ok(reply.text)
    }

    fn context(
        &self,
        view: &DoctorView,
        differential: &[Differential],
        challenge: &str,
        proposed: &[(String, f64)],
    ) -> minijinja::Value {
        let transcript = format!("{}\n{}", view.history, view.response);
        let count = transcript.chars().count();
        let transcript: String = if count > 3000 {
            format!("…{}", transcript.chars().skip(count - 3000).collect::<String>())
        } else {
            transcript
        };
        let differential = differential
            .iter()
            .map(|entry| match entry.probability {
                Some(p) => format!("{} ({:.0} %)", entry.diagnosis, p * 100.0),
                None => entry.diagnosis.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let proposed: Vec<minijinja::Value> = proposed
            .iter()
            .map(|(name, price)| minijinja::context! { name => name, price => format!("{price:.0}") })
            .collect();
        minijinja::context! {
            presentation => view.presentation,
            notes => view.notes,
            transcript => transcript.trim(),
            done => view.ordered_tests.join(", "),
            differential => differential,
            challenge => challenge,
            proposed => proposed,
            spending => view.cost.as_ref().map(|cost| cost.spending()).unwrap_or_default(),
            turn => view.turn,
            max_turns => view.max_turns,
        }
    }

    fn diagnose(differential: &[Differential]) -> Reply {
        let primary = differential[0].diagnosis.clone();
        Reply {
            text: format!("DIAGNOSIS READY: {primary}"),
            calls: Vec::new(),
            action: Some(DoctorAction {
                diagnosis: Some(Diagnosis { primary, differential: differential.to_vec() }),
                ..DoctorAction::default()
            }),
        }
    }

    /// The checklist: tests already done or proposed twice, and names the measurement lexicon
    /// does not recognise, are taken out.
    fn checklist(
        view: &DoctorView,
        prices: &PriceTable,
        proposed: &[String],
        removed: &mut Vec<Removal>,
    ) -> Vec<String> {
        let mut kept: Vec<String> = Vec::new();
        let mut seen_items: Vec<String> = Vec::new();
        for test in proposed {
            let priced = prices.price(test);
            let reason = if test.trim().is_empty() {
                Some("empty name".to_owned())
            } else if view.ordered_tests.contains(&normal(test)) {
                Some("already done in this consultation".to_owned())
            } else if kept.iter().any(|other| normal(other) == normal(test))
                || (priced.category != "other" && !priced.estimated && seen_items.contains(&priced.item))
            {
                Some("proposed twice".to_owned())
            } else if priced.category == "other" {
                Some("the measurement lexicon does not recognise this test name".to_owned())
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    removed.push(Removal { test: test.clone(), by: "checklist".into(), reason, replacement: None })
                }
                None => {
                    seen_items.push(priced.item.clone());
                    kept.push(test.clone());
                }
            }
        }
        kept
    }

    /// The steward's words applied: vetoes taken out, replacements made when the replacement is
    /// cheaper and passes the checklist; tests it did not mention are kept.
    fn steward(
        view: &DoctorView,
        prices: &PriceTable,
        tests: Vec<String>,
        words: &[(String, Stewardship)],
        removed: &mut Vec<Removal>,
    ) -> Vec<String> {
        let mut kept = Vec::new();
        for test in tests {
            let word = words.iter().find(|(named, _)| normal(named) == normal(&test)).map(|(_, word)| word.clone());
            match word {
                Some(Stewardship::Veto(reason)) => removed.push(Removal {
                    test,
                    by: "steward".into(),
                    reason: if reason.is_empty() { "low value".into() } else { reason },
                    replacement: None,
                }),
                Some(Stewardship::Replace(cheaper, reason)) => {
                    let mut probe = Vec::new();
                    let valid = Self::checklist(view, prices, std::slice::from_ref(&cheaper), &mut probe);
                    if !valid.is_empty() && prices.price(&cheaper).price < prices.price(&test).price {
                        removed.push(Removal {
                            test,
                            by: "steward".into(),
                            reason: if reason.is_empty() { "a cheaper equivalent".into() } else { reason },
                            replacement: Some(cheaper.clone()),
                        });
                        if !kept.iter().any(|other: &String| normal(other) == normal(&cheaper)) {
                            kept.push(cheaper);
                        }
                    } else {
                        kept.push(test);
                    }
                }
                Some(Stewardship::Keep) | None => kept.push(test),
            }
        }
        kept
    }

    /// What the budget and the per-turn limit let through, in order.
    fn affordable(
        &self,
        view: &DoctorView,
        prices: &PriceTable,
        tests: Vec<String>,
        removed: &mut Vec<Removal>,
    ) -> Vec<String> {
        let mut left = view.cost.as_ref().and_then(|cost| cost.remaining());
        let mut kept = Vec::new();
        for test in tests {
            let price = prices.price(&test).price;
            if kept.len() >= self.settings.tests {
                removed.push(Removal {
                    test,
                    by: "limit".into(),
                    reason: format!("at most {} tests a turn", self.settings.tests),
                    replacement: None,
                });
            } else if left.is_some_and(|left| price > left + 1e-9) {
                removed.push(Removal {
                    test,
                    by: "budget".into(),
                    reason: format!("costs ${price:.0}, ${:.0} of the budget left", left.unwrap_or(0.0).max(0.0)),
                    replacement: None,
                });
            } else {
                left = left.map(|left| left - price);
                kept.push(test);
            }
        }
        kept
    }
}

fn deliberation(
    view: &DoctorView,
    decision: &str,
    reason: String,
    leading: Option<&Differential>,
    proposed: &[String],
    removed: Vec<Removal>,
    ordered: &[String],
) -> EventKind {
    EventKind::Deliberation {
        turn: view.turn,
        decision: decision.into(),
        reason,
        leading: leading.cloned(),
        proposed: proposed.to_vec(),
        removed,
        ordered: ordered.to_vec(),
    }
}

#[async_trait]
impl DoctorActor for DxoDoctor {
    async fn act(&self, view: &DoctorView) -> Result<Reply, ActorError> {
        let mut events = Vec::new();
        let builtin;
        let prices: &PriceTable = match &view.cost {
            Some(cost) => &cost.prices,
            None => {
                builtin = PriceTable::builtin();
                &builtin
            }
        };
        // The hypothesis keeper.
        let keeper_schema = json!({"type": "object", "properties": {"differential": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"type": "object", "properties": {"diagnosis": {"type": "string", "maxLength": 120}, "probability": {"type": "number", "minimum": 0, "maximum": 1}}, "required": ["diagnosis", "probability"], "additionalProperties": false}}}, "required": ["differential"], "additionalProperties": false});
        let context = self.context(view, &[], "", &[]);
        let text =
            self.member(0, "hypothesis-keeper", "dxo_keeper.j2", &context, keeper_schema, view, &mut events).await?;
        let differential = read_differential(&text);
        let Some(leading) = differential.first().cloned() else {
            // Nothing usable: the plain doctor acts, and the record says so.
            let mut reply = self.base.act(view).await?;
            events.append(&mut reply.calls);
            events.push(deliberation(
                view,
                "fallback",
                "the hypothesis keeper named no diagnosis".into(),
                None,
                &[],
                Vec::new(),
                &[],
            ));
            reply.calls = events;
            return Ok(reply);
        };
        let probability = leading.probability.unwrap_or(0.0);
        // The threshold counts once the patient has been heard: a small model is sure of itself
        // from the presentation alone.
        let heard = !self.asked.lock().expect("asked").is_empty();
        if view.must_diagnose || view.final_turn || (heard && probability >= self.settings.threshold) {
            let reason = if heard && probability >= self.settings.threshold {
                format!(
                    "the leader {} is at {:.0} %, at or above the threshold of {:.0} %",
                    leading.diagnosis,
                    probability * 100.0,
                    self.settings.threshold * 100.0
                )
            } else {
                "no turns are left".to_owned()
            };
            events.push(deliberation(view, "diagnose", reason, Some(&leading), &[], Vec::new(), &[]));
            let mut reply = Self::diagnose(&differential);
            reply.calls = events;
            return Ok(reply);
        }
        // The test chooser and the challenger, side by side.
        let context = self.context(view, &differential, "", &[]);
        let chooser_schema = json!({"type": "object", "properties": {"tests": {"type": "array", "maxItems": self.settings.tests, "items": {"type": "string", "maxLength": 80}}, "question": {"type": "string", "maxLength": 300}}, "required": ["tests", "question"], "additionalProperties": false});
        let challenger_schema = json!({"type": "object", "properties": {"against": {"type": "string", "maxLength": 200}, "alternative": {"type": "string", "maxLength": 120}, "test": {"type": "string", "maxLength": 80}}, "required": ["against", "alternative", "test"], "additionalProperties": false});
        let mut chooser_events = Vec::new();
        let mut challenger_events = Vec::new();
        let (chooser, challenger) = futures::future::join(
            self.member(1, "test-chooser", "dxo_chooser.j2", &context, chooser_schema, view, &mut chooser_events),
            self.member(
                2,
                "challenger",
                "dxo_challenger.j2",
                &context,
                challenger_schema,
                view,
                &mut challenger_events,
            ),
        )
        .await;
        events.append(&mut chooser_events);
        events.append(&mut challenger_events);
        let (mut tests, question) = read_chooser(&chooser?);
        let (disconfirming, challenge) = read_challenger(&challenger?);
        // Each member's first pick goes ahead of the rest: the chooser's best test, the
        // challenger's disconfirming test, then the chooser's others (the per-turn limit cuts
        // from the end).
        if let Some(test) = disconfirming {
            tests.insert(tests.len().min(1), test);
        }
        let asked_before =
            |question: &str| self.asked.lock().expect("asked").iter().any(|asked| normal(asked) == normal(question));
        let fresh_question = question.filter(|question| !asked_before(question));
        if !heard && let Some(question) = &fresh_question {
            events.push(deliberation(
                view,
                "ask",
                "no question has been asked yet; history comes before tests".into(),
                Some(&leading),
                &tests,
                Vec::new(),
                &[],
            ));
            return Ok(self.ask(question, events));
        }
        let mut removed = Vec::new();
        let candidates = Self::checklist(view, prices, &tests, &mut removed);
        let mut ordered = Vec::new();
        if !candidates.is_empty() {
            let priced: Vec<(String, f64)> =
                candidates.iter().map(|test| (test.clone(), prices.price(test).price)).collect();
            let context = self.context(view, &differential, &challenge, &priced);
            let steward_schema = json!({"type": "object", "properties": {"decisions": {"type": "array", "maxItems": candidates.len(), "items": {"type": "object", "properties": {"test": {"type": "string", "maxLength": 80}, "action": {"type": "string", "enum": ["keep", "replace", "veto"]}, "replacement": {"type": "string", "maxLength": 80}, "reason": {"type": "string", "maxLength": 200}}, "required": ["test", "action", "replacement", "reason"], "additionalProperties": false}}}, "required": ["decisions"], "additionalProperties": false});
            let words = read_steward(
                &self.member(3, "steward", "dxo_steward.j2", &context, steward_schema, view, &mut events).await?,
            );
            let stewarded = Self::steward(view, prices, candidates, &words, &mut removed);
            ordered = self.affordable(view, prices, stewarded, &mut removed);
        }
        if !ordered.is_empty() {
            let reason = format!(
                "{} of {} proposed test(s) passed the checklist, the steward and the budget",
                ordered.len(),
                tests.len()
            );
            events.push(deliberation(view, "order", reason, Some(&leading), &tests, removed, &ordered));
            let text = format!("REQUEST TEST: {}", ordered.join(", "));
            return Ok(Reply {
                text,
                calls: events,
                action: Some(DoctorAction { tests: ordered, ..DoctorAction::default() }),
            });
        }
        if let Some(question) = &fresh_question {
            events.push(deliberation(
                view,
                "ask",
                "no proposed test survived; a new question instead".into(),
                Some(&leading),
                &tests,
                removed,
                &[],
            ));
            return Ok(self.ask(question, events));
        }
        let reason =
            format!("nothing new to ask or order; the leader {} is at {:.0} %", leading.diagnosis, probability * 100.0);
        events.push(deliberation(view, "diagnose", reason, Some(&leading), &tests, removed, &[]));
        let mut reply = Self::diagnose(&differential);
        reply.calls = events;
        Ok(reply)
    }

    fn describe(&self) -> String {
        format!("{} [dxo:threshold={}:tests={}]", self.base.describe(), self.settings.threshold, self.settings.tests)
    }

    fn sees_images(&self) -> bool {
        false
    }
}

impl DxoDoctor {
    fn ask(&self, question: &str, events: Vec<EventKind>) -> Reply {
        self.asked.lock().expect("asked").push(question.to_owned());
        Reply {
            text: question.to_owned(),
            calls: events,
            action: Some(DoctorAction { question: Some(question.to_owned()), ..DoctorAction::default() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_replies_are_read_as_json_or_as_lines() {
        let differential = read_differential(
            r#"{"differential": [{"diagnosis": "Gout", "probability": 0.3}, {"diagnosis": "Septic arthritis", "probability": 0.6}]}"#,
        );
        assert_eq!(differential[0].diagnosis, "Septic arthritis", "most probable first");
        assert_eq!(read_differential("1. Pneumonia (70%)\n2. Bronchitis (20%)")[0].probability, Some(0.7));
        let (tests, question) =
            read_chooser(r#"{"tests": ["Serum lipase", "CT abdomen"], "question": "Do you drink?"}"#);
        assert_eq!((tests.len(), question.as_deref()), (2, Some("Do you drink?")));
        let (tests, question) = read_chooser("TEST: Lipase\n- TEST: CT abdomen\nQUESTION: Any alcohol?");
        assert_eq!(tests, ["Lipase", "CT abdomen"]);
        assert_eq!(question.as_deref(), Some("Any alcohol?"));
        let words = read_steward(
            r#"{"decisions": [{"test": "CT abdomen", "action": "veto", "replacement": "", "reason": "lipase first"}]}"#,
        );
        assert_eq!(words, [("CT abdomen".to_owned(), Stewardship::Veto("lipase first".into()))]);
        assert_eq!(read_steward("VETO: MRI head — not indicated")[0].0, "MRI head");
        assert!(read_differential("").is_empty());
    }
}
