//! Run directories as training data, in the formats TRL documents: `sft` (conversational
//! messages with tool calls, and the tools' JSON Schemas), `dpo` (prompt / chosen / rejected),
//! `kto` (prompt / completion / label) and `grpo` (prompts only).
//!
//! Everything is the doctor's view: the case's brief, the doctor's tool calls and what came back
//! to it. Nothing the doctor did not see (the diagnosis, the judge's reasoning) is in a row. A
//! run that records a train/test split exports only its training cases; every row carries its
//! run id and case id.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use medsim_core::action::DoctorAction;
use medsim_core::transcript::{EventKind, RoleName};
use serde::Serialize;
use serde_json::{Value, json};

use crate::manifest::RunManifest;
use crate::run::RunError;
use crate::runlog::{EpisodeRecord, Outcome, RunDir};

/// The system message of every exported conversation.
pub const SYSTEM: &str = "You are a doctor in a consultation with a patient. Use the tools: ask the patient one question at a time, order examinations or tests, request images, and when you are confident, diagnose with one primary diagnosis and an optional ranked differential.";

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Supervised fine-tuning: `messages` and `tools`.
    Sft,
    /// Preference pairs: `prompt`, `chosen`, `rejected`.
    Dpo,
    /// Unpaired preferences: `prompt`, `completion`, `label`.
    Kto,
    /// Prompts for online RL: `prompt`, `case_id`, `split`.
    Grpo,
}

/// What an export wrote.
#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    /// Rows written.
    pub rows: usize,
    /// Episodes read.
    pub episodes: usize,
    /// Episodes left out because their case is held out by the run's split.
    pub held_out: usize,
    /// Episodes left out for their outcome (errors; incorrect ones for `sft`).
    pub skipped: usize,
}

/// One episode as the doctor saw it.
struct Conversation {
    run_id: String,
    case_id: String,
    repeat: u32,
    correct: bool,
    messages: Vec<Value>,
}

