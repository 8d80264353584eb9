//! A whole run as a library: plan the episodes a run directory still lacks, run them with at most
//! `concurrency` in flight, append each record the moment it ends, and summarise — with one
//! writer per directory, resume after a crash, and the recorded configuration checked. The
//! command line, a server or an RL environment drive it the same way and watch it through an
//! [`Observer`].

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use medsim_agents::strategic::{Learner, Lesson};
use medsim_core::Dataset;
use medsim_core::case::Case;
use medsim_core::transcript::{Event, EventKind, RoleName, StopReason};
use serde_json::Value;

use crate::assemble::Assembler;
use crate::manifest::{DatasetInfo, ManifestError, RUN_SCHEMA, RunKind, RunManifest};
use crate::runlog::{self, EpisodeRecord, Outcome, Repair, RunDir, RunLock, RunLogError};
use crate::summary::{Summary, Tally, markdown};
use crate::{Episode, EpisodeConfig, case_images, run_episode};

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// What was asked for cannot be done (a changed dataset, a configuration that differs from
    /// the recorded one, a directory another process holds …).
    #[error("{0}")]
    Input(String),
    /// The prompt templates asked for cannot be used.
    #[error(transparent)]
    Prompts(#[from] medsim_agents::prompts::PromptError),
    /// run.json is unreadable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The run directory could not be read or written.
    #[error(transparent)]
    Log(#[from] RunLogError),
    /// A role's model could not be set up.
    #[error("the {}'s model: {source}", role.as_str())]
    Model {
        /// The role.
        role: RoleName,
        /// Why.
        #[source]
        source: medsim_llm::LlmError,
    },
    /// A file around the log (the summaries) could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// True when the cause is what the user asked for (exit code 2), not a failure.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            RunError::Input(_)
                | RunError::Prompts(_)
                | RunError::Manifest(ManifestError::Field { .. })
                | RunError::Log(RunLogError::Busy { .. })
        )
    }
}

/// What watches a run: a progress bar today, a server's event stream tomorrow. Every method
/// has a do-nothing default.
pub trait Observer: Send + Sync {
    /// The run starts.
    fn run_started(&self, _start: &RunStart<'_>) {}
    /// Something worth telling a person (a repaired log, retried errors).
    fn note(&self, _message: &str) {}
    /// An episode starts.
    fn episode_started(&self, _case: &str, _repeat: u32) {}
    /// An event of an episode in flight.
    fn episode_event(&self, _case: &str, _repeat: u32, _event: &Event) {}
    /// An episode ended and its record is on disk.
    fn episode_finished(&self, _record: &EpisodeRecord) {}
}

/// What a run is about to do.
pub struct RunStart<'a> {
    /// The run directory.
    pub directory: &'a Path,
    /// Cases.
    pub cases: usize,
    /// Episodes per case.
    pub repeats: u32,
    /// Episodes planned in all.
    pub total: usize,
    /// The tally of the episodes already on disk.
    pub existing: &'a Tally,
    /// Episodes to run now.
    pub to_run: usize,
    /// Episodes in flight at once.
    pub concurrency: usize,
}

/// An observer that watches nothing.
pub struct Unobserved;

impl Observer for Unobserved {}

/// Writing experience memory after each verdict (learning runs).
pub struct LearnerPlan {
    /// The learner.
    pub learner: Arc<Learner>,
    /// Each training case's position in the training order.
    pub train_index: HashMap<String, u32>,
}

/// Everything one run directory needs.
pub struct RunPlan {
    /// The run directory.
    pub directory: PathBuf,
    /// The dataset as given (recorded canonically).
    pub dataset_spec: String,
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// Episodes per case.
    pub repeats: u32,
    /// The run's seed.
    pub seed: u64,
    /// Episodes in flight at once.
    pub concurrency: usize,
    /// Finish the run already in the directory.
    pub resume: bool,
    /// Run again the episodes that ended in an error.
    pub retry_errors: bool,
    /// What made the run.
    pub kind: RunKind,
    /// The ablation arm, the learning curve's memory size, strategies, split, memory.
    pub arm: Option<String>,
    /// Training cases whose memory a learning-curve point used.
    pub memory_size: Option<u32>,
    /// The strategies, as run.json records them.
    pub strategies: Option<Value>,
    /// The split, as run.json records it.
    pub split: Option<Value>,
    /// The memory, as run.json records it.
    pub memory: Option<Value>,
    /// Learning after each verdict, for `medsim learn`.
    pub learner: Option<LearnerPlan>,
}

