//! `medsim judge --pairs FILE`: how often the judge agrees with people, on labelled pairs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use futures::StreamExt;
use medsim_agents::prompts::PromptSet;
use medsim_agents::{Judge, JudgeActor, ModelSeat};
use medsim_core::action::Diagnosis;
use medsim_core::judging::{Decision, shortcut};
use medsim_core::transcript::{RoleName, VerdictMethod};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Places;
use crate::cli::{CacheArgs, RoleModelArgs};
use crate::settings::Settings;
use crate::{BadInput, Exit};

/// A person's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Label {
    Correct,
    Incorrect,
    Ambiguous,
}

/// One labelled pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    truth: String,
    answer: String,
    label: Label,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// What the judge said of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Said {
    Correct,
    Incorrect,
    Undecided,
}

fn parse_pairs(text: &str, origin: &str) -> Result<Vec<(usize, Pair)>, BadInput> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let value: serde_json::Value = serde_json::from_str(line).map_err(|error| {
            BadInput(format!("{origin}:{number}: record: expected a JSON object, found invalid JSON ({error})\n  hint: one {{\"truth\", \"answer\", \"label\"}} object per line"))
        })?;
        let pair: Pair = serde_json::from_value(value).map_err(|error| {
            let message = error.to_string();
            let field = if message.contains("variant") {
                "label"
            } else {
                message.split('`').nth(1).filter(|_| message.contains("field")).unwrap_or("record")
            };
            BadInput(format!(
                "{origin}:{number}: {field}: expected {}, found: {message}\n  hint: label is correct, incorrect or ambiguous",
                if field == "label" { "correct, incorrect or ambiguous" } else { "a {truth, answer, label} record" }
            ))
        })?;
        pairs.push((number, pair));
    }
    if pairs.is_empty() {
        return Err(BadInput(format!("{origin}: expected labelled pairs, found none")));
    }
    Ok(pairs)
}

/// A label or verdict as written in files (`correct`, `undecided` …).
fn name(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The part of the set a pair belongs to (a hash of its truth): a quarter is held out.
fn part_of(truth: &str) -> &'static str {
    medsim_core::measure_eval::part_of("judge", &truth.to_lowercase())
}

#[derive(Debug, Default, Serialize)]
struct Report {
    pairs: usize,
    unambiguous: usize,
    agree: usize,
    decided: usize,
    agree_decided: usize,
    /// label → verdict → count.
    confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// How verdicts were reached: shortcut, rule, or the model's name.
    methods: BTreeMap<String, usize>,
    /// Pairs labelled incorrect that the judge called correct.
    false_correct: usize,
    /// Pairs the judge called correct.
    said_correct: usize,
    kappa: f64,
}

impl Report {
    fn add(&mut self, label: Label, said: Said, method: &str) {
        self.pairs += 1;
        *self.confusion.entry(name(&label)).or_default().entry(name(&said)).or_default() += 1;
        *self.methods.entry(method.to_owned()).or_default() += 1;
        if said == Said::Correct {
            self.said_correct += 1;
            self.false_correct += usize::from(label == Label::Incorrect);
        }
        if label == Label::Ambiguous {
            return;
        }
        self.unambiguous += 1;
        let agrees = (label == Label::Correct && said == Said::Correct)
            || (label == Label::Incorrect && said == Said::Incorrect);
        self.agree += usize::from(agrees);
        if said != Said::Undecided {
            self.decided += 1;
            self.agree_decided += usize::from(agrees);
        }
    }

