//! `medsim run`, `medsim summary`, `medsim runs list`, `medsim show`: flags in, the engine's
//! run out (see `medsim_engine::run`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use medsim_core::LoadOptions;
use medsim_core::case::Case;
use medsim_engine::learning;
use medsim_engine::manifest::{RunKind, RunManifest};
use medsim_engine::run::{RunOutcome, RunPlan, summarise_log, write_summary};
use medsim_engine::runlog::RunDir;
use medsim_engine::setup::Setup;
use medsim_engine::summary::markdown;
use serde_json::json;

use super::consult::print_event;
use super::print_json;
use crate::cli::{RunArgs, SetupArgs};
use crate::context::Context;
use crate::output::Table;
use crate::{BadInput, Exit};

/// What a run is: where, with what, on which cases.
struct Chosen {
    directory: std::path::PathBuf,
    setup: Setup,
    dataset_spec: String,
    cases: Option<Vec<String>>,
    repeats: u32,
    seed: u64,
    split: Option<serde_json::Value>,
}

/// A new run from the flags, or the recorded run in `--resume DIR` (flags may repeat the recorded
/// configuration but not change it).
fn choose(args: &RunArgs) -> Result<Chosen> {
    let given = args.common.setup.to_setup();
    let Some(directory) = &args.resume else {
        return Ok(Chosen {
            directory: args
                .common
                .out
                .clone()
                .unwrap_or_else(|| medsim_engine::run::default_directory(&args.common.dataset)),
            setup: given,
            dataset_spec: args.common.dataset.clone(),
            cases: None,
            repeats: args.repeats.max(1),
            seed: args.common.seed,
            split: None,
        });
    };
    let run_json = RunDir::new(directory).run_json();
    let recorded = RunManifest::read(&run_json).map_err(|error| BadInput(format!("cannot resume: {error}")))?;
    if given != default_setup() && given != recorded.setup {
        return Err(BadInput(format!(
            "the configuration given differs from the one recorded in {}\n  recorded: {}\n  given:    {}\n  hint: resume with no configuration flags, or start a new run with --out",
            run_json.display(),
            serde_json::to_string(&recorded.setup)?,
            serde_json::to_string(&given)?
        ))
        .into());
    }
    Ok(Chosen {
        directory: directory.clone(),
        setup: recorded.setup,
        dataset_spec: recorded.dataset.spec,
        cases: Some(recorded.cases),
        repeats: recorded.repeats,
        seed: recorded.seed,
        split: recorded.split,
    })
}

/// The setup no configuration flag gives (role-model environment variables count as given).
fn default_setup() -> Setup {
    use clap::Parser;
    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        setup: SetupArgs,
    }
    Probe::parse_from(["probe"]).setup.to_setup()
}

pub fn run(args: RunArgs, ctx: &Context) -> Result<Exit> {
    let started = Instant::now();
    let chosen = choose(&args)?;
    // Settings that cannot work (a bad price table, a budget below one visit) stop here.
    chosen.setup.episode_config().map_err(BadInput)?;
    let dataset = ctx.store.load(&chosen.dataset_spec, LoadOptions::default())?;
    let find = |id: &String, recorded: bool| {
        dataset.case(id).cloned().ok_or_else(|| match recorded {
            true => BadInput(format!("case {id:?} of the recorded run is no longer in {}", dataset.name)),
            false => BadInput(format!("no case {id:?} in {}", dataset.name)),
        })
    };
    let (cases, split) = match &chosen.cases {
        Some(ids) => (ids.iter().map(|id| find(id, true)).collect::<Result<Vec<Case>, _>>()?, chosen.split.clone()),
        None => {
            let picked: Vec<Case> = if args.cases.is_empty() {
                dataset.cases.clone()
            } else {
                args.cases.iter().map(|id| find(id, false)).collect::<Result<_, _>>()?
            };
            let (mut picked, split) = learning::apply_split(picked, &dataset.cases, &args.split.to_split());
            if let Some(limit) = args.limit {
                picked.truncate(limit);
            }
            (picked, split)
        }
    };
    let setup = &chosen.setup;
    let session = ctx.session(setup, &args.common.cache)?;
    let (assembler, memory) = session.evaluation_assembler(ctx, setup, &dataset, &cases)?;
    let plan = RunPlan {
        directory: chosen.directory.clone(),
        dataset_spec: crate::datasets::recorded_spec(&chosen.dataset_spec),
        cases,
        repeats: chosen.repeats,
        seed: chosen.seed,
        concurrency: args.common.concurrency,
        resume: args.resume.is_some(),
        retry_errors: args.retry_errors,
        kind: RunKind::Run,
        arm: None,
        memory_size: None,
        strategies: Some(json!(assembler.strategy.strategies)),
        split,
        memory,
        learner: None,
    };
    let outcome = session.execute(&plan, &dataset, &assembler)?;
    print!("{}", markdown(&outcome.summary, &format!("medsim run {}", plan.directory.display())));
    session.warn_small_judge(&outcome);
    eprintln!("wrote {} in {:.1}s", plan.directory.display(), started.elapsed().as_secs_f64());
    Ok(completeness(&outcome))
}

