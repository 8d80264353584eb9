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
        let judged = records.iter().filter(|record| record.outcome != Outcome::Error).count();
        let correct = records.iter().filter(|record| record.outcome == Outcome::Correct).count();
        let (ci_low, ci_high) = wilson(correct, judged);
        Accuracy {
            judged,
            correct,
            accuracy: if judged == 0 { 0.0 } else { correct as f64 / judged as f64 },
            ci_low,
            ci_high,
        }
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
}

fn round(value: f64, places: i32) -> f64 {
    let factor = 10f64.powi(places);
    (value * factor).round() / factor
}

/// Summarises episode records.
pub fn summarise(records: &[EpisodeRecord]) -> Summary {
    let all: Vec<&EpisodeRecord> = records.iter().collect();
    let count = records.len().max(1) as f64;
    let mut turns: Vec<u32> = records.iter().map(|record| record.episode.turns).collect();
    turns.sort_unstable();
    let median_turns = match turns.len() {
        0 => 0.0,
        length if length % 2 == 1 => f64::from(turns[length / 2]),
        length => (f64::from(turns[length / 2 - 1]) + f64::from(turns[length / 2])) / 2.0,
    };
    let mut by_tag: BTreeMap<String, Vec<&EpisodeRecord>> = BTreeMap::new();
    let mut by_bias: BTreeMap<String, Vec<&EpisodeRecord>> = BTreeMap::new();
    for record in records {
        for tag in &record.tags {
            by_tag.entry(tag.clone()).or_default().push(record);
        }
        by_bias.entry(record.bias.clone().unwrap_or_else(|| "none".into())).or_default().push(record);
    }
    let repeats_count = records.iter().map(|record| record.repeat).max().map(|max| max + 1).unwrap_or(1);
    let repeats = (repeats_count > 1).then(|| {
        let mut by_case: BTreeMap<&str, Vec<&EpisodeRecord>> = BTreeMap::new();
        for record in records.iter().filter(|record| record.outcome != Outcome::Error) {
            by_case.entry(record.case_id.as_str()).or_default().push(record);
        }
        let agreements: Vec<f64> = by_case
            .values()
            .map(|runs| {
                let correct = runs.iter().filter(|record| record.outcome == Outcome::Correct).count();
                correct.max(runs.len() - correct) as f64 / runs.len() as f64
            })
            .collect();
        let accuracy_by_repeat: Vec<f64> = (0..repeats_count)
            .map(|repeat| {
                let subset: Vec<&EpisodeRecord> = records.iter().filter(|record| record.repeat == repeat).collect();
                round(Accuracy::of(&subset).accuracy, 6)
            })
            .collect();
        let mean = accuracy_by_repeat.iter().sum::<f64>() / accuracy_by_repeat.len() as f64;
        let variance = accuracy_by_repeat.iter().map(|value| (value - mean).powi(2)).sum::<f64>()
            / (accuracy_by_repeat.len().max(2) - 1) as f64;
        Repeats {
            repeats: repeats_count,
            mean_agreement: round(agreements.iter().sum::<f64>() / agreements.len().max(1) as f64, 6),
            accuracy_by_repeat,
            mean: round(mean, 6),
            spread: round(variance.sqrt(), 6),
        }
    });
    Summary {
        episodes: records.len(),
        accuracy: Accuracy::of(&all),
        errors: records.iter().filter(|record| record.outcome == Outcome::Error).count(),
        budget_exhausted: records
            .iter()
            .filter(|record| record.episode.stop_reason == medsim_core::transcript::StopReason::BudgetExhausted)
            .count(),
        mean_turns: round(records.iter().map(|record| f64::from(record.episode.turns)).sum::<f64>() / count, 4),
        median_turns,
        tests_per_episode: round(
            records.iter().map(|record| record.episode.tests_ordered as f64).sum::<f64>() / count,
            4,
        ),
        patient_leaks: records.iter().map(|record| record.episode.patient_leaks).sum(),
        prompt_tokens: records.iter().map(|record| record.episode.tokens.prompt).sum(),
        completion_tokens: records.iter().map(|record| record.episode.tokens.completion).sum(),
        cost_usd: round(records.iter().map(|record| record.episode.cost_usd).sum(), 6),
        episode_seconds: round(records.iter().map(|record| record.episode.wall_ms).sum::<f64>() / 1000.0, 3),
        verdicts: records.iter().filter_map(|record| record.episode.verdict.as_ref()).fold(
            BTreeMap::new(),
            |mut counts, verdict| {
                let name = serde_json::to_value(verdict.method)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default();
                *counts.entry(name).or_insert(0) += 1;
                counts
            },
        ),
        by_tag: by_tag.into_iter().map(|(tag, list)| (tag, Accuracy::of(&list))).collect(),
        by_bias: by_bias.into_iter().map(|(bias, list)| (bias, Accuracy::of(&list))).collect(),
        repeats,
    }
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
        ("cost", format!("${:.4}", summary.cost_usd)),
        ("episode time (sum)", format!("{:.1} s", summary.episode_seconds)),
    ];
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {value} |\n"));
    }
    if !summary.verdicts.is_empty() {
        let methods: Vec<String> = summary.verdicts.iter().map(|(method, count)| format!("{method} {count}")).collect();
        out.push_str(&format!("| verdicts by method | {} |\n", methods.join(", ")));
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
        out.push_str(&format!("\n| {heading} | n | accuracy | 95 % CI |\n| --- | --- | --- | --- |\n"));
        for (name, accuracy) in table {
            if accuracy.judged == 0 {
                out.push_str(&format!("| {name} | 0 | n/a | n/a |\n"));
                continue;
            }
            out.push_str(&format!(
                "| {name} | {} | {} | {}–{} |\n",
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
