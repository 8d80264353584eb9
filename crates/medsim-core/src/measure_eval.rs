//! Evaluating grounded measurement on hand-labelled requests (`medsim measure --eval`).
//!
//! An evaluation file is JSON Lines; each line is one request as a doctor would write it, and
//! what a correct measurement agent answers for each test it names:
//!
//! ```json
//! {"dataset": "agentclinic-medqa", "case": "76", "request": "MRI brain", "expect": [{"accept": [], "near": "tests.Imaging.MRI_Spine"}]}
//! ```
//!
//! `accept` lists the stored nodes that answer the test (any one will do); empty means the case
//! does not hold it, and `near` names the stored node a careless matcher would return instead.
//! Free-text cases (NEJM) use `accept_text` / `near_text`: excerpts an answer must contain. Every
//! record is given a fixed part — `dev` (three cases in four, for tuning) or `heldout` — by a hash
//! of its dataset and case, so figures on the held-out part were never looked at while tuning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::lexicon::Lexicon;
use crate::measure::GroundedMeasurement;

/// One labelled request.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRecord {
    /// Registered dataset name (or a path).
    pub dataset: String,
    /// Case id.
    pub case: String,
    /// The request, as written after `REQUEST TEST:`.
    pub request: String,
    /// One entry per test the request names, in order.
    pub expect: Vec<Expected>,
    /// What kind of test (analyte, panel, imaging …), for the report.
    #[serde(default)]
    pub kind: Option<String>,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
}

/// What answers one test.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Stored nodes that answer it (any one).
    #[serde(default)]
    pub accept: Vec<String>,
    /// For an absent test: the stored node a careless matcher returns.
    #[serde(default)]
    pub near: Option<String>,
    /// Free text: excerpts of which an answer must contain one.
    #[serde(default)]
    pub accept_text: Vec<String>,
    /// For an absent test in free text: the excerpt a careless matcher returns.
    #[serde(default)]
    pub near_text: Option<String>,
}

impl Expected {
    fn present(&self) -> bool {
        !self.accept.is_empty() || !self.accept_text.is_empty()
    }
}

/// A malformed evaluation line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}:{line}: {field}: {message}\n  hint: {hint}")]
pub struct EvalFileError {
    /// The file.
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// The field (or `record`).
    pub field: String,
    /// What was expected and found.
    pub message: String,
    /// What to do.
    pub hint: &'static str,
}

/// Reads an evaluation file, naming the line and field of the first bad record.
pub fn parse_eval_file(text: &str, origin: &str) -> Result<Vec<(usize, EvalRecord)>, EvalFileError> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let error = |field: &str, message: String| EvalFileError {
            origin: origin.to_owned(),
            line: index + 1,
            field: field.to_owned(),
            message,
            hint: "each line is {\"dataset\", \"case\", \"request\", \"expect\": [{\"accept\": [paths], \"near\"}]} (see eval/README.md)",
        };
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|parse| error("record", format!("expected a JSON object, found invalid JSON ({parse})")))?;
        let record: EvalRecord = serde_json::from_value(value.clone()).map_err(|parse| {
            let message = parse.to_string();
            let field = message.split('`').nth(1).filter(|_| message.contains("field")).unwrap_or("record").to_owned();
            error(&field, format!("expected a valid record, found: {message}"))
        })?;
        if record.expect.is_empty() {
            return Err(error("expect", "expected at least one entry, found none".into()));
        }
        if record.request.trim().is_empty() {
            return Err(error("request", "expected a request, found an empty string".into()));
        }
        records.push((index + 1, record));
    }
    Ok(records)
}

/// The part of the evaluation set a case belongs to.
pub fn part_of(dataset: &str, case: &str) -> &'static str {
    let hash = crate::hash::fnv1a(0, dataset.bytes().chain([0]).chain(case.bytes()));
    if hash.is_multiple_of(4) { "heldout" } else { "dev" }
}

/// How one test of a request came out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ItemOutcome {
    /// The right node (or excerpt), or "normal" for an absent test.
    Correct,
    /// A stored test answered "normal readings".
    Missed,
    /// Another node than an acceptable one (a present test) or anything at all (an absent one).
    WrongNode {
        /// What was returned.
        got: String,
        /// True when the request's modality or body region differs from the node's.
        modality_or_region_mismatch: bool,
    },
    /// The request was split into another number of tests than labelled.
    SplitMismatch {
        /// Tests the matcher read.
        got: usize,
    },
}

