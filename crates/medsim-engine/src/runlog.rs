//! The run directory: `run.json` (everything needed to reproduce the run) and `episodes.jsonl`
//! (one line per finished episode, appended and flushed as each ends).
//!
//! A process killed at any moment loses at most the episodes in flight: a torn last line is
//! detected and cut off when the run is resumed, and an episode already on disk is never run
//! or written again.
//!
//! One writer at a time: every writer holds [`RunLock`], an exclusive lock on `.lock` in the
//! directory (released by the operating system when the process ends, however it ends), and
//! only through it can the log be appended to, rewritten or repaired. Readers take no lock and
//! never modify anything: they read up to the last complete line, keep a complete last record
//! that lacks only its newline, and skip an incomplete tail that a writer may still be writing.

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
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// What happened.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the run directory.
    #[error(
        "{path} is in use by another medsim process{}\n  hint: wait for it to finish, or stop it; two writers would run the same episodes twice",
        pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Busy {
        /// The run directory.
        path: String,
        /// The holder's process id, when it wrote one.
        pid: Option<u32>,
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

fn io(path: &Path, source: std::io::Error) -> RunLogError {
    RunLogError::Io { path: path.display().to_string(), source }
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

    /// Reads `run.json`.
    pub fn read_run(&self) -> Result<Value, RunLogError> {
        let text = std::fs::read_to_string(self.run_json()).map_err(|error| io(&self.run_json(), error))?;
        serde_json::from_str(&text).map_err(|error| io(&self.run_json(), error.into()))
    }

    /// Every complete episode record, read without modifying anything (safe while a writer
    /// appends). A last line without its newline is kept when it is a whole record and skipped
    /// when it is not (a writer may be in the middle of it); a bad line before the last is an
    /// error naming it.
    pub fn read_episodes(&self) -> Result<Vec<EpisodeRecord>, RunLogError> {
        let mut records = Vec::new();
        self.visit_episodes(|record| records.push(record))?;
        Ok(records)
    }

    /// Hands each complete episode record to `visit`, one at a time and in log order, as
    /// [`RunDir::read_episodes`] reads them, without holding them all.
    pub fn visit_episodes(&self, visit: impl FnMut(EpisodeRecord)) -> Result<(), RunLogError> {
        self.scan(visit).map(|_| ())
    }

    /// Reads the log: its records to `visit`, and where its whole lines end.
    fn scan(&self, visit: impl FnMut(EpisodeRecord)) -> Result<Scan, RunLogError> {
        let path = self.episodes();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Scan::default()),
            Err(error) => return Err(io(&path, error)),
        };
        scan(BufReader::new(file), &path, visit)
    }

    /// Takes the directory for writing (creating it), or says who holds it.
    pub fn lock(&self) -> Result<RunLock, RunLogError> {
        std::fs::create_dir_all(&self.path).map_err(|error| io(&self.path, error))?;
        let path = self.path.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| io(&path, error))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder writes its pid just after taking the lock: give it a moment.
                let mut pid = None;
                for _ in 0..20 {
                    pid = std::fs::read_to_string(&path).ok().and_then(|text| text.trim().parse().ok());
                    if pid.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                return Err(RunLogError::Busy { path: self.path.display().to_string(), pid });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io(&path, error)),
        }
        file.set_len(0).map_err(|error| io(&path, error))?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(|error| io(&path, error))?;
        Ok(RunLock { dir: RunDir::new(&self.path), _file: file })
    }
}

/// Reads episode records from a log's bytes, as [`RunDir::read_episodes`] does (for tools and
/// fuzzing); `path` names it in errors.
pub fn read_records(reader: impl BufRead, path: &Path) -> Result<Vec<EpisodeRecord>, RunLogError> {
    let mut records = Vec::new();
    scan(reader, path, |record| records.push(record))?;
    Ok(records)
}

fn scan(mut reader: impl BufRead, path: &Path, mut visit: impl FnMut(EpisodeRecord)) -> Result<Scan, RunLogError> {
    let mut scan = Scan::default();
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut number = 0usize;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|error| io(path, error))?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let body = if complete { &line[..line.len() - 1] } else { &line[..] };
        if body.iter().all(u8::is_ascii_whitespace) {
            if complete {
                offset += read as u64;
                scan.whole_lines_end = offset;
            }
            continue;
        }
        match serde_json::from_slice::<EpisodeRecord>(body) {
            Ok(record) => {
                visit(record);
                offset += read as u64;
                if complete {
                    scan.whole_lines_end = offset;
                } else {
                    scan.tail = Tail::RecordWithoutNewline;
                }
            }
            Err(_) if !complete => scan.tail = Tail::Incomplete { line: number },
            Err(error) => {
                return Err(RunLogError::BadLine {
                    path: path.display().to_string(),
                    line: number,
                    message: error.to_string(),
                });
            }
        }
    }
    Ok(scan)
}

