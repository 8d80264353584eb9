//! `medsim run`, `medsim summary`, `medsim runs list`, `medsim show`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use medsim_core::LoadOptions;
use medsim_core::case::Case;
use medsim_engine::runlog::{EpisodeRecord, Outcome, RUN_SCHEMA, RunDir, done_keys};
use medsim_engine::summary::{Summary, markdown, summarise};
use medsim_engine::{case_images, run_all, run_episode};
use serde_json::{Value, json};

use medsim_agents::strategic::Learner;

use super::consult::{StrategySetup, build, config, load_prompts, print_event};
use super::{Places, print_json};
use crate::cli::{RunArgs, SetupArgs};
use crate::datasets::DatasetStore;
use crate::output::Table;
use crate::settings::{ROLES, Settings};
use crate::{BadInput, Exit};

/// A per-episode seed from the run seed, case and repeat (FNV-1a).
fn episode_seed(seed: u64, case: &str, repeat: u32) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in case.bytes().chain(repeat.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    hash
}

/// The part of run.json a resume must match.
fn fingerprint(run: &Value) -> Value {
    json!({ "dataset": run["dataset"]["sha256"], "cases": run["cases"], "repeats": run["repeats"], "seed": run["seed"], "setup": run["setup"] })
}

pub fn run(args: RunArgs, store: &DatasetStore, settings: &Settings, places: &Places) -> Result<Exit> {
    let started = Instant::now();
    let (directory, setup, dataset_spec, selected, repeats, seed, split) = match &args.resume {
        Some(directory) => {
            let run_dir = RunDir::new(directory);
            let recorded = run_dir.read_run().map_err(|error| BadInput(format!("cannot resume: {error}")))?;
            let setup: SetupArgs = serde_json::from_value(recorded["setup"].clone())
                .map_err(|error| BadInput(format!("{}: unreadable setup: {error}", run_dir.run_json().display())))?;
            // A configuration given on the command line must be the recorded one.
            let default_setup = default_setup();
            if args.setup != default_setup && args.setup != setup {
                return Err(BadInput(format!(
                    "the configuration given differs from the one recorded in {}\n  recorded: {}\n  given:    {}\n  hint: resume with no configuration flags, or start a new run with --out",
                    run_dir.run_json().display(),
                    serde_json::to_string(&setup)?,
                    serde_json::to_string(&args.setup)?
                ))
                .into());
            }
            let cases: Vec<String> = serde_json::from_value(recorded["cases"].clone()).unwrap_or_default();
            let spec = recorded["dataset"]["spec"].as_str().unwrap_or("builtin").to_owned();
            (
                directory.clone(),
                setup,
                spec,
                Some(cases),
                recorded["repeats"].as_u64().unwrap_or(1) as u32,
                recorded["seed"].as_u64().unwrap_or(0),
                recorded.get("split").cloned().unwrap_or(Value::Null),
            )
        }
        None => {
            let directory = args.out.clone().unwrap_or_else(|| default_directory(&args.dataset));
            (directory, args.setup.clone(), args.dataset.clone(), None, args.repeats.max(1), args.seed, Value::Null)
        }
    };
    let dataset = store.load(&dataset_spec, LoadOptions::default())?;
    let (cases, split) = match &selected {
        Some(ids) => (
            ids.iter()
                .map(|id| {
                    dataset.case(id).cloned().ok_or_else(|| {
                        BadInput(format!("case {id:?} of the recorded run is no longer in {}", dataset.name))
                    })
                })
                .collect::<Result<Vec<Case>, _>>()?,
            split,
        ),
        None => {
            let chosen: Vec<Case> = if args.cases.is_empty() {
                dataset.cases.clone()
            } else {
                args.cases
                    .iter()
                    .map(|id| {
                        dataset.case(id).cloned().ok_or_else(|| BadInput(format!("no case {id:?} in {}", dataset.name)))
                    })
                    .collect::<Result<_, _>>()?
            };
            let (mut chosen, split) = super::learn::apply_split(chosen, &dataset.cases, &args.split);
            if let Some(limit) = args.limit {
                chosen.truncate(limit);
            }
            (chosen, split)
        }
    };
    let factory = settings.factory(&args.cache, &places.cache_dir, &places.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (strategy, memory_info) =
        runtime.block_on(super::learn::evaluation_strategy(&setup, places, &factory, &dataset, &cases, None))?;
    let plan = Plan {
        directory: directory.clone(),
        dataset_spec,
        cases,
        repeats,
        seed,
        concurrency: args.concurrency,
        setup,
        resume: args.resume.is_some(),
        retry_errors: args.retry_errors,
        extra: json!({ "kind": "run", "split": split, "strategies": strategy.strategies, "memory": memory_info }),
        strategy,
        learner: None,
    };
    let planned = plan.cases.len() * plan.repeats as usize;
    let summary = execute(&plan, &dataset, settings, places, &factory, &runtime)?;
    print!("{}", markdown(&summary, &format!("medsim run {}", directory.display())));
    eprintln!("wrote {} in {:.1}s", directory.display(), started.elapsed().as_secs_f64());
    Ok(completeness(&summary, planned, &directory))
}

/// [`Exit::Incomplete`], with a line saying why and what to do, when episodes ended in an error
/// or fewer than `planned` are on disk; else [`Exit::Ok`].
pub fn completeness(summary: &Summary, planned: usize, directory: &Path) -> Exit {
    let missing = planned.saturating_sub(summary.episodes);
    if summary.errors == 0 && missing == 0 {
        return Exit::Ok;
    }
    if summary.errors > 0 {
        eprintln!(
            "warning: {} of {} episode(s) in {} ended in an error (not counted as wrong)\n  hint: `medsim show {}` shows why; `medsim run --resume {} --retry-errors` runs them again",
            summary.errors,
            summary.episodes,
            directory.display(),
            directory.display(),
            directory.display()
        );
    }
    if missing > 0 {
        eprintln!(
            "warning: {missing} of {planned} planned episode(s) are not in {}\n  hint: `medsim run --resume {}` runs them",
            directory.display(),
            directory.display()
        );
    }
    Exit::Incomplete
}

/// `runs/<time>-<dataset>`.
pub fn default_directory(dataset: &str) -> std::path::PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Path::new("runs").join(format!("{stamp}-{}", dataset.replace(['/', '.'], "_")))
}

