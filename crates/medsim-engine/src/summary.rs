//! The numbers a paper needs, computed from a run log: accuracy with a Wilson 95 % interval,
//! errors apart from wrong answers, turns, tests, leaks, tokens, cost, time; broken down by
//! tag and bias; agreement across repeats.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::runlog::{EpisodeRecord, Outcome};

/// Wilson score interval for `successes` of `n` at 95 % (z = 1.96).
pub fn wilson(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// McNemar's exact test (two-sided) on paired outcomes: `b` pairs right only in the first
/// condition, `c` right only in the second. The p-value of the binomial test of
/// min(b, c) under Binomial(b + c, ½), doubled and capped at 1.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum of C(n, i) / 2^n for i ≤ k, term by term in logs to stay finite for large n.
    let log_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut log_term = log_half_n; // i = 0: C(n, 0) = 1
    let mut sum = log_term.exp();
    for i in 0..k {
        log_term += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
        sum += log_term.exp();
    }
    (2.0 * sum).min(1.0)
}

/// Accuracy over the episodes that reached a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Episodes judged (errors excluded).
    pub judged: usize,
    /// Correct.
    pub correct: usize,
    /// correct / judged.
    pub accuracy: f64,
    /// Wilson 95 % interval, low.
    pub ci_low: f64,
    /// Wilson 95 % interval, high.
    pub ci_high: f64,
}

impl Accuracy {
    /// Accuracy of records.
    pub fn of(records: &[&EpisodeRecord]) -> Accuracy {
        let mut count = Count::default();
        for record in records {
            count.add(record.outcome);
        }
        count.accuracy()
    }
}

/// Agreement across repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeats {
    /// Repeats per case.
    pub repeats: u32,
    /// Mean over cases of the share of repeats that agree with the case's majority outcome.
    pub mean_agreement: f64,
    /// Accuracy of each repeat index.
    pub accuracy_by_repeat: Vec<f64>,
    /// Mean of those.
    pub mean: f64,
    /// Their standard deviation.
    pub spread: f64,
}

/// A run's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Episodes in the log.
    pub episodes: usize,
    /// Accuracy.
    pub accuracy: Accuracy,
    /// Episodes that failed (not counted as wrong).
    pub errors: usize,
    /// Episodes whose turn budget ran out.
    pub budget_exhausted: usize,
    /// Mean doctor turns.
    pub mean_turns: f64,
    /// Median doctor turns.
    pub median_turns: f64,
    /// Mean tests ordered per episode.
    pub tests_per_episode: f64,
    /// Patient utterances that named the diagnosis.
    pub patient_leaks: usize,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    /// Sum of episode wall times, seconds.
    pub episode_seconds: f64,
    /// Accuracy by tag and specialty.
    pub by_tag: BTreeMap<String, Accuracy>,
    /// Accuracy by bias.
    pub by_bias: BTreeMap<String, Accuracy>,
    /// Across repeats, when there are several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<Repeats>,
    /// How the verdicts were reached: `exact`, `alias`, `shortcut`, `rule`, `options`, `judge`
    /// (the judge model), `no_diagnosis`.
    #[serde(default)]
    pub verdicts: BTreeMap<String, usize>,
    /// What the cases cost (visit and tests), when the run priced them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_cost: Option<CareCost>,
    /// Mean care cost per case by tag (specialty, dataset …), when the run priced them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub care_cost_by_tag: BTreeMap<String, f64>,
}

/// What the cases of a run cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareCost {
    /// Mean per case (visit and tests).
    pub mean: f64,
    /// 95 % interval of the mean (normal approximation).
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
    /// Share of the tests' cost by category (analyte, panel, imaging …).
    pub share_by_category: BTreeMap<String, f64>,
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

/// Correct and judged counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Episodes that reached a verdict.
    pub judged: usize,
    /// Of those, correct.
    pub correct: usize,
}

impl Count {
    fn add(&mut self, outcome: Outcome) {
        self.judged += usize::from(outcome != Outcome::Error);
        self.correct += usize::from(outcome == Outcome::Correct);
    }