/// One evaluated test, for the error list.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// File line.
    pub line: usize,
    /// Dataset.
    pub dataset: String,
    /// Case.
    pub case: String,
    /// dev or heldout.
    pub part: &'static str,
    /// The whole request.
    pub request: String,
    /// The test (after splitting).
    pub test: String,
    /// Whether the case holds it.
    pub present: bool,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: ItemOutcome,
    /// What the doctor would have read.
    pub answer: String,
}

/// Counts for one dataset and part.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    /// Tests evaluated.
    pub tests: usize,
    /// Tests the case holds.
    pub present: usize,
    /// …answered with an acceptable node.
    pub present_correct: usize,
    /// Tests the case does not hold.
    pub absent: usize,
    /// …answered "normal readings".
    pub absent_correct: usize,
    /// Answers with a wrong node (present or absent tests).
    pub wrong_node: usize,
    /// Wrong nodes of another modality or body region.
    pub modality_region_mismatches: usize,
    /// Requests split into another number of tests than labelled.
    pub split_mismatches: usize,
}

impl Tally {
    fn add(&mut self, present: bool, outcome: &ItemOutcome) {
        self.tests += 1;
        if present {
            self.present += 1;
        } else {
            self.absent += 1;
        }
        match outcome {
            ItemOutcome::Correct if present => self.present_correct += 1,
            ItemOutcome::Correct => self.absent_correct += 1,
            ItemOutcome::Missed => {}
            ItemOutcome::WrongNode { modality_or_region_mismatch, .. } => {
                self.wrong_node += 1;
                self.modality_region_mismatches += usize::from(*modality_or_region_mismatch);
            }
            ItemOutcome::SplitMismatch { .. } => self.split_mismatches += 1,
        }
    }

    /// Present tests answered with an acceptable node.
    pub fn recall(&self) -> f64 {
        ratio(self.present_correct, self.present)
    }

    /// Answers with a wrong node, over all tests.
    pub fn wrong_node_rate(&self) -> f64 {
        ratio(self.wrong_node, self.tests)
    }

    /// Absent tests answered "normal readings".
    pub fn absent_correct_rate(&self) -> f64 {
        ratio(self.absent_correct, self.absent)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The whole evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    /// Per `dataset/part` and `all/part`.
    pub tallies: BTreeMap<String, Tally>,
    /// Every test that was not answered correctly.
    pub errors: Vec<ItemReport>,
}

/// Evaluates every record; `case` finds the case a record names.
pub fn evaluate(
    records: &[(usize, EvalRecord)],
    case: &mut dyn FnMut(&str, &str) -> Result<Case, String>,
) -> Result<EvalReport, String> {
    let mut report = EvalReport::default();
    let mut indexed: BTreeMap<(String, String), (Case, GroundedMeasurement)> = BTreeMap::new();
    for (line, record) in records {
        let key = (record.dataset.clone(), record.case.clone());
        if !indexed.contains_key(&key) {
            let found = case(&record.dataset, &record.case).map_err(|error| format!("line {line}: {error}"))?;
            let grounded = GroundedMeasurement::new(&found);
            indexed.insert(key.clone(), (found, grounded));
        }
        let (stored, grounded) = &indexed[&key];
        let tests = crate::action::split_tests(&record.request);
        let results = grounded.measure_all(&tests);
        let part = part_of(&record.dataset, &record.case);
        for (position, expected) in record.expect.iter().enumerate() {
            let present = expected.present();
            let (test, outcome, answer) = if results.len() != record.expect.len() {
                (record.request.clone(), ItemOutcome::SplitMismatch { got: results.len() }, String::new())
            } else {
                let result = &results[position];
                (
                    tests.get(position).cloned().unwrap_or_default(),
                    judge_item(stored, &tests[position], result, expected),
                    result.result.clone(),
                )
            };
            for name in [record.dataset.as_str(), "all"] {
                report.tallies.entry(format!("{name}/{part}")).or_default().add(present, &outcome);
            }
            if outcome != ItemOutcome::Correct {
                report.errors.push(ItemReport {
                    line: *line,
                    dataset: record.dataset.clone(),
                    case: record.case.clone(),
                    part,
                    request: record.request.clone(),
                    test,
                    present,
                    outcome,
                    answer,
                });
            }
        }
    }
    Ok(report)
}

fn judge_item(case: &Case, test: &str, result: &crate::transcript::TestResult, expected: &Expected) -> ItemOutcome {
    let answered = !result.assumed_normal;
    if !expected.accept_text.is_empty() || expected.near_text.is_some() {
        let lower = result.result.to_lowercase();
        return match (expected.present(), answered) {
            (_, false) if expected.present() => ItemOutcome::Missed,
            (false, false) => ItemOutcome::Correct,
            (true, true) if expected.accept_text.iter().any(|text| lower.contains(&text.to_lowercase())) => {
                ItemOutcome::Correct
            }
            _ => ItemOutcome::WrongNode { got: excerpt(&result.result), modality_or_region_mismatch: false },
        };
    }
    let Some(matched) = &result.matched else {
        return if expected.present() { ItemOutcome::Missed } else { ItemOutcome::Correct };
    };
    let parts: Vec<&str> = matched.split(" + ").collect();
    let acceptable = |path: &str| {
        expected.accept.iter().any(|accepted| {
            accepted == path
                || (is_within(accepted, path) && leaves_under(case, path) == 1)
                || is_within(path, accepted) && leaves_under(case, accepted) == 1
        })
    };
    if expected.present() && parts.iter().all(|path| acceptable(path)) {
        return ItemOutcome::Correct;
    }
    // An answer put together from several results (a panel whose parts are stored apart) is right
    // when every part lies within what the label accepts.
    if expected.present()
        && parts.len() > 1
        && parts.iter().all(|path| expected.accept.iter().any(|accepted| is_within(path, accepted)))
    {
        return ItemOutcome::Correct;
    }
    ItemOutcome::WrongNode { got: matched.clone(), modality_or_region_mismatch: mismatch(test, parts[0]) }
}

/// True when `inner` is `outer` or lies below it.
fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('.'))
}