/// How a run came out.
pub struct RunOutcome {
    /// The run directory.
    pub directory: PathBuf,
    /// The summary of every episode on disk.
    pub summary: Summary,
    /// Episodes planned.
    pub planned: usize,
}

impl RunOutcome {
    /// Episodes planned that are not on disk.
    pub fn missing(&self) -> usize {
        self.planned.saturating_sub(self.summary.episodes)
    }

    /// True when every planned episode is on disk and none ended in an error.
    pub fn complete(&self) -> bool {
        self.summary.errors == 0 && self.missing() == 0
    }
}

/// A per-episode seed from the run seed, case and repeat.
pub fn episode_seed(seed: u64, case: &str, repeat: u32) -> u64 {
    medsim_core::hash::fnv1a(seed, case.bytes().chain(repeat.to_le_bytes()))
}

/// The dataset as run.json records it: `builtin` and registered names as given, a path as its
/// absolute, canonical form, so the run resumes from any working directory.
pub fn recorded_spec(spec: &str, registered: impl Fn(&str) -> bool) -> String {
    if spec == medsim_core::builtin::BUILTIN || registered(spec) {
        return spec.to_owned();
    }
    std::fs::canonicalize(spec).map(|path| path.display().to_string()).unwrap_or_else(|_| spec.to_owned())
}

/// Runs (or finishes) one run directory and writes its summary.
pub async fn execute(
    plan: &RunPlan,
    dataset: &Dataset,
    assembler: &Assembler,
    observer: Arc<dyn Observer>,
) -> Result<RunOutcome, RunError> {
    let run_dir = RunDir::new(&plan.directory);
    // One writer at a time: a second `run --resume` of the same directory stops here.
    let lock = run_dir.lock()?;
    let mut recorded = open(plan, dataset, assembler, &lock)?;
    repair(plan, &lock, observer.as_ref())?;
    // What is already on disk: its keys (to skip) and its tally (for progress), not its records.
    let mut done = std::collections::HashSet::new();
    let mut existing = Tally::default();
    run_dir.visit_episodes(|record| {
        existing.add(&record);
        done.insert(record.key());
    })?;
    // Jobs are positions; each case is cloned only when a slot frees up for it.
    let pending: Vec<(usize, u32)> = (0..plan.repeats)
        .flat_map(|repeat| (0..plan.cases.len()).map(move |index| (index, repeat)))
        .filter(|&(index, repeat)| !done.contains(&(plan.cases[index].id.clone(), repeat)))
        .collect();
    drop(done);
    let total = plan.cases.len() * plan.repeats as usize;
    observer.run_started(&RunStart {
        directory: &plan.directory,
        cases: plan.cases.len(),
        repeats: plan.repeats,
        total,
        existing: &existing,
        to_run: pending.len(),
        concurrency: plan.concurrency,
    });
    let appender = lock.appender()?;
    let job = Job { plan, assembler, config: assembler.config.clone(), dataset };
    let jobs = pending.into_iter().map(move |(index, repeat)| (plan.cases[index].clone(), repeat));
    run_all(
        jobs,
        plan.concurrency,
        |case, repeat| job.run(case, repeat, observer.clone()),
        appender,
        |record| observer.episode_finished(record),
    )
    .await?;
    let (summary, _) = summarise_log(&run_dir)?;
    write_summary(&run_dir, &summary)?;
    // How the verdicts were reached, the judge model named, recorded beside the configuration.
    let judge_model = recorded.roles.get("judge").map(|judge| judge.model.clone()).unwrap_or_else(|| "none".into());
    let verdicts = summary.verdicts.iter().map(|(method, count)| {
        let name = if method == "judge" { format!("model {judge_model}") } else { method.clone() };
        (name, *count)
    });
    recorded.verdicts = Some(verdicts.collect());
    lock.write_run(&serde_json::to_value(&recorded).expect("manifests serialise"))?;
    Ok(RunOutcome { directory: plan.directory.clone(), summary, planned: total })
}