/// Writing experience memory after each verdict (learning runs): the learner and each case's
/// position in the training order.
pub struct LearnerPlan {
    pub learner: Arc<Learner>,
    pub train_index: std::collections::HashMap<String, u32>,
}

/// Everything one run directory needs.
pub struct Plan {
    pub directory: std::path::PathBuf,
    pub dataset_spec: String,
    pub cases: Vec<Case>,
    pub repeats: u32,
    pub seed: u64,
    pub concurrency: usize,
    pub setup: SetupArgs,
    pub resume: bool,
    pub retry_errors: bool,
    /// Added to run.json (kind, split, strategies, memory).
    pub extra: Value,
    pub strategy: StrategySetup,
    pub learner: Option<LearnerPlan>,
}

/// Runs (or finishes) one run directory and writes its summary.
pub fn execute(
    plan: &Plan,
    dataset: &medsim_core::Dataset,
    settings: &Settings,
    places: &Places,
    factory: &medsim_llm::ModelFactory,
    runtime: &tokio::runtime::Runtime,
) -> Result<Summary> {
    let setup = &plan.setup;
    let run_dir = RunDir::new(&plan.directory);
    // One writer at a time: a second `run --resume` of the same directory stops here.
    let lock = run_dir.lock().map_err(|error| BadInput(error.to_string()))?;
    if !plan.resume && run_dir.run_json().exists() {
        return Err(BadInput(format!(
            "{} already holds a run\n  hint: `medsim run --resume {}` finishes it; choose another --out for a new run",
            plan.directory.display(),
            plan.directory.display()
        ))
        .into());
    }
    // Resolve every role's model once (installing the embedded default if needed).
    let mut roles = serde_json::Map::new();
    let mut loaded = std::collections::BTreeSet::new();
    runtime.block_on(async {
        for role in ROLES {
            if role == "measurement" && setup.measurement == crate::cli::MeasurementMode::Grounded {
                roles.insert(role.into(), json!({"model": "grounded"}));
                continue;
            }
            if let Some(spec) = settings.role_model_or_default(role, &setup.roles) {
                crate::local::ensure_installed(&spec, &places.data_dir, places.offline).await?;
                if loaded.insert(spec.clone()) {
                    crate::local::preload(factory, &spec)?;
                }
                roles.insert(role.into(), json!({"model": spec, "temperature": 0.05, "max_tokens": 200}));
            }
        }
        anyhow::Ok(())
    })?;
    let prompts = load_prompts(setup)?;
    let mut run = json!({
        "schema": RUN_SCHEMA,
        "run_id": plan.directory.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
        "medsim_version": env!("CARGO_PKG_VERSION"),
        "dataset": {"spec": crate::datasets::recorded_spec(&plan.dataset_spec), "name": dataset.name, "origin": dataset.origin, "sha256": dataset.sha256, "format": dataset.format},
        "cases": plan.cases.iter().map(|case| case.id.clone()).collect::<Vec<_>>(),
        "repeats": plan.repeats,
        "seed": plan.seed,
        "concurrency": plan.concurrency,
        "setup": setup,
        "roles": roles,
        "prompts": prompts.versions(),
    });
    if let (Some(run), Some(extra)) = (run.as_object_mut(), plan.extra.as_object()) {
        for (key, value) in extra {
            run.insert(key.clone(), value.clone());
        }
    }
    if plan.resume && run_dir.run_json().exists() {
        let recorded = run_dir.read_run()?;
        if fingerprint(&recorded)["dataset"] != fingerprint(&run)["dataset"] {
            return Err(BadInput(format!(
                "the dataset changed since the run started: recorded sha256 {}, now {}\n  hint: resume with the same dataset file, or start a new run",
                recorded["dataset"]["sha256"], run["dataset"]["sha256"]
            ))
            .into());
        }
    } else {
        lock.write_run(&run)?;
    }
    match lock.repair()? {
        medsim_engine::runlog::Repair::None => {}
        medsim_engine::runlog::Repair::NewlineAdded => eprintln!("completed the last line of the log"),
        medsim_engine::runlog::Repair::TornLineCut { line } => {
            eprintln!("cut off line {line} of the log, torn when the run was interrupted; its episode runs again")
        }
    }
    if plan.retry_errors {
        let dropped = lock.rewrite_without(|record| record.outcome == Outcome::Error)?;
        eprintln!("retrying {dropped} episode(s) that ended in an error");
    }
    let existing = run_dir.read_episodes()?;
    let done = done_keys(&existing);
    let repeats = plan.repeats;
    let jobs: Vec<(Case, u32)> = (0..repeats)
        .flat_map(|repeat| plan.cases.iter().map(move |case| (case.clone(), repeat)))
        .filter(|(case, repeat)| !done.contains(&(case.id.clone(), *repeat)))
        .collect();
    let total = plan.cases.len() * repeats as usize;
    eprintln!(
        "run {}: {} case(s) × {repeats} repeat(s) = {total} episode(s); {} already done; {} to run at concurrency {}",
        plan.directory.display(),
        plan.cases.len(),
        existing.len(),
        jobs.len(),
        plan.concurrency
    );
    let mut appender = lock.appender()?;
    let episode_config = config(setup);
    let base_dir = dataset.base_dir.clone();
    let progress = Progress::new(total as u64, &existing, factory.meter());
    let ticker = progress.start_ticker();
    let bias = setup.doctor_bias.clone();
    let seed = plan.seed;
    let result = runtime.block_on(async {
        run_all(
            jobs,
            plan.concurrency,
            |case, repeat| {
                let prompts = prompts.clone();
                let base_dir = base_dir.clone();
                let episode_config = episode_config.clone();
                let bias = bias.clone();
                async move {
                    let seed = episode_seed(seed, &case.id, repeat);
                    let tags: Vec<String> = case.specialty.iter().chain(&case.tags).cloned().collect();
                    match build(
                        setup,
                        &case,
                        settings,
                        places,
                        factory,
                        prompts,
                        None,
                        Some((seed, repeat)),
                        &plan.strategy,
                    )
                    .await
                    {
                        Ok(built) => {
                            let images = case_images(&case, base_dir.as_deref());
                            let mut episode = run_episode(&case, &images, &built.actors, &episode_config, None).await;
                            if let (Some(learning), Some(verdict), Some(seat)) =
                                (&plan.learner, episode.verdict.clone(), &built.doctor_seat)
                            {
                                let lesson = medsim_agents::strategic::Lesson {
                                    case_id: &case.id,
                                    presentation: &case.objective,
                                    train_index: learning.train_index.get(&case.id).copied().unwrap_or(u32::MAX),
                                    events: &episode.events,
                                    verdict: &verdict,
                                };
                                match learning
                                    .learner
                                    .after_verdict(seat, &built.prompts, built.actors.judge.as_ref(), lesson)
                                    .await
                                {
                                    Ok(events) => episode.append(events),
                                    Err(error) => episode.append(vec![medsim_core::transcript::EventKind::Error {
                                        role: medsim_core::transcript::RoleName::Doctor,
                                        message: format!("learning after the verdict failed: {error}"),
                                    }]),
                                }
                            }
                            EpisodeRecord::new(episode, repeat, tags, bias)
                        }
                        Err(error) => EpisodeRecord::new(failed_episode(&case, error.to_string()), repeat, tags, bias),
                    }
                }
            },
            &mut appender,
            |record| progress.episode_done(record),
        )
        .await
    });
    progress.finish(ticker);
    result?;
    let records = run_dir.read_episodes()?;
    let summary = write_summary(&run_dir, &records)?;
    // How the verdicts were reached, the judge model named, recorded beside the configuration.
    let judge_model = roles.get("judge").and_then(|judge| judge["model"].as_str()).unwrap_or("none").to_owned();
    let verdicts: serde_json::Map<String, Value> = summary
        .verdicts
        .iter()
        .map(|(method, count)| {
            let name = if method == "judge" { format!("model {judge_model}") } else { method.clone() };
            (name, json!(count))
        })
        .collect();
    let mut recorded = run_dir.read_run()?;
    recorded["verdicts"] = Value::Object(verdicts);
    lock.write_run(&recorded)?;
    let by_model = summary.verdicts.get("judge").copied().unwrap_or(0);
    if by_model > 0 && judge_model.starts_with("local/") {
        eprintln!(
            "warning: {by_model} verdict(s) came from the small local judge {judge_model}, which agrees with clinicians' labels far less often than a large model (BENCHMARKS.md, \"Judge\"); for figures to publish, set --judge-model to a strong model"
        );
    }
    Ok(summary)
}