/// The number of leaves under a node path (1 for a leaf).
fn leaves_under(case: &Case, path: &str) -> usize {
    let mut parts = path.split('.');
    let tree = match parts.next() {
        Some("exam") => &case.exam,
        Some("tests") => &case.tests,
        _ => return 0,
    };
    let mut node: Option<&crate::finding::Finding> = None;
    let mut group = tree;
    for part in parts {
        let Some((_, found)) = group.0.iter().find(|(name, _)| name == part) else { return 0 };
        node = Some(found);
        if let crate::finding::Finding::Group(inner) = found {
            group = inner;
        }
    }
    match node {
        Some(crate::finding::Finding::Group(inner)) => inner.leaves().len(),
        Some(_) => 1,
        None => 0,
    }
}

/// True when a request names a modality or region that the returned node's name contradicts.
fn mismatch(test: &str, path: &str) -> bool {
    let lexicon = Lexicon::get();
    let request = lexicon.facets(test);
    let node = lexicon.facets(&path.replace('.', " "));
    let echo_as_ultrasound = request.modalities.contains("echo") && node.modalities.contains("ultrasound");
    let comparable = !request.modalities.is_empty() && !node.modalities.is_empty() && !node.modalities.contains("any");
    let modality = comparable && request.modalities.is_disjoint(&node.modalities) && !echo_as_ultrasound;
    let region = !request.regions.is_empty()
        && !node.regions.is_empty()
        && !request.regions.iter().any(|left| node.regions.iter().any(|right| lexicon.regions_overlap(left, right)));
    modality || region
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(120).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}

/// The report as text: one table, then every error.
pub fn render(report: &EvalReport) -> String {
    let percent = |value: f64| format!("{:.2} %", value * 100.0);
    let mut out = String::from(
        "| dataset / part | tests | recall | wrong node | absent → normal | modality/region mismatches | split mismatches |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for (name, tally) in &report.tallies {
        out.push_str(&format!(
            "| {name} | {} | {} ({}/{}) | {} ({}) | {} ({}/{}) | {} | {} |\n",
            tally.tests,
            percent(tally.recall()),
            tally.present_correct,
            tally.present,
            percent(tally.wrong_node_rate()),
            tally.wrong_node,
            percent(tally.absent_correct_rate()),
            tally.absent_correct,
            tally.absent,
            tally.modality_region_mismatches,
            tally.split_mismatches
        ));
    }
    if !report.errors.is_empty() {
        out.push_str(&format!("\n{} error(s):\n", report.errors.len()));
        for error in &report.errors {
            let what = match &error.outcome {
                ItemOutcome::Correct => continue,
                ItemOutcome::Missed => "missed (answered normal readings)".to_owned(),
                ItemOutcome::WrongNode { got, modality_or_region_mismatch } => format!(
                    "{} {got}{}",
                    if error.present { "wrong node" } else { "absent, yet answered" },
                    if *modality_or_region_mismatch { " [modality/region mismatch]" } else { "" }
                ),
                ItemOutcome::SplitMismatch { got } => format!("split into {got} test(s)"),
            };
            out.push_str(&format!(
                "  line {} {}#{} ({}): {:?} → {:?}: {what}\n",
                error.line, error.dataset, error.case, error.part, error.request, error.test
            ));
        }
    }
    out
}