/// Writes run.json for a new run, or reads and checks the recorded one for a resume; returns
/// the manifest in force.
fn open(plan: &RunPlan, dataset: &Dataset, assembler: &Assembler, lock: &RunLock) -> Result<RunManifest, RunError> {
    let run_json = lock.dir().run_json();
    if !plan.resume && run_json.exists() {
        return Err(RunError::Input(format!(
            "{} already holds a run\n  hint: `medsim run --resume {}` finishes it; choose another --out for a new run",
            plan.directory.display(),
            plan.directory.display()
        )));
    }
    let manifest = RunManifest {
        schema: RUN_SCHEMA.into(),
        run_id: plan.directory.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
        medsim_version: env!("CARGO_PKG_VERSION").into(),
        dataset: DatasetInfo {
            spec: plan.dataset_spec.clone(),
            name: dataset.name.clone(),
            origin: dataset.origin.clone(),
            sha256: dataset.sha256.clone(),
            format: serde_json::to_value(dataset.format).unwrap_or(Value::Null),
        },
        cases: plan.cases.iter().map(|case| case.id.clone()).collect(),
        repeats: plan.repeats,
        seed: plan.seed,
        concurrency: plan.concurrency,
        setup: assembler.setup.clone(),
        roles: assembler.roles_record()?,
        prompts: assembler.prompts.versions().clone(),
        kind: Some(plan.kind),
        arm: plan.arm.clone(),
        memory_size: plan.memory_size,
        strategies: plan.strategies.clone(),
        split: plan.split.clone(),
        memory: plan.memory.clone(),
        verdicts: None,
    };
    if !(plan.resume && run_json.exists()) {
        lock.write_run(&serde_json::to_value(&manifest).expect("manifests serialise"))?;
        return Ok(manifest);
    }
    let recorded = RunManifest::read(&run_json)?;
    if recorded.dataset.sha256 != manifest.dataset.sha256 {
        return Err(RunError::Input(format!(
            "the dataset changed since the run started: recorded sha256 {}, now {}\n  hint: resume with the same dataset file, or start a new run",
            recorded.dataset.sha256, manifest.dataset.sha256
        )));
    }
    Ok(recorded)
}

/// Mends a log torn by a crash and, when asked, drops the episodes that ended in an error.
fn repair(plan: &RunPlan, lock: &RunLock, observer: &dyn Observer) -> Result<(), RunError> {
    match lock.repair()? {
        Repair::None => {}
        Repair::NewlineAdded => observer.note("completed the last line of the log"),
        Repair::TornLineCut { line } => observer.note(&format!(
            "cut off line {line} of the log, torn when the run was interrupted; its episode runs again"
        )),
    }
    if plan.retry_errors {
        let dropped = lock.rewrite_without(|record| record.outcome == Outcome::Error)?;
        observer.note(&format!("retrying {dropped} episode(s) that ended in an error"));
    }
    Ok(())
}

/// What every episode of a run shares.
struct Job<'a> {
    plan: &'a RunPlan,
    assembler: &'a Assembler,
    config: EpisodeConfig,
    dataset: &'a Dataset,
}

impl Job<'_> {
    /// One episode: actors, the consultation (its events forwarded to the observer as they
    /// happen), learning after the verdict when the run learns, and its record.
    async fn run(&self, case: Case, repeat: u32, observer: Arc<dyn Observer>) -> EpisodeRecord {
        let seed = episode_seed(self.plan.seed, &case.id, repeat);
        let tags: Vec<String> = case.specialty.iter().chain(&case.tags).cloned().collect();
        let bias = self.assembler.setup.doctor_bias.clone();
        observer.episode_started(&case.id, repeat);
        let built = match self.assembler.actors(&case, Some((seed, repeat)), None) {
            Ok(built) => built,
            Err(error) => return EpisodeRecord::new(failed_episode(&case, error.to_string()), repeat, tags, bias),
        };
        let images = case_images(&case, self.dataset.base_dir.as_deref());
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let forward = {
            let case_id = case.id.clone();
            tokio::spawn(async move {
                while let Some(event) = receiver.recv().await {
                    observer.episode_event(&case_id, repeat, &event);
                }
            })
        };
        let mut episode = run_episode(&case, &images, &built.actors, &self.config, Some(sender)).await;
        let _ = forward.await;
        if let (Some(learning), Some(verdict), Some(seat)) =
            (&self.plan.learner, episode.verdict.clone(), &built.doctor_seat)
        {
            let lesson = Lesson {
                case_id: &case.id,
                presentation: &case.objective,
                train_index: learning.train_index.get(&case.id).copied().unwrap_or(u32::MAX),
                events: &episode.events,
                verdict: &verdict,
            };
            match learning.learner.after_verdict(seat, &built.prompts, built.actors.judge.as_ref(), lesson).await {
                Ok(events) => episode.append(events),
                Err(error) => episode.append(vec![EventKind::Error {
                    role: RoleName::Doctor,
                    message: format!("learning after the verdict failed: {error}"),
                }]),
            }
        }
        EpisodeRecord::new(episode, repeat, tags, bias)
    }
}