    /// As accuracy with its interval.
    pub fn accuracy(self) -> Accuracy {
        let (ci_low, ci_high) = wilson(self.correct, self.judged);
        Accuracy {
            judged: self.judged,
            correct: self.correct,
            accuracy: if self.judged == 0 { 0.0 } else { self.correct as f64 / self.judged as f64 },
            ci_low,
            ci_high,
        }
    }
}

/// The one running tally of episode records: the progress line, the summary and the learning
/// curve all count with it. It holds counts, not records, so a run of any length summarises in
/// constant memory (per case and per tag, not per episode).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records added.
    pub episodes: usize,
    /// All of them.
    pub count: Count,
    /// Episodes that ended in an error.
    pub errors: usize,
    budget_exhausted: usize,
    /// Turns → episodes (turns are bounded by the budget, so this stays small).
    turns: BTreeMap<u32, usize>,
    tests: f64,
    patient_leaks: usize,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost in USD.
    pub cost_usd: f64,
    wall_ms: f64,
    verdicts: BTreeMap<String, usize>,
    by_tag: BTreeMap<String, Count>,
    by_bias: BTreeMap<String, Count>,
    by_repeat: BTreeMap<u32, Count>,
    by_case: BTreeMap<String, Count>,
    care: (usize, f64, f64),
    care_by_category: BTreeMap<String, f64>,
    care_by_tag: BTreeMap<String, (usize, f64)>,
}

impl Tally {
    /// Counts one record.
    pub fn add(&mut self, record: &EpisodeRecord) {
        let episode = &record.episode;
        self.episodes += 1;
        self.count.add(record.outcome);
        self.errors += usize::from(record.outcome == Outcome::Error);
        self.budget_exhausted +=
            usize::from(episode.stop_reason == medsim_core::transcript::StopReason::BudgetExhausted);
        *self.turns.entry(episode.turns).or_insert(0) += 1;
        self.tests += episode.tests_ordered as f64;
        self.patient_leaks += episode.patient_leaks;
        self.prompt_tokens += episode.tokens.prompt;
        self.completion_tokens += episode.tokens.completion;
        self.cost_usd += episode.cost_usd;
        self.wall_ms += episode.wall_ms;
        if episode.care_cost > 0.0 && record.outcome != Outcome::Error {
            self.care.0 += 1;
            self.care.1 += episode.care_cost;
            self.care.2 += episode.care_cost * episode.care_cost;
            for item in &episode.priced {
                *self.care_by_category.entry(item.category.clone()).or_insert(0.0) += item.price;
            }
            for tag in &record.tags {
                let entry = self.care_by_tag.entry(tag.clone()).or_insert((0, 0.0));
                entry.0 += 1;
                entry.1 += episode.care_cost;
            }
        }
        if let Some(verdict) = &episode.verdict {
            let name = serde_json::to_value(verdict.method)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default();
            *self.verdicts.entry(name).or_insert(0) += 1;
        }
        for tag in &record.tags {
            self.by_tag.entry(tag.clone()).or_default().add(record.outcome);
        }
        self.by_bias.entry(record.bias.clone().unwrap_or_else(|| "none".into())).or_default().add(record.outcome);
        self.by_repeat.entry(record.repeat).or_default().add(record.outcome);
        if record.outcome != Outcome::Error {
            self.by_case.entry(record.case_id.clone()).or_default().add(record.outcome);
        }
    }

    fn median_turns(&self) -> f64 {
        let nth = |index: usize| {
            let mut seen = 0;
            for (turns, count) in &self.turns {
                seen += count;
                if seen > index {
                    return f64::from(*turns);
                }
            }
            0.0
        };
        match self.episodes {
            0 => 0.0,
            length if length % 2 == 1 => nth(length / 2),
            length => (nth(length / 2 - 1) + nth(length / 2)) / 2.0,
        }
    }

