//! The run directory: `run.json` (everything needed to reproduce the run) and `episodes.jsonl`
//! (one line per finished episode, appended and flushed as each ends).
//!
//! A process killed at any moment loses at most the episodes in flight: a torn last line is
//! detected and cut off when the run is resumed, and an episode already on disk is never run
//! or written again.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Episode;

/// Version of the run log schema (`schemas/run.schema.json`, `schemas/episode.schema.json`).
pub const RUN_SCHEMA: &str = "medsim.run/v1";
/// Version of an episode line.
pub const EPISODE_SCHEMA: &str = "medsim.episode/v1";

/// How an episode came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The verdict was correct.
    Correct,
    /// The verdict was incorrect (or no diagnosis was given).
    Incorrect,
    /// The episode failed (a model call failed after its retries).
    Error,
}

/// One line of `episodes.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "medsim episode record", description = "One line of episodes.jsonl (medsim.episode/v1).")]
pub struct EpisodeRecord {
    /// Schema version.
    pub schema: String,
    /// Case id.
    pub case_id: String,
    /// Repeat index, from 0.
    pub repeat: u32,
    /// Outcome.
    pub outcome: Outcome,
    /// The case's tags and specialties (for breakdowns).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The doctor bias of the run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<String>,
    /// The episode: transcript events, verdict, stop reason, turns, tests, tokens, cost, time.
    pub episode: Episode,
}

impl EpisodeRecord {
    /// A record for a finished episode.
    pub fn new(episode: Episode, repeat: u32, tags: Vec<String>, bias: Option<String>) -> EpisodeRecord {
        let outcome = match (&episode.error, &episode.verdict) {
            (Some(_), _) | (None, None) => Outcome::Error,
            (None, Some(verdict)) if verdict.correct => Outcome::Correct,
            (None, Some(_)) => Outcome::Incorrect,
        };
        EpisodeRecord {
            schema: EPISODE_SCHEMA.into(),
            case_id: episode.case_id.clone(),
            repeat,
            outcome,
            tags,
            bias,
            episode,
        }
    }

    /// `(case id, repeat)`.
    pub fn key(&self) -> (String, u32) {
        (self.case_id.clone(), self.repeat)
    }
}

/// Why a run directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RunLogError {
    /// Reading or writing failed.
    #[error("{path}: {message}")]
    Io {
        /// File.
        path: String,
        /// What happened.
        message: String,
    },
    /// A line in the middle of the log is not an episode record.
    #[error(
        "{path}:{line}: not an episode record: {message}\n  hint: the log was edited or corrupted; move the bad line away and resume"
    )]
    BadLine {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// Why.
        message: String,
    },
}

fn io(path: &Path, error: impl std::fmt::Display) -> RunLogError {
    RunLogError::Io { path: path.display().to_string(), message: error.to_string() }
}

/// The run directory's files.
pub struct RunDir {
    /// The directory.
    pub path: PathBuf,
}

impl RunDir {
    /// A run directory (not yet created).
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    /// `run.json`.
    pub fn run_json(&self) -> PathBuf {
        self.path.join("run.json")
    }

    /// `episodes.jsonl`.
    pub fn episodes(&self) -> PathBuf {
        self.path.join("episodes.jsonl")
    }

    /// Writes `run.json` (atomically).
    pub fn write_run(&self, run: &Value) -> Result<(), RunLogError> {
        std::fs::create_dir_all(&self.path).map_err(|error| io(&self.path, error))?;
        let temporary = self.path.join(".run.json.partial");
        std::fs::write(&temporary, serde_json::to_string_pretty(run).expect("JSON") + "\n")
            .map_err(|error| io(&temporary, error))?;
        std::fs::rename(&temporary, self.run_json()).map_err(|error| io(&self.run_json(), error))
    }

    /// Reads `run.json`.
    pub fn read_run(&self) -> Result<Value, RunLogError> {
        let text = std::fs::read_to_string(self.run_json()).map_err(|error| io(&self.run_json(), error))?;
        serde_json::from_str(&text).map_err(|error| io(&self.run_json(), error))
    }