/// The summary of a run directory's log, read one record at a time; each `(case, repeat)` counts
/// once (the first written wins) and the keys written more than once are returned. A log written
/// under the run lock has none; one written by an older medsim or merged by hand may.
pub fn summarise_log(run_dir: &RunDir) -> Result<(Summary, Vec<(String, u32)>), RunError> {
    let mut tally = Tally::default();
    let mut seen = std::collections::HashSet::new();
    let mut repeated = std::collections::BTreeSet::new();
    run_dir.visit_episodes(|record| {
        if seen.insert(record.key()) {
            tally.add(&record);
        } else {
            repeated.insert(record.key());
        }
    })?;
    Ok((tally.summary(), repeated.into_iter().collect()))
}

/// Writes summary.json and summary.md (each atomically, so a reader never sees half of one).
pub fn write_summary(run_dir: &RunDir, summary: &Summary) -> Result<(), RunError> {
    let write = |name: &str, text: String| -> Result<(), RunError> {
        let temporary = run_dir.path.join(format!(".{name}.{}.partial", std::process::id()));
        let io = |source| RunError::Io { path: temporary.display().to_string(), source };
        std::fs::write(&temporary, text).map_err(io)?;
        std::fs::rename(&temporary, run_dir.path.join(name)).map_err(io)
    };
    write("summary.json", serde_json::to_string_pretty(summary).expect("summaries serialise") + "\n")?;
    write("summary.md", markdown(summary, &format!("medsim run {}", run_dir.path.display())))
}

/// The record of an episode whose actors could not even be set up.
pub fn failed_episode(case: &Case, message: String) -> Episode {
    Episode {
        case_id: case.id.clone(),
        stop_reason: StopReason::Error,
        verdict: None,
        turns: 0,
        tests_ordered: 0,
        tokens: Default::default(),
        cost_usd: 0.0,
        wall_ms: 0.0,
        patient_leaks: 0,
        error: Some(message.clone()),
        priced: Vec::new(),
        care_cost: 0.0,
        events: vec![Event { t_ms: 0.0, kind: EventKind::Error { role: RoleName::Doctor, message } }],
    }
}

/// Runs jobs `(case, repeat)` with at most `concurrency` in flight, appending each record to
/// the log as soon as its episode ends. Returns how many were written. Finished episodes are
/// not kept: each record is written, handed to `on_record` once it is on disk, and dropped.
///
/// Writing never stalls the episodes: records are written and synced on a blocking thread while
/// the episodes go on, and those that finish during a write are written together by the next
/// one (one sync per batch, not per record).
pub async fn run_all<F, Fut>(
    jobs: impl IntoIterator<Item = (Case, u32)>,
    concurrency: usize,
    run_one: F,
    appender: runlog::Appender,
    mut on_record: impl FnMut(&EpisodeRecord),
) -> Result<usize, RunLogError>
where
    F: Fn(Case, u32) -> Fut,
    Fut: Future<Output = EpisodeRecord>,
{
    use futures::StreamExt;
    type Write = tokio::task::JoinHandle<(runlog::Appender, Vec<EpisodeRecord>, Result<(), RunLogError>)>;
    let mut finished =
        futures::stream::iter(jobs).map(|(case, repeat)| run_one(case, repeat)).buffer_unordered(concurrency.max(1));
    let (mut idle, mut writing): (Option<runlog::Appender>, Option<Write>) = (Some(appender), None);
    let mut queued: Vec<EpisodeRecord> = Vec::new();
    let (mut written, mut all_finished) = (0, false);
    loop {
        if let Some(mut appender) = idle.take_if(|_| !queued.is_empty()) {
            let batch = std::mem::take(&mut queued);
            writing = Some(tokio::task::spawn_blocking(move || {
                let result = appender.append_all(&batch);
                (appender, batch, result)
            }));
        }
        let Some(write) = writing.as_mut() else {
            if all_finished {
                return Ok(written);
            }
            match finished.next().await {
                Some(record) => queued.push(record),
                None => all_finished = true,
            }
            continue;
        };
        tokio::select! {
            next = finished.next(), if !all_finished => match next {
                Some(record) => queued.push(record),
                None => all_finished = true,
            },
            done = write => {
                writing = None;
                let (appender, batch, result) = done.expect("the log writer does not panic");
                result?;
                idle = Some(appender);
                for record in &batch {
                    written += 1;
                    on_record(record);
                }
            }
        }
    }
}

/// `runs/<time>-<dataset>`.
pub fn default_directory(dataset: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Path::new("runs").join(format!("{stamp}-{}", dataset.replace(['/', '.'], "_")))
}
