//! How often the judge agrees with people: labelled `(truth, answer, label)` pairs, judged by
//! the shortcut alone or by the full judge (shortcut, rules, then a model), scored by part
//! (dev / held out) with agreement, Cohen's κ and the confusion matrix.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use medsim_core::action::Diagnosis;
use medsim_core::judging::{Decision, shortcut};
use medsim_core::transcript::VerdictMethod;
use serde::{Deserialize, Serialize};

use crate::prompts::PromptSet;
use crate::{Judge, JudgeActor, ModelSeat};

/// A person's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// The answer names the true disease.
    Correct,
    /// It does not.
    Incorrect,
    /// People would disagree.
    Ambiguous,
}

/// One labelled pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The correct diagnosis.
    pub truth: String,
    /// A doctor's answer.
    pub answer: String,
    /// The label.
    pub label: Label,
    /// What kind of pair it is (synonym, broader, sibling …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Why it got its label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the judge said of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Said {
    /// Correct.
    Correct,
    /// Incorrect.
    Incorrect,
    /// No decision (the shortcut alone could not decide, or the model failed).
    Undecided,
}

/// A pair and what the judge said of it.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    /// The 1-based line of the pair in its file.
    pub line: usize,
    /// The pair.
    #[serde(flatten)]
    pub pair: Pair,
    /// The verdict.
    pub verdict: Said,
    /// How it was reached: `shortcut`, `rule`, the model's name, `none` or `error`.
    pub method: String,
    /// The judge's reason.
    pub reason: String,
    /// `dev` or `heldout`.
    pub part: &'static str,
}

impl Judged {
    /// True when the label is unambiguous and the verdict matches it.
    pub fn agrees(&self) -> bool {
        matches!((self.pair.label, self.verdict), (Label::Correct, Said::Correct) | (Label::Incorrect, Said::Incorrect))
    }
}

/// Reads labelled pairs, one JSON object per line; an error names the line and field.
pub fn parse_pairs(text: &str, origin: &str) -> Result<Vec<(usize, Pair)>, String> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        let value: serde_json::Value = serde_json::from_str(line).map_err(|error| {
            format!("{origin}:{number}: record: expected a JSON object, found invalid JSON ({error})\n  hint: one {{\"truth\", \"answer\", \"label\"}} object per line")
        })?;
        let pair: Pair = serde_json::from_value(value).map_err(|error| {
            let message = error.to_string();
            let field = if message.contains("variant") {
                "label"
            } else {
                message.split('`').nth(1).filter(|_| message.contains("field")).unwrap_or("record")
            };
            format!(
                "{origin}:{number}: {field}: expected {}, found: {message}\n  hint: label is correct, incorrect or ambiguous",
                if field == "label" { "correct, incorrect or ambiguous" } else { "a {truth, answer, label} record" }
            )
        })?;
        pairs.push((number, pair));
    }
    if pairs.is_empty() {
        return Err(format!("{origin}: expected labelled pairs, found none"));
    }
    Ok(pairs)
}

/// A label or verdict as written in files (`correct`, `undecided` …).
pub fn name(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|value| value.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The part of the set a pair belongs to (a hash of its truth): a quarter is held out.
pub fn part_of(truth: &str) -> &'static str {
    medsim_core::measure_eval::part_of("judge", &truth.to_lowercase())
}

/// Judges every pair, `concurrency` at once, in file order. Without a seat only the shortcut
/// decides; with one, the judge as episodes use it (shortcut, rules, then the model, whose
/// verdicts are attributed to `model_name`).
pub async fn judge_pairs(
    pairs: Vec<(usize, Pair)>,
    seat: Option<ModelSeat>,
    model_name: &str,
    concurrency: usize,
) -> Vec<Judged> {
    let prompts = Arc::new(PromptSet::embedded());
    futures::stream::iter(pairs.into_iter().map(|(line, pair)| {
        let (seat, prompts, model_name) = (seat.clone(), prompts.clone(), model_name.to_owned());
        async move {
            let (verdict, method, reason) = match seat {
                None => match shortcut(&pair.truth, &pair.answer) {
                    Decision::Correct(reason) => (Said::Correct, "shortcut".to_owned(), reason),
                    Decision::Incorrect(reason) => (Said::Incorrect, "shortcut".to_owned(), reason),
                    Decision::Undecided => (Said::Undecided, "none".to_owned(), String::new()),
                },
                Some(seat) => {
                    let judge = Judge {
                        seat: Some(seat),
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
                                    "shortcut".into()
                                }
                                VerdictMethod::Rule => "rule".into(),
                                _ => model_name,
                            };
                            (if verdict.correct { Said::Correct } else { Said::Incorrect }, method, verdict.reason)
                        }
                        Err(error) => (Said::Undecided, "error".to_owned(), error.to_string()),
                    }
                }
            };
            let part = part_of(&pair.truth);
            Judged { line, pair, verdict, method, reason, part }
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await
}

/// Agreement with the labels over a set of pairs.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Pairs.
    pub pairs: usize,
    /// Pairs not labelled ambiguous.
    pub unambiguous: usize,
    /// Unambiguous pairs where the verdict matches the label.
    pub agree: usize,
    /// Unambiguous pairs the judge decided.
    pub decided: usize,
    /// Decided pairs where the verdict matches the label.
    pub agree_decided: usize,
    /// label → verdict → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    /// How verdicts were reached: shortcut, rule, or the model's name.
    pub methods: BTreeMap<String, usize>,
    /// Pairs labelled incorrect that the judge called correct.
    pub false_correct: usize,
    /// Pairs the judge called correct.
    pub said_correct: usize,
    /// Cohen's κ between labels and verdicts on the unambiguous, decided pairs.
    pub kappa: f64,
}