    /// Every complete episode record. A torn last line (a crash mid-write) is cut off the file.
    pub fn read_episodes(&self) -> Result<Vec<EpisodeRecord>, RunLogError> {
        let path = self.episodes();
        let Ok(file) = File::open(&path) else { return Ok(Vec::new()) };
        let mut records = Vec::new();
        let mut good_bytes = 0u64;
        let mut lines = BufReader::new(file).split(b'\n').enumerate().peekable();
        let length = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
        while let Some((index, line)) = lines.next() {
            let line = line.map_err(|error| io(&path, error))?;
            let is_last = lines.peek().is_none();
            // Complete only if the newline after it is in the file.
            let complete = good_bytes + (line.len() as u64) < length;
            if line.iter().all(u8::is_ascii_whitespace) {
                good_bytes += line.len() as u64 + 1;
                continue;
            }
            match serde_json::from_slice::<EpisodeRecord>(&line) {
                Ok(record) if complete => {
                    records.push(record);
                    good_bytes += line.len() as u64 + 1;
                }
                Ok(_) | Err(_) if is_last => {
                    // Torn final line: drop it so the file ends on a whole record.
                    let file = OpenOptions::new().write(true).open(&path).map_err(|error| io(&path, error))?;
                    file.set_len(good_bytes).map_err(|error| io(&path, error))?;
                    tracing::warn!(line = index + 1, "discarded a torn last line of episodes.jsonl");
                    break;
                }
                Ok(_) => unreachable!("only the last line can be incomplete"),
                Err(error) => {
                    return Err(RunLogError::BadLine {
                        path: path.display().to_string(),
                        line: index + 1,
                        message: error.to_string(),
                    });
                }
            }
        }
        Ok(records)
    }

    /// Rewrites the log without the records `drop` selects (atomically).
    pub fn rewrite_without(&self, drop: impl Fn(&EpisodeRecord) -> bool) -> Result<usize, RunLogError> {
        let records = self.read_episodes()?;
        let temporary = self.path.join(".episodes.jsonl.partial");
        let mut file = File::create(&temporary).map_err(|error| io(&temporary, error))?;
        let mut dropped = 0;
        for record in &records {
            if drop(record) {
                dropped += 1;
                continue;
            }
            writeln!(file, "{}", serde_json::to_string(record).expect("JSON"))
                .map_err(|error| io(&temporary, error))?;
        }
        file.sync_all().map_err(|error| io(&temporary, error))?;
        std::fs::rename(&temporary, self.episodes()).map_err(|error| io(&self.episodes(), error))?;
        Ok(dropped)
    }

    /// Opens the log for appending.
    pub fn appender(&self) -> Result<Appender, RunLogError> {
        std::fs::create_dir_all(&self.path).map_err(|error| io(&self.path, error))?;
        let path = self.episodes();
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|error| io(&path, error))?;
        Ok(Appender { file, path })
    }
}

/// Appends records, one flushed line each.
pub struct Appender {
    file: File,
    path: PathBuf,
}

impl Appender {
    /// Writes one record as one line, in one write, and syncs it to disk.
    pub fn append(&mut self, record: &EpisodeRecord) -> Result<(), RunLogError> {
        let mut line = serde_json::to_vec(record).expect("records serialise");
        line.push(b'\n');
        self.file.write_all(&line).map_err(|error| io(&self.path, error))?;
        self.file.sync_data().map_err(|error| io(&self.path, error))
    }
}

/// `(case, repeat)` pairs already in the log.
pub fn done_keys(records: &[EpisodeRecord]) -> BTreeSet<(String, u32)> {
    records.iter().map(EpisodeRecord::key).collect()
}