    fn repeats(&self) -> Option<Repeats> {
        let repeats_count = self.by_repeat.keys().max().map(|max| max + 1).unwrap_or(1);
        if repeats_count <= 1 {
            return None;
        }
        let agreements: Vec<f64> = self
            .by_case
            .values()
            .map(|count| count.correct.max(count.judged - count.correct) as f64 / count.judged as f64)
            .collect();
        let accuracy_by_repeat: Vec<f64> = (0..repeats_count)
            .map(|repeat| round(self.by_repeat.get(&repeat).copied().unwrap_or_default().accuracy().accuracy, 6))
            .collect();
        let mean = accuracy_by_repeat.iter().sum::<f64>() / accuracy_by_repeat.len() as f64;
        let variance = accuracy_by_repeat.iter().map(|value| (value - mean).powi(2)).sum::<f64>()
            / (accuracy_by_repeat.len().max(2) - 1) as f64;
        Some(Repeats {
            repeats: repeats_count,
            mean_agreement: round(agreements.iter().sum::<f64>() / agreements.len().max(1) as f64, 6),
            accuracy_by_repeat,
            mean: round(mean, 6),
            spread: round(variance.sqrt(), 6),
        })
    }

    /// The summary of what was counted.
    pub fn summary(&self) -> Summary {
        let count = self.episodes.max(1) as f64;
        let mean_turns = self.turns.iter().map(|(turns, n)| f64::from(*turns) * *n as f64).sum::<f64>() / count;
        Summary {
            episodes: self.episodes,
            accuracy: self.count.accuracy(),
            errors: self.errors,
            budget_exhausted: self.budget_exhausted,
            mean_turns: round(mean_turns, 4),
            median_turns: self.median_turns(),
            tests_per_episode: round(self.tests / count, 4),
            patient_leaks: self.patient_leaks,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: round(self.cost_usd, 6),
            episode_seconds: round(self.wall_ms / 1000.0, 3),
            verdicts: self.verdicts.clone(),
            by_tag: self.by_tag.iter().map(|(tag, count)| (tag.clone(), count.accuracy())).collect(),
            by_bias: self.by_bias.iter().map(|(bias, count)| (bias.clone(), count.accuracy())).collect(),
            repeats: self.repeats(),
            care_cost: self.care_cost(),
            care_cost_by_tag: self
                .care_by_tag
                .iter()
                .map(|(tag, (n, sum))| (tag.clone(), round(sum / (*n).max(1) as f64, 2)))
                .collect(),
        }
    }

    fn care_cost(&self) -> Option<CareCost> {
        let (n, sum, squares) = self.care;
        if n == 0 {
            return None;
        }
        let mean = sum / n as f64;
        let variance = if n > 1 { ((squares - n as f64 * mean * mean) / (n - 1) as f64).max(0.0) } else { 0.0 };
        let half = 1.96 * (variance / n as f64).sqrt();
        let tests: f64 = self.care_by_category.values().sum();
        let share_by_category = self
            .care_by_category
            .iter()
            .map(|(category, price)| (category.clone(), round(if tests > 0.0 { price / tests } else { 0.0 }, 4)))
            .collect();
        Some(CareCost {
            mean: round(mean, 2),
            ci_low: round((mean - half).max(0.0), 2),
            ci_high: round(mean + half, 2),
            share_by_category,
        })
    }
}

/// Summarises episode records.
pub fn summarise(records: &[EpisodeRecord]) -> Summary {
    let mut tally = Tally::default();
    for record in records {
        tally.add(record);
    }
    tally.summary()
}