/// What a scan found at the end of the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// The log ends on a newline.
    #[default]
    Clean,
    /// The last line is a whole record without its newline.
    RecordWithoutNewline,
    /// The last line is not (yet) a record.
    Incomplete {
        /// Its 1-based number.
        line: usize,
    },
}

#[derive(Default)]
struct Scan {
    /// Bytes up to the end of the last newline-terminated line.
    whole_lines_end: u64,
    tail: Tail,
}

/// What [`RunLock::repair`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing needed doing.
    None,
    /// A whole last record lacked its newline; it was added.
    NewlineAdded,
    /// A torn last line (a crash mid-write) was cut off.
    TornLineCut {
        /// Its 1-based number.
        line: usize,
    },
}

/// Exclusive, writing access to a run directory, held until dropped (or the process ends).
pub struct RunLock {
    dir: RunDir,
    _file: File,
}

impl RunLock {
    /// The directory.
    pub fn dir(&self) -> &RunDir {
        &self.dir
    }

    /// Writes `run.json` (atomically).
    pub fn write_run(&self, run: &Value) -> Result<(), RunLogError> {
        let temporary = self.dir.path.join(".run.json.partial");
        std::fs::write(&temporary, serde_json::to_string_pretty(run).expect("JSON") + "\n")
            .map_err(|error| io(&temporary, error))?;
        std::fs::rename(&temporary, self.dir.run_json()).map_err(|error| io(&self.dir.run_json(), error))
    }

    /// Makes the log end on a whole record: a last record without its newline gets one, a torn
    /// last line is cut off. Only a writer may do this, and it does it before appending.
    pub fn repair(&self) -> Result<Repair, RunLogError> {
        let scan = self.dir.scan(|_| ())?;
        let path = self.dir.episodes();
        match scan.tail {
            Tail::Clean => Ok(Repair::None),
            Tail::RecordWithoutNewline => {
                let mut file = OpenOptions::new().append(true).open(&path).map_err(|error| io(&path, error))?;
                file.write_all(b"\n").map_err(|error| io(&path, error))?;
                file.sync_data().map_err(|error| io(&path, error))?;
                Ok(Repair::NewlineAdded)
            }
            Tail::Incomplete { line } => {
                let file = OpenOptions::new().write(true).open(&path).map_err(|error| io(&path, error))?;
                file.set_len(scan.whole_lines_end).map_err(|error| io(&path, error))?;
                file.sync_data().map_err(|error| io(&path, error))?;
                tracing::warn!(line, "discarded a torn last line of episodes.jsonl");
                Ok(Repair::TornLineCut { line })
            }
        }
    }

    /// Rewrites the log without the records `drop` selects (atomically); returns how many were
    /// dropped.
    pub fn rewrite_without(&self, drop: impl Fn(&EpisodeRecord) -> bool) -> Result<usize, RunLogError> {
        let temporary = self.dir.path.join(".episodes.jsonl.partial");
        let mut file = std::io::BufWriter::new(File::create(&temporary).map_err(|error| io(&temporary, error))?);
        let mut dropped = 0;
        let mut failed = None;
        self.dir.visit_episodes(|record| {
            if drop(&record) {
                dropped += 1;
            } else if failed.is_none() {
                failed = writeln!(file, "{}", serde_json::to_string(&record).expect("JSON")).err();
            }
        })?;
        if let Some(error) = failed {
            return Err(io(&temporary, error));
        }
        let file = file.into_inner().map_err(|error| io(&temporary, error.into_error()))?;
        file.sync_all().map_err(|error| io(&temporary, error))?;
        std::fs::rename(&temporary, self.dir.episodes()).map_err(|error| io(&self.dir.episodes(), error))?;
        Ok(dropped)
    }

    /// Opens the log for appending, after repairing its end.
    pub fn appender(&self) -> Result<Appender, RunLogError> {
        self.repair()?;
        let path = self.dir.episodes();
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
        self.append_all(std::slice::from_ref(record))
    }