/// The JSON Schema of one `episodes.jsonl` line, pretty-printed.
pub fn episode_schema_json() -> String {
    let mut schema = schemars::schema_for!(EpisodeRecord);
    schema.insert("$id".to_owned(), format!("urn:medsim:schema:{EPISODE_SCHEMA}").into());
    serde_json::to_string_pretty(&schema).expect("schemas serialise") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use medsim_core::transcript::{StopReason, Tokens, Verdict, VerdictMethod};

    /// A hand-made episode record.
    pub(crate) fn record(case: &str, repeat: u32, outcome: Outcome, turns: u32, tags: &[&str]) -> EpisodeRecord {
        let verdict = (outcome != Outcome::Error).then(|| Verdict {
            correct: outcome == Outcome::Correct,
            diagnosis: "d".into(),
            ground_truth: "g".into(),
            method: VerdictMethod::Judge,
            raw: None,
            reason: String::new(),
        });
        let episode = Episode {
            case_id: case.into(),
            stop_reason: if outcome == Outcome::Error {
                StopReason::Error
            } else if turns >= 20 {
                StopReason::BudgetExhausted
            } else {
                StopReason::Diagnosed
            },
            verdict,
            turns,
            tests_ordered: turns as usize / 2,
            tokens: Tokens { prompt: 100 * u64::from(turns), completion: 10 * u64::from(turns) },
            cost_usd: 0.001 * f64::from(turns),
            wall_ms: 1000.0,
            patient_leaks: usize::from(case == "leaky"),
            error: (outcome == Outcome::Error).then(|| "HTTP 500".into()),
            events: Vec::new(),
        };
        EpisodeRecord::new(episode, repeat, tags.iter().map(|tag| (*tag).to_owned()).collect(), None)
    }

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let directory = tempfile::tempdir().unwrap();
        let run = RunDir::new(directory.path());
        let mut appender = run.appender().unwrap();
        appender.append(&record("a", 0, Outcome::Correct, 3, &[])).unwrap();
        appender.append(&record("b", 0, Outcome::Incorrect, 4, &[])).unwrap();
        let whole = std::fs::read(run.episodes()).unwrap();
        let mut torn = whole.clone();
        let line = serde_json::to_vec(&record("c", 0, Outcome::Correct, 2, &[])).unwrap();
        torn.extend_from_slice(&line[..line.len() / 2]);
        std::fs::write(run.episodes(), &torn).unwrap();
        let records = run.read_episodes().unwrap();
        assert_eq!(records.iter().map(|record| record.case_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(std::fs::read(run.episodes()).unwrap(), whole, "the file ends on a whole record again");
        // A complete last line without its newline is torn too: it may be cut mid-number.
        let mut no_newline = whole.clone();
        no_newline.extend_from_slice(&line);
        std::fs::write(run.episodes(), &no_newline).unwrap();
        assert_eq!(run.read_episodes().unwrap().len(), 2);
    }

    #[test]
    fn summary_of_a_hand_made_log() {
        use crate::summary::summarise;
        let records = vec![
            record("a", 0, Outcome::Correct, 4, &["cardiology"]),
            record("b", 0, Outcome::Incorrect, 6, &["cardiology"]),
            record("c", 0, Outcome::Error, 0, &["neurology"]),
            record("leaky", 0, Outcome::Correct, 20, &["neurology"]),
            record("a", 1, Outcome::Correct, 2, &["cardiology"]),
            record("b", 1, Outcome::Correct, 8, &["cardiology"]),
            record("c", 1, Outcome::Incorrect, 10, &["neurology"]),
            record("leaky", 1, Outcome::Correct, 20, &["neurology"]),
        ];
        let summary = summarise(&records);
        assert_eq!(summary.episodes, 8);
        assert_eq!((summary.accuracy.correct, summary.accuracy.judged, summary.errors), (5, 7, 1));
        assert!((summary.accuracy.accuracy - 5.0 / 7.0).abs() < 1e-12);
        assert!((summary.accuracy.ci_low - 0.358_934).abs() < 1e-5, "{}", summary.accuracy.ci_low);
        assert!((summary.accuracy.ci_high - 0.917_781).abs() < 1e-5, "{}", summary.accuracy.ci_high);
        assert_eq!(summary.budget_exhausted, 2);
        assert_eq!(summary.mean_turns, 8.75);
        assert_eq!(summary.median_turns, 7.0);
        assert_eq!(summary.tests_per_episode, 4.375);
        assert_eq!(summary.patient_leaks, 2);
        assert_eq!((summary.prompt_tokens, summary.completion_tokens), (7000, 700));
        assert!((summary.cost_usd - 0.07).abs() < 1e-9);
        assert_eq!(summary.by_tag["cardiology"].correct, 3);
        assert_eq!(summary.by_tag["neurology"].judged, 3);
        let repeats = summary.repeats.unwrap();
        assert_eq!(repeats.accuracy_by_repeat, vec![0.666_667, 0.75]);
        assert_eq!(repeats.mean_agreement, 0.875, "a, c and leaky agree with themselves; b splits");
    }
}