/// The summary as a Markdown report.
pub fn markdown(summary: &Summary, title: &str) -> String {
    let percent = |value: f64| format!("{:.1} %", value * 100.0);
    let accuracy = &summary.accuracy;
    let mut out = format!("# {title}\n\n| measure | value |\n| --- | --- |\n");
    let rows = [
        ("episodes", summary.episodes.to_string()),
        (
            "accuracy (95 % Wilson CI)",
            if accuracy.judged == 0 {
                "n/a (no episode reached a verdict)".to_owned()
            } else {
                format!(
                    "{} ({}–{}), {}/{}",
                    percent(accuracy.accuracy),
                    percent(accuracy.ci_low),
                    percent(accuracy.ci_high),
                    accuracy.correct,
                    accuracy.judged
                )
            },
        ),
        ("errors (not counted as wrong)", summary.errors.to_string()),
        ("budget exhausted", summary.budget_exhausted.to_string()),
        ("turns, mean / median", format!("{:.2} / {}", summary.mean_turns, summary.median_turns)),
        ("tests ordered per episode", format!("{:.2}", summary.tests_per_episode)),
        ("patient leaks", summary.patient_leaks.to_string()),
        ("tokens, prompt / completion", format!("{} / {}", summary.prompt_tokens, summary.completion_tokens)),
        ("cost of model calls", format!("${:.4}", summary.cost_usd)),
        ("episode time (sum)", format!("{:.1} s", summary.episode_seconds)),
    ];
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {value} |\n"));
    }
    if !summary.verdicts.is_empty() {
        let methods: Vec<String> = summary.verdicts.iter().map(|(method, count)| format!("{method} {count}")).collect();
        out.push_str(&format!("| verdicts by method | {} |\n", methods.join(", ")));
    }
    if let Some(care) = &summary.care_cost {
        let shares: Vec<String> =
            care.share_by_category.iter().map(|(category, share)| format!("{category} {}", percent(*share))).collect();
        out.push_str(&format!(
            "| care cost per case (visit and tests, 95 % CI) | ${:.0} (${:.0}–${:.0}){} |\n",
            care.mean,
            care.ci_low,
            care.ci_high,
            if shares.is_empty() { String::new() } else { format!("; tests by category: {}", shares.join(", ")) }
        ));
    }
    if let Some(repeats) = &summary.repeats {
        out.push_str(&format!(
            "| repeats | {} (agreement {}, accuracy {} ± {}) |\n",
            repeats.repeats,
            percent(repeats.mean_agreement),
            percent(repeats.mean),
            percent(repeats.spread)
        ));
    }
    for (heading, table) in [("tag", &summary.by_tag), ("bias", &summary.by_bias)] {
        if table.is_empty() {
            continue;
        }
        // Tags carry their cost per case beside their accuracy, when the run priced cases.
        let costs = if heading == "tag" && !summary.care_cost_by_tag.is_empty() {
            Some(&summary.care_cost_by_tag)
        } else {
            None
        };
        let (cost_head, cost_rule) = if costs.is_some() { (" cost per case |", " ---: |") } else { ("", "") };
        out.push_str(&format!(
            "\n| {heading} | n | accuracy | 95 % CI |{cost_head}\n| --- | --- | --- | --- |{cost_rule}\n"
        ));
        for (name, accuracy) in table {
            let cost = costs
                .map(|costs| costs.get(name).map(|cost| format!(" ${cost:.0} |")).unwrap_or_else(|| " n/a |".into()))
                .unwrap_or_default();
            if accuracy.judged == 0 {
                out.push_str(&format!("| {name} | 0 | n/a | n/a |{cost}\n"));
                continue;
            }
            out.push_str(&format!(
                "| {name} | {} | {} | {}–{} |{cost}\n",
                accuracy.judged,
                percent(accuracy.accuracy),
                percent(accuracy.ci_low),
                percent(accuracy.ci_high)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_table() {
        // b = 1, c = 9: 2 * (1 + 10) / 1024 = 0.021484375.
        assert!((mcnemar_exact(1, 9) - 0.021484375).abs() < 1e-12);
        assert!((mcnemar_exact(9, 1) - 0.021484375).abs() < 1e-12);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        // b = 0, c = 5: 2 / 32.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
        // Large n stays finite: b = 400, c = 600 is far below 0.001.
        let p = mcnemar_exact(400, 600);
        assert!(p > 0.0 && p < 1e-8, "{p}");
    }

    #[test]
    fn wilson_matches_known_values() {
        let (low, high) = wilson(81, 107);
        assert!((low - 0.667_763).abs() < 1e-6 && (high - 0.828_441).abs() < 1e-6, "{low} {high}");
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (low, high) = wilson(10, 10);
        assert!((low - 0.722_467).abs() < 1e-6 && (high - 1.0).abs() < 1e-9);
    }
}