    /// Appends records, one line each, and syncs once: on disk when this returns.
    pub fn append_all(&mut self, records: &[EpisodeRecord]) -> Result<(), RunLogError> {
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record).expect("records serialise");
            lines.push(b'\n');
        }
        self.file.write_all(&lines).map_err(|error| io(&self.path, error))?;
        self.file.sync_data().map_err(|error| io(&self.path, error))
    }
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
            priced: Vec::new(),
            care_cost: 130.0 + 10.0 * f64::from(turns),
            events: Vec::new(),
        };
        EpisodeRecord::new(episode, repeat, tags.iter().map(|tag| (*tag).to_owned()).collect(), None)
    }

    fn names(records: &[EpisodeRecord]) -> Vec<&str> {
        records.iter().map(|record| record.case_id.as_str()).collect()
    }

    #[test]
    fn readers_never_modify_the_log_and_the_writer_repairs_its_end() {
        let directory = tempfile::tempdir().unwrap();
        let run = RunDir::new(directory.path());
        let lock = run.lock().unwrap();
        let mut appender = lock.appender().unwrap();
        appender.append(&record("a", 0, Outcome::Correct, 3, &[])).unwrap();
        appender.append(&record("b", 0, Outcome::Incorrect, 4, &[])).unwrap();
        let whole = std::fs::read(run.episodes()).unwrap();
        let line = serde_json::to_vec(&record("c", 0, Outcome::Correct, 2, &[])).unwrap();

        // A torn last line (a writer mid-write, or a crash): readers skip it and leave it.
        let mut torn = whole.clone();
        torn.extend_from_slice(&line[..line.len() / 2]);
        std::fs::write(run.episodes(), &torn).unwrap();
        assert_eq!(names(&run.read_episodes().unwrap()), ["a", "b"]);
        assert_eq!(std::fs::read(run.episodes()).unwrap(), torn, "a reader changes nothing");
        assert_eq!(lock.repair().unwrap(), Repair::TornLineCut { line: 3 });
        assert_eq!(std::fs::read(run.episodes()).unwrap(), whole, "the writer cuts it off");

        // A whole last record lacking only its newline is kept by readers, and the writer
        // completes it rather than cutting it.
        let mut no_newline = whole.clone();
        no_newline.extend_from_slice(&line);
        std::fs::write(run.episodes(), &no_newline).unwrap();
        assert_eq!(names(&run.read_episodes().unwrap()), ["a", "b", "c"]);
        assert_eq!(std::fs::read(run.episodes()).unwrap(), no_newline);
        assert_eq!(lock.repair().unwrap(), Repair::NewlineAdded);
        assert_eq!(names(&run.read_episodes().unwrap()), ["a", "b", "c"]);
        assert_eq!(lock.repair().unwrap(), Repair::None);

        // Every prefix of the file reads without panicking: whole records, no more.
        let bytes = std::fs::read(run.episodes()).unwrap();
        for cut in 0..=bytes.len() {
            std::fs::write(run.episodes(), &bytes[..cut]).unwrap();
            let records = run.read_episodes().unwrap();
            let complete_lines = bytes[..cut].iter().filter(|byte| **byte == b'\n').count();
            assert!(records.len() == complete_lines || records.len() == complete_lines + 1, "cut at {cut}");
        }
    }

    #[test]
    fn a_bad_line_before_the_last_is_named() {
        let directory = tempfile::tempdir().unwrap();
        let run = RunDir::new(directory.path());
        let good = serde_json::to_string(&record("a", 0, Outcome::Correct, 3, &[])).unwrap();
        std::fs::write(run.episodes(), format!("{good}\n{{\"oops\": 1}}\n{good}\n")).unwrap();
        let error = run.read_episodes().unwrap_err().to_string();
        assert!(error.contains("episodes.jsonl:2: not an episode record"), "{error}");
    }

    #[test]
    fn one_writer_at_a_time_and_the_second_is_told_who_holds_it() {
        let directory = tempfile::tempdir().unwrap();
        let run = RunDir::new(directory.path());
        let first = run.lock().unwrap();
        let error = run.lock().err().expect("a second writer is refused");
        assert!(matches!(error, RunLogError::Busy { pid: Some(pid), .. } if pid == std::process::id()), "{error}");
        assert!(error.to_string().contains(&format!("(pid {})", std::process::id())), "{error}");
        drop(first);
        run.lock().expect("free again once the first is dropped");
    }

    #[test]
    fn repeated_keys_are_dropped_and_named() {
        let records = vec![
            record("a", 0, Outcome::Correct, 3, &[]),
            record("a", 0, Outcome::Incorrect, 3, &[]),
            record("a", 1, Outcome::Correct, 3, &[]),
            record("b", 0, Outcome::Correct, 3, &[]),
            record("a", 0, Outcome::Error, 3, &[]),
        ];
        let directory = tempfile::tempdir().unwrap();
        let run = RunDir::new(directory.path());
        run.lock().unwrap().appender().unwrap().append_all(&records).unwrap();
        let (kept, repeated) = crate::run::summarise_log(&run).unwrap();
        assert_eq!(kept.episodes, 3);
        assert_eq!(kept.accuracy.correct, 3, "the first written wins");
        assert_eq!(repeated, [("a".to_owned(), 0)]);
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