impl Report {
    /// Counts one verdict.
    pub fn add(&mut self, label: Label, said: Said, method: &str) {
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

    /// Computes κ once every verdict is counted.
    pub fn finish(&mut self) {
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

/// Reports for `all` and each part.
pub fn reports(judged: &[Judged]) -> BTreeMap<String, Report> {
    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    for pair in judged {
        for name in ["all", pair.part] {
            reports.entry(name.to_owned()).or_default().add(pair.pair.label, pair.verdict, &pair.method);
        }
    }
    for report in reports.values_mut() {
        report.finish();
    }
    reports
}

/// The reports as Markdown, with the confusion matrix and every disagreement.
pub fn render(reports: &BTreeMap<String, Report>, judged: &[Judged], model_name: &str) -> String {
    let percent = |part: usize, whole: usize| {
        if whole == 0 { "n/a".to_owned() } else { format!("{:.1} %", 100.0 * part as f64 / whole as f64) }
    };
    let mut text = if model_name == "none" {
        "judge: the shortcut alone (--judge-model none)\n\n".to_owned()
    } else {
        format!("judge: {model_name}, after the shortcut and the rule\n\n")
    };
    text.push_str("| part | pairs | unambiguous | agreement | decided | agreement when decided | κ | called correct / wrongly |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (name, report) in reports {
        text.push_str(&format!(
            "| {name} | {} | {} | {} ({}/{}) | {} | {} | {:.3} | {} / {} |\n",
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
        ));
    }
    if let Some(all) = reports.get("all") {
        let json = |value| serde_json::to_string(value).unwrap_or_default();
        text.push_str(&format!("\nconfusion (label → verdict): {}\n", json(&all.confusion)));
        text.push_str(&format!("verdicts by method: {}\n", serde_json::to_string(&all.methods).unwrap_or_default()));
    }
    let disagreements: Vec<&Judged> =
        judged.iter().filter(|pair| pair.pair.label != Label::Ambiguous && !pair.agrees()).collect();
    if !disagreements.is_empty() {
        text.push_str(&format!("\n{} disagreement(s):\n", disagreements.len()));
        for pair in disagreements {
            text.push_str(&format!(
                "  line {} ({}): {:?} vs {:?}: labelled {}, judged {} by {}{}\n",
                pair.line,
                pair.part,
                pair.pair.truth,
                pair.pair.answer,
                name(&pair.pair.label),
                name(&pair.verdict),
                pair.method,
                if pair.reason.is_empty() { String::new() } else { format!(" ({})", pair.reason) }
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_label_names_its_line_and_field() {
        let error = parse_pairs("{\"truth\": \"a\", \"answer\": \"b\", \"label\": \"yes\"}\n", "p.jsonl").unwrap_err();
        assert!(error.starts_with("p.jsonl:1: label: expected correct, incorrect or ambiguous"), "{error}");
        let error = parse_pairs("\n{\"truth\": \"a\", \"label\": \"correct\"}\n", "p.jsonl").unwrap_err();
        assert!(error.starts_with("p.jsonl:2: answer:"), "{error}");
        let error =
            parse_pairs("{\"truth\": \"a\", \"answer\": \"b\", \"label\": \"correct\", \"lable\": 1}\n", "p.jsonl")
                .unwrap_err();
        assert!(error.contains("lable"), "{error}");
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