/// [`Exit::Incomplete`], with a line saying why and what to do, when episodes ended in an error
/// or fewer than planned are on disk; else [`Exit::Ok`].
pub fn completeness(outcome: &RunOutcome) -> Exit {
    if outcome.complete() {
        return Exit::Ok;
    }
    let (summary, directory) = (&outcome.summary, outcome.directory.display());
    if summary.errors > 0 {
        eprintln!(
            "warning: {} of {} episode(s) in {directory} ended in an error (not counted as wrong)\n  hint: `medsim show {directory}` shows why; `medsim run --resume {directory} --retry-errors` runs them again",
            summary.errors, summary.episodes,
        );
    }
    let missing = outcome.missing();
    if missing > 0 {
        eprintln!(
            "warning: {missing} of {} planned episode(s) are not in {directory}\n  hint: `medsim run --resume {directory}` runs them",
            outcome.planned
        );
    }
    Exit::Incomplete
}

pub fn summary(directory: &Path, json: bool) -> Result<Exit> {
    let run_dir = RunDir::new(directory);
    if !run_dir.run_json().exists() {
        return Err(BadInput(format!("{} is not a run directory (no run.json)", directory.display())).into());
    }
    let manifest = RunManifest::read(&run_dir.run_json()).map_err(|error| BadInput(error.to_string()))?;
    let (summary, repeated) = summarise_log(&run_dir)?;
    if !repeated.is_empty() {
        let keys: Vec<String> = repeated.iter().map(|(case, repeat)| format!("{case}#{repeat}")).collect();
        eprintln!(
            "warning: {} episode(s) appear more than once in {}; the first of each is counted: {}",
            keys.len(),
            run_dir.episodes().display(),
            keys.join(", ")
        );
    }
    write_summary(&run_dir, &summary)?;
    if json {
        print_json(&summary)?;
    } else {
        print!("{}", markdown(&summary, &format!("medsim run {}", directory.display())));
    }
    Ok(completeness(&RunOutcome { directory: directory.to_path_buf(), summary, planned: manifest.planned() }))
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
        let total = run["cases"].as_array().map(Vec::len).unwrap_or(0) as u64 * run["repeats"].as_u64().unwrap_or(1);
        let (summary, _) = summarise_log(&run_dir)?;
        rows.push(json!({
            "dir": path,
            "dataset": run["dataset"]["name"],
            "doctor": run["roles"]["doctor"]["model"],
            "episodes": summary.episodes,
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
    let mut shown = 0;
    RunDir::new(directory).visit_episodes(|record| {
        if case.is_none_or(|case| record.case_id == case) {
            println!("═══ case {} · repeat {} · {:?}", record.case_id, record.repeat, record.outcome);
            for event in &record.episode.events {
                print_event(event);
            }
            shown += 1;
        }
    })?;
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