fn default_setup() -> SetupArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        setup: SetupArgs,
    }
    // Environment variables for role models are part of "what was given", so read them too.
    Probe::parse_from(["probe"]).setup
}

/// The record of an episode whose actors could not even be set up.
fn failed_episode(case: &Case, message: String) -> medsim_engine::Episode {
    medsim_engine::Episode {
        case_id: case.id.clone(),
        stop_reason: medsim_core::transcript::StopReason::Error,
        verdict: None,
        turns: 0,
        tests_ordered: 0,
        tokens: Default::default(),
        cost_usd: 0.0,
        wall_ms: 0.0,
        patient_leaks: 0,
        error: Some(message.clone()),
        events: vec![medsim_core::transcript::Event {
            t_ms: 0.0,
            kind: medsim_core::transcript::EventKind::Error {
                role: medsim_core::transcript::RoleName::Doctor,
                message,
            },
        }],
    }
}

/// Progress of a run: one line redrawn every second on a terminal; otherwise a plain line at
/// least every 10 seconds (and when an episode ends, at most every 5), so a log shows the run is
/// alive even while the first episodes are still in flight.
pub struct Progress {
    terminal: bool,
    total: u64,
    started: Instant,
    meter: Arc<medsim_llm::config::Meter>,
    state: Mutex<ProgressState>,
    stop: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct ProgressState {
    done_before: u64,
    done_now: u64,
    correct: usize,
    judged: usize,
    errors: usize,
    cost: f64,
    last_line: Option<Instant>,
}

impl Progress {
    /// Plain lines at least this often when standard error is not a terminal.
    const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn new(total: u64, existing: &[EpisodeRecord], meter: Arc<medsim_llm::config::Meter>) -> Arc<Progress> {
        let mut state = ProgressState { done_before: existing.len() as u64, ..ProgressState::default() };
        for record in existing {
            state.count(record);
        }
        Arc::new(Progress {
            terminal: std::io::stderr().is_terminal(),
            total,
            started: Instant::now(),
            meter,
            state: Mutex::new(state),
            stop: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Prints on its own until [`Progress::finish`].
    pub fn start_ticker(self: &Arc<Progress>) -> std::thread::JoinHandle<()> {
        let progress = self.clone();
        std::thread::spawn(move || {
            let tick = std::time::Duration::from_millis(250);
            let mut since = Instant::now();
            while !progress.stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(tick);
                if since.elapsed() >= std::time::Duration::from_secs(1) {
                    since = Instant::now();
                    progress.maybe_print(false);
                }
            }
        })
    }

    pub fn episode_done(&self, record: &EpisodeRecord) {
        {
            let mut state = self.state.lock().expect("progress");
            state.done_now += 1;
            state.count(record);
        }
        self.maybe_print(true);
    }

    fn maybe_print(&self, episode_ended: bool) {
        let mut state = self.state.lock().expect("progress");
        let due = match state.last_line {
            None => true,
            Some(last) if episode_ended => last.elapsed() >= std::time::Duration::from_secs(5),
            Some(last) => last.elapsed() >= Self::EVERY,
        };
        let all_done = state.done_before + state.done_now == self.total;
        if self.terminal || due || (episode_ended && all_done) {
            let line = self.line(&state);
            if self.terminal {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            state.last_line = Some(Instant::now());
        }
    }

    fn line(&self, state: &ProgressState) -> String {
        let done = state.done_before + state.done_now;
        let accuracy = if state.judged == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.1}% ({}/{})", 100.0 * state.correct as f64 / state.judged as f64, state.correct, state.judged)
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let (calls, prompt, completion) = self.meter.read();
        let eta = if state.done_now == 0 {
            "ETA after the first episode".to_owned()
        } else {
            format!("ETA {:.0}s", elapsed / state.done_now as f64 * self.total.saturating_sub(done) as f64)
        };
        format!(
            "{done}/{} episodes · accuracy {accuracy} · errors {} · {} tokens in {calls} model calls this session · ${:.4} · {elapsed:.0}s elapsed · {eta}",
            self.total,
            state.errors,
            prompt + completion,
            state.cost
        )
    }

    pub fn finish(&self, ticker: std::thread::JoinHandle<()>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = ticker.join();
        if self.terminal {
            eprintln!();
        }
    }
}

impl ProgressState {
    fn count(&mut self, record: &EpisodeRecord) {
        self.correct += usize::from(record.outcome == Outcome::Correct);
        self.judged += usize::from(record.outcome != Outcome::Error);
        self.errors += usize::from(record.outcome == Outcome::Error);
        self.cost += record.episode.cost_usd;
    }
}

/// Writes summary.json and summary.md (each atomically, so a reader never sees half of one).
pub fn write_summary(run_dir: &RunDir, records: &[EpisodeRecord]) -> Result<Summary> {
    let summary = summarise(records);
    let write = |name: &str, text: String| -> Result<()> {
        let temporary = run_dir.path.join(format!(".{name}.{}.partial", std::process::id()));
        std::fs::write(&temporary, text).with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, run_dir.path.join(name))
            .with_context(|| format!("cannot write {}", run_dir.path.join(name).display()))?;
        Ok(())
    };
    write("summary.json", serde_json::to_string_pretty(&summary)? + "\n")?;
    write("summary.md", markdown(&summary, &format!("medsim run {}", run_dir.path.display())))?;
    Ok(summary)
}

pub fn summary(directory: &Path, json: bool) -> Result<Exit> {
    let run_dir = RunDir::new(directory);
    if !run_dir.run_json().exists() {
        return Err(BadInput(format!("{} is not a run directory (no run.json)", directory.display())).into());
    }
    let run = run_dir.read_run().map_err(|error| BadInput(error.to_string()))?;
    let planned = run["cases"].as_array().map(Vec::len).unwrap_or(0) * run["repeats"].as_u64().unwrap_or(1) as usize;
    let (records, repeated) = medsim_engine::runlog::dedupe(run_dir.read_episodes()?);
    if !repeated.is_empty() {
        let keys: Vec<String> = repeated.iter().map(|(case, repeat)| format!("{case}#{repeat}")).collect();
        eprintln!(
            "warning: {} episode(s) appear more than once in {}; the first of each is counted: {}",
            keys.len(),
            run_dir.episodes().display(),
            keys.join(", ")
        );
    }
    let summary = write_summary(&run_dir, &records)?;
    if json {
        print_json(&summary)?;
    } else {
        print!("{}", markdown(&summary, &format!("medsim run {}", directory.display())));
    }
    Ok(completeness(&summary, planned, directory))
}

pub fn runs_list(directory: &Path, json: bool) -> Result<Exit> {
    let mut rows = Vec::new();
    let entries = std::fs::read_dir(directory).with_context(|| format!("cannot read {}", directory.display()))?;
    let mut paths: Vec<_> =
        entries.flatten().map(|entry| entry.path()).filter(|path| path.join("run.json").exists()).collect();
    paths.sort();
    for path in paths {
        let run_dir = RunDir::new(&path);
        let run = run_dir.read_run()?;
        let records = run_dir.read_episodes()?;
        let total = run["cases"].as_array().map(Vec::len).unwrap_or(0) as u64 * run["repeats"].as_u64().unwrap_or(1);
        let summary = summarise(&records);
        rows.push(json!({
            "dir": path,
            "dataset": run["dataset"]["name"],
            "doctor": run["roles"]["doctor"]["model"],
            "episodes": records.len(),
            "total": total,
            "accuracy": summary.accuracy.accuracy,
            "errors": summary.errors,
        }));
    }
    if json {
        print_json(&rows)?;
    } else {
        let mut table =
            Table::new(&[("RUN", 0), ("DATASET", 0), ("DOCTOR", 40), ("DONE", 0), ("ACCURACY", 0), ("ERRORS", 0)]);
        for row in &rows {
            table.row(vec![
                row["dir"].as_str().unwrap_or_default().to_owned(),
                row["dataset"].as_str().unwrap_or_default().to_owned(),
                row["doctor"].as_str().unwrap_or("-").to_owned(),
                format!("{}/{}", row["episodes"], row["total"]),
                format!("{:.1}%", row["accuracy"].as_f64().unwrap_or(0.0) * 100.0),
                row["errors"].to_string(),
            ]);
        }
        print!("{}", table.render());
    }
    Ok(Exit::Ok)
}

pub fn show(directory: &Path, case: Option<&str>) -> Result<Exit> {
    let records = RunDir::new(directory).read_episodes()?;
    let mut shown = 0;
    for record in records.iter().filter(|record| case.is_none_or(|case| record.case_id == case)) {
        println!("═══ case {} · repeat {} · {:?}", record.case_id, record.repeat, record.outcome);
        for event in &record.episode.events {
            print_event(event);
        }
        shown += 1;
    }
    if shown == 0 {
        return Err(BadInput(format!(
            "no episode{} in {}",
            case.map(|case| format!(" of case {case}")).unwrap_or_default(),
            directory.display()
        ))
        .into());
    }
    Ok(Exit::Ok)
}