    /// Cohen's κ between labels and verdicts on the unambiguous, decided pairs.
    fn finish(&mut self) {
        let count = |label: &str, said: &str| {
            self.confusion.get(label).and_then(|row| row.get(said)).copied().unwrap_or(0) as f64
        };
        let (cc, ci, ic, ii) = (
            count("correct", "correct"),
            count("correct", "incorrect"),
            count("incorrect", "correct"),
            count("incorrect", "incorrect"),
        );
        let total = cc + ci + ic + ii;
        if total == 0.0 {
            return;
        }
        let observed = (cc + ii) / total;
        let expected = ((cc + ci) * (cc + ic) + (ic + ii) * (ci + ii)) / (total * total);
        self.kappa = if (1.0 - expected).abs() < 1e-12 { 1.0 } else { (observed - expected) / (1.0 - expected) };
    }
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    file: &Path,
    judge_model: Option<String>,
    json: bool,
    concurrency: usize,
    settings: &Settings,
    places: &Places,
    cache: &CacheArgs,
) -> Result<Exit> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|error| BadInput(format!("{origin}: cannot read: {error}")))?;
    let pairs = parse_pairs(&text, &origin)?;
    let spec = match judge_model.as_deref() {
        Some("none") => None,
        Some(spec) => Some(spec.to_owned()),
        None => settings.role_model_or_default("judge", &RoleModelArgs::default()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let factory = settings.factory(cache, &places.cache_dir, &places.data_dir)?;
    let seat = match &spec {
        None => None,
        Some(spec) => {
            runtime.block_on(crate::local::ensure_installed(spec, &places.data_dir, places.offline))?;
            crate::local::preload(&factory, spec)?;
            let model = factory.model(spec).map_err(|error| BadInput(error.to_string()))?;
            Some(ModelSeat {
                model,
                role: RoleName::Judge,
                temperature: 0.0,
                max_tokens: 24,
                prices: Arc::new(settings.llm.price_table()),
                seed: Some(0),
                sample_index: 0,
            })
        }
    };
    if let Some(spec) = &spec
        && spec.starts_with("local/")
    {
        eprintln!("note: a small local model ({spec}) is judging; its verdicts are measured here, see BENCHMARKS.md");
    }
    let prompts = Arc::new(PromptSet::embedded());
    let model_name = spec.clone().unwrap_or_else(|| "none".into());
    let verdicts: Vec<(usize, Pair, Said, String, String)> = runtime.block_on(async {
        futures::stream::iter(pairs.into_iter().map(|(line, pair)| {
            let seat = seat.clone();
            let prompts = prompts.clone();
            let model_name = model_name.clone();
            async move {
                let (said, method, reason) = match &seat {
                    None => match shortcut(&pair.truth, &pair.answer) {
                        Decision::Correct(reason) => (Said::Correct, "shortcut".to_owned(), reason),
                        Decision::Incorrect(reason) => (Said::Incorrect, "shortcut".to_owned(), reason),
                        Decision::Undecided => (Said::Undecided, "none".to_owned(), String::new()),
                    },
                    Some(seat) => {
                        let judge = Judge {
                            seat: Some(seat.clone()),
                            prompts,
                            ground_truth: pair.truth.clone(),
                            aliases: Vec::new(),
                            options: Vec::new(),
                            strict: false,
                        };
                        let diagnosis = Diagnosis { primary: pair.answer.clone(), differential: Vec::new() };
                        match judge.judge(&diagnosis, &pair.answer).await {
                            Ok((verdict, _)) => {
                                let method = match verdict.method {
                                    VerdictMethod::Exact | VerdictMethod::Alias | VerdictMethod::Shortcut => {
                                        "shortcut".to_owned()
                                    }
                                    VerdictMethod::Rule => "rule".to_owned(),
                                    _ => model_name,
                                };
                                (if verdict.correct { Said::Correct } else { Said::Incorrect }, method, verdict.reason)
                            }
                            Err(error) => (Said::Undecided, "error".to_owned(), error.to_string()),
                        }
                    }
                };
                (line, pair, said, method, reason)
            }
        }))
        .buffered(concurrency.max(1))
        .collect()
        .await
    });
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (line, pair, said, method, reason) in &verdicts {
        let part = part_of(&pair.truth);
        for name in ["all", part] {
            reports.entry(name.to_owned()).or_default().add(pair.label, *said, method);
        }
        if json {
            println!(
                "{}",
                json!({"line": line, "truth": pair.truth, "answer": pair.answer, "label": pair.label, "category": pair.category, "verdict": said, "method": method, "reason": reason, "part": part})
            );
        }
        let agrees =
            matches!((pair.label, said), (Label::Correct, Said::Correct) | (Label::Incorrect, Said::Incorrect));
        if pair.label != Label::Ambiguous && !agrees {
            disagreements.push(format!(
                "  line {line} ({part}): {:?} vs {:?}: labelled {}, judged {} by {method}{}",
                pair.truth,
                pair.answer,
                name(&pair.label),
                name(said),
                if reason.is_empty() { String::new() } else { format!(" ({reason})") }
            ));
        }
    }
    for report in reports.values_mut() {
        report.finish();
    }
    if json {
        println!("{}", json!({"summary": reports, "judge": model_name}));
        return Ok(Exit::Ok);
    }
    let percent = |part: usize, whole: usize| {
        if whole == 0 { "n/a".to_owned() } else { format!("{:.1} %", 100.0 * part as f64 / whole as f64) }
    };
    if model_name == "none" {
        println!("judge: the shortcut alone (--judge-model none)\n");
    } else {
        println!("judge: {model_name}, after the shortcut and the rule\n");
    }
    println!(
        "| part | pairs | unambiguous | agreement | decided | agreement when decided | κ | called correct / wrongly |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, report) in &reports {
        println!(
            "| {name} | {} | {} | {} ({}/{}) | {} | {} | {:.3} | {} / {} |",
            report.pairs,
            report.unambiguous,
            percent(report.agree, report.unambiguous),
            report.agree,
            report.unambiguous,
            report.decided,
            percent(report.agree_decided, report.decided),
            report.kappa,
            report.said_correct,
            report.false_correct
        );
    }
    if let Some(all) = reports.get("all") {
        println!("\nconfusion (label → verdict): {}", serde_json::to_string(&all.confusion)?);
        println!("verdicts by method: {}", serde_json::to_string(&all.methods)?);
    }
    if !disagreements.is_empty() {
        println!("\n{} disagreement(s):", disagreements.len());
        for line in disagreements {
            println!("{line}");
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_label_names_its_line_and_field() {
        let error = parse_pairs("{\"truth\": \"a\", \"answer\": \"b\", \"label\": \"yes\"}\n", "p.jsonl").unwrap_err();
        assert!(error.0.starts_with("p.jsonl:1: label: expected correct, incorrect or ambiguous"), "{}", error.0);
        let error = parse_pairs("\n{\"truth\": \"a\", \"label\": \"correct\"}\n", "p.jsonl").unwrap_err();
        assert!(error.0.starts_with("p.jsonl:2: answer:"), "{}", error.0);
        let error =
            parse_pairs("{\"truth\": \"a\", \"answer\": \"b\", \"label\": \"correct\", \"lable\": 1}\n", "p.jsonl")
                .unwrap_err();
        assert!(error.0.contains("lable"), "{}", error.0);
    }

    #[test]
    fn kappa_of_perfect_and_chance_agreement() {
        let mut report = Report::default();
        for _ in 0..5 {
            report.add(Label::Correct, Said::Correct, "m");
            report.add(Label::Incorrect, Said::Incorrect, "m");
        }
        report.finish();
        assert!((report.kappa - 1.0).abs() < 1e-9);
        let mut report = Report::default();
        for (label, said) in [
            (Label::Correct, Said::Correct),
            (Label::Correct, Said::Incorrect),
            (Label::Incorrect, Said::Correct),
            (Label::Incorrect, Said::Incorrect),
        ] {
            report.add(label, said, "m");
        }
        report.finish();
        assert!(report.kappa.abs() < 1e-9);
    }
}