/// The doctor's tools as chat templates take them.
pub fn tools() -> Vec<Value> {
    medsim_agents::doctor_tools()
        .into_iter()
        .map(|tool| json!({"type": "function", "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters}}))
        .collect()
}

/// The tool call a doctor action was, with its arguments.
fn tool_call(action: &DoctorAction) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    if let Some(diagnosis) = &action.diagnosis {
        let differential: Vec<Value> = diagnosis
            .differential
            .iter()
            .map(|item| json!({"diagnosis": item.diagnosis, "probability": item.probability}))
            .collect();
        calls.push(("diagnose".to_owned(), json!({"primary": diagnosis.primary, "differential": differential})));
        return calls;
    }
    if let Some(question) = &action.question {
        calls.push(("ask".to_owned(), json!({"question": question})));
    }
    if !action.tests.is_empty() {
        calls.push(("order_tests".to_owned(), json!({"tests": action.tests})));
    }
    if action.images {
        calls.push(("request_images".to_owned(), json!({})));
    }
    calls
}

/// One turn: the doctor's tool calls, and what came back (by tool).
type Turn = (Vec<(String, Value)>, Vec<(&'static str, String)>);

/// The doctor's conversation in one episode: system, the brief, then per turn the doctor's tool
/// calls and what came back from each.
fn conversation(run_id: &str, record: &EpisodeRecord) -> Conversation {
    let mut messages = vec![json!({"role": "system", "content": SYSTEM})];
    // Per turn: the calls made, and what came back, in order.
    let mut turns: BTreeMap<u32, Turn> = BTreeMap::new();
    for event in &record.episode.events {
        match &event.kind {
            EventKind::EpisodeStarted { objective, .. } => {
                messages.push(json!({"role": "user", "content": objective}));
            }
            EventKind::DoctorAction { turn, action } => turns.entry(*turn).or_default().0 = tool_call(action),
            EventKind::Utterance { role: RoleName::Patient, text, turn } => {
                turns.entry(*turn).or_default().1.push(("ask", text.clone()));
            }
            EventKind::TestResults { turn, text, .. } => {
                turns.entry(*turn).or_default().1.push(("order_tests", text.clone()));
            }
            EventKind::ImageRequest { turn, sent, note } => {
                let text = note.clone().unwrap_or_else(|| format!("{sent} image(s) shown."));
                turns.entry(*turn).or_default().1.push(("request_images", text));
            }
            EventKind::RepeatedAction { turn, first_turn, .. } => {
                let text = format!("You already did this at turn {first_turn}; the answer is the same.");
                turns.entry(*turn).or_default().1.push(("repeat", text));
            }
            _ => {}
        }
    }
    for (turn, (calls, results)) in turns {
        if calls.is_empty() {
            continue;
        }
        let tool_calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(index, (name, arguments))| {
                json!({"id": format!("call_{turn}_{index}"), "type": "function", "function": {"name": name, "arguments": arguments}})
            })
            .collect();
        messages.push(json!({"role": "assistant", "content": "", "tool_calls": tool_calls}));
        for (index, (name, _)) in calls.iter().enumerate() {
            if name == "diagnose" {
                continue;
            }
            let content: Vec<&str> = results
                .iter()
                .filter(|(tool, _)| *tool == name || *tool == "repeat")
                .map(|(_, text)| text.as_str())
                .collect();
            messages.push(json!({"role": "tool", "tool_call_id": format!("call_{turn}_{index}"), "name": name, "content": content.join("\n")}));
        }
    }
    Conversation {
        run_id: run_id.to_owned(),
        case_id: record.case_id.clone(),
        repeat: record.repeat,
        correct: record.outcome == Outcome::Correct,
        messages,
    }
}

/// The cases a run may export: all of them, or only the training part when it records a split.
fn exportable(manifest: &RunManifest) -> Option<HashSet<String>> {
    let split = manifest.split.as_ref()?;
    let train = split.get("train_cases")?.as_array()?;
    Some(train.iter().filter_map(|case| case.as_str().map(str::to_owned)).collect())
}

/// The conversations of the runs, held-out cases and failed episodes left out.
fn conversations(runs: &[PathBuf], report: &mut ExportReport) -> Result<Vec<Conversation>, RunError> {
    let mut out = Vec::new();
    for directory in runs {
        let run_dir = RunDir::new(directory);
        let manifest = RunManifest::read(&run_dir.run_json())?;
        let allowed = exportable(&manifest);
        // A learning-curve run evaluates the held-out part: none of it may train.
        let evaluation = matches!(manifest.kind, Some(crate::manifest::RunKind::LearningCurve));
        let run_id = manifest.run_id.clone();
        run_dir.visit_episodes(|record| {
            report.episodes += 1;
            let held_out = evaluation || allowed.as_ref().is_some_and(|allowed| !allowed.contains(&record.case_id));
            if held_out {
                report.held_out += 1;
            } else if record.outcome == Outcome::Error {
                report.skipped += 1;
            } else {
                out.push(conversation(&run_id, &record));
            }
        })?;
    }
    Ok(out)
}

/// The messages up to and including the case's brief.
fn prompt_of(messages: &[Value]) -> usize {
    messages.iter().position(|message| message["role"] == "user").map(|index| index + 1).unwrap_or(messages.len())
}

/// Writes the rows of `format` from the runs to `out` (JSON Lines). `include_incorrect` adds
/// incorrect episodes to `sft`.
pub fn export(runs: &[PathBuf], format: Format, out: &Path, include_incorrect: bool) -> Result<ExportReport, RunError> {
    let mut report = ExportReport::default();
    let conversations = conversations(runs, &mut report)?;
    let mut rows: Vec<Value> = Vec::new();
    let ids = |conversation: &Conversation| json!({"run_id": conversation.run_id, "case_id": conversation.case_id, "repeat": conversation.repeat});
    let with_ids = |mut row: Value, conversation: &Conversation| {
        if let (Some(row), Some(ids)) = (row.as_object_mut(), ids(conversation).as_object()) {
            row.extend(ids.clone());
        }
        row
    };
    match format {
        Format::Sft => {
            for conversation in &conversations {
                if !conversation.correct && !include_incorrect {
                    report.skipped += 1;
                    continue;
                }
                rows.push(with_ids(json!({"messages": conversation.messages, "tools": tools()}), conversation));
            }
        }
        Format::Kto => {
            for conversation in &conversations {
                let split = prompt_of(&conversation.messages);
                let (prompt, completion) = conversation.messages.split_at(split);
                rows.push(with_ids(
                    json!({"prompt": prompt, "completion": completion, "label": conversation.correct}),
                    conversation,
                ));
            }
        }
        Format::Grpo => {
            let mut seen = HashSet::new();
            for conversation in &conversations {
                if seen.insert((conversation.run_id.clone(), conversation.case_id.clone())) {
                    let split = prompt_of(&conversation.messages);
                    rows.push(json!({"prompt": &conversation.messages[..split], "case_id": conversation.case_id, "run_id": conversation.run_id, "split": "train"}));
                }
            }
        }
        Format::Dpo => {
            // Pairs of episodes of one case, one correct and one not: the prompt is their shared
            // beginning, chosen and rejected what follows.
            let mut by_case: BTreeMap<&str, (Vec<&Conversation>, Vec<&Conversation>)> = BTreeMap::new();
            for conversation in &conversations {
                let entry = by_case.entry(&conversation.case_id).or_default();
                if conversation.correct { entry.0.push(conversation) } else { entry.1.push(conversation) }
            }
            for (correct, incorrect) in by_case.values() {
                for (chosen, rejected) in correct.iter().zip(incorrect.iter()) {
                    let shared = chosen
                        .messages
                        .iter()
                        .zip(&rejected.messages)
                        .take_while(|(left, right)| left == right)
                        .count()
                        .max(prompt_of(&chosen.messages))
                        .min(chosen.messages.len().saturating_sub(1))
                        .min(rejected.messages.len().saturating_sub(1));
                    rows.push(json!({
                        "prompt": &chosen.messages[..shared],
                        "chosen": &chosen.messages[shared..],
                        "rejected": &rejected.messages[shared..],
                        "case_id": chosen.case_id,
                        "run_id": chosen.run_id,
                        "rejected_run_id": rejected.run_id,
                        "chosen_repeat": chosen.repeat,
                        "rejected_repeat": rejected.repeat,
                    }));
                }
            }
        }
    }
    let mut text = String::new();
    for row in &rows {
        text.push_str(&serde_json::to_string(row).expect("rows serialise"));
        text.push('\n');
    }
    std::fs::write(out, text).map_err(|source| RunError::Io { path: out.display().to_string(), source })?;
    report.rows = rows.len();
    Ok(report)
}
