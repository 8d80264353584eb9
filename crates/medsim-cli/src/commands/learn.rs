//! `medsim learn` and `medsim ablate`, and the pieces `run` shares with them: strategies from
//! the command line, splits, the embedder, and memory opened for evaluation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use anyhow::Result;
use medsim_agents::memory::{Filter, Memory};
use medsim_agents::strategic::{Learner, MemoryAccess};
use medsim_agents::strategy::{MemoryStrategy, Strategies};
use medsim_core::case::Case;
use medsim_core::{Dataset, LoadOptions};
use medsim_engine::runlog::{EpisodeRecord, Outcome, RunDir};
use medsim_engine::summary::{Accuracy, Summary, mcnemar_exact};
use medsim_llm::ModelFactory;
use medsim_llm::embedding::SharedEmbedder;
use serde_json::{Value, json};

use super::Places;
use super::consult::StrategySetup;
use super::run::{LearnerPlan, Plan, execute};
use crate::cli::{AblateArgs, LearnArgs, SetupArgs, SplitArgs, SplitPart};
use crate::datasets::DatasetStore;
use crate::settings::Settings;
use crate::{BadInput, Exit};

/// The strategies a setup asks for. With `imply_memory`, `--memory FILE` alone switches
/// memory on (as `medsim run --memory FILE` should).
pub fn strategies_of(setup: &SetupArgs, imply_memory: bool) -> Result<Strategies> {
    let mut strategies = Strategies::parse(&setup.strategy).map_err(|error| BadInput(error.to_string()))?;
    if imply_memory && setup.memory.is_some() && strategies.memory.is_none() {
        strategies.memory = Some(MemoryStrategy { k: 3 });
    }
    if strategies.memory.is_some() && setup.memory.is_none() {
        return Err(BadInput(format!(
            "--strategy {}: memory needs a memory file\n  hint: pass --memory FILE (built by `medsim learn --memory FILE`)",
            setup.strategy
        ))
        .into());
    }
    Ok(strategies)
}

/// Cases in split order: by an FNV-1a hash of the seed and the case id.
fn split_order(cases: &[Case], seed: u64) -> Vec<Case> {
    let hash = |id: &str| {
        let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for byte in id.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        hash
    };
    let mut ordered = cases.to_vec();
    ordered.sort_by_key(|case| (hash(&case.id), case.id.clone()));
    ordered
}

/// The training and test parts of a dataset, each in split order.
pub fn split_parts(cases: &[Case], split: &SplitArgs) -> (Vec<Case>, Vec<Case>) {
    let ordered = split_order(cases, split.split_seed);
    let train_size = split.train_size.unwrap_or(cases.len() / 2).min(cases.len());
    let test = ordered[train_size..].to_vec();
    let mut train = ordered;
    train.truncate(train_size);
    (train, test)
}

fn split_record(all: &[Case], split: &SplitArgs, part: Option<SplitPart>) -> Value {
    let (train, test) = split_parts(all, split);
    json!({
        "seed": split.split_seed,
        "train_size": train.len(),
        "test_size": test.len(),
        "part": part,
        "train_cases": train.iter().map(|case| case.id.as_str()).collect::<Vec<_>>(),
    })
}

/// Keeps the chosen cases that are in the asked-for part (in split order), and the split as
/// recorded in run.json (null when no split was asked for).
pub fn apply_split(chosen: Vec<Case>, all: &[Case], split: &SplitArgs) -> (Vec<Case>, Value) {
    let Some(part) = split.split else { return (chosen, Value::Null) };
    let (train, test) = split_parts(all, split);
    let wanted = if part == SplitPart::Train { train } else { test };
    let chosen_ids: std::collections::HashSet<&str> = chosen.iter().map(|case| case.id.as_str()).collect();
    let kept = wanted.into_iter().filter(|case| chosen_ids.contains(case.id.as_str())).collect();
    (kept, split_record(all, split, Some(part)))
}

/// The embedder a setup names.
pub async fn embedder_of(setup: &SetupArgs, places: &Places, factory: &ModelFactory) -> Result<SharedEmbedder> {
    let spec = setup.embedder.clone().or(crate::local::DEFAULT_EMBEDDER.map(str::to_owned)).ok_or_else(|| {
        BadInput(
            "memory needs an embedder and this medsim has no local one\n  hint: pass --embedder PROVIDER/MODEL".into(),
        )
    })?;
    if spec.starts_with("local/") {
        return crate::local::embedder(&spec, &places.data_dir, places.offline).await;
    }
    factory.embedder(&spec, 0).map_err(|error| BadInput(error.to_string()).into())
}

/// The doctor's strategies for an evaluation, with memory opened read-only. Refuses when a
/// case to evaluate is in the memory (it was a training case): that would leak its answer.
pub async fn evaluation_strategy(
    setup: &SetupArgs,
    places: &Places,
    factory: &ModelFactory,
    dataset: &Dataset,
    cases: &[Case],
    max_train_cases: Option<u32>,
) -> Result<(StrategySetup, Value)> {
    let strategies = strategies_of(setup, true)?;
    let (Some(memory_strategy), Some(path)) = (strategies.memory, &setup.memory) else {
        return Ok((StrategySetup { strategies, memory: None }, Value::Null));
    };
    let memory = Memory::open_read_only(path).map_err(|error| BadInput(error.to_string()))?;
    let embedder = embedder_of(setup, places, factory).await?;
    let access = access_for(Arc::new(RwLock::new(memory)), embedder, memory_strategy.k, &strategies, max_train_cases)?;
    let info = check_disjoint(&access, dataset, cases, max_train_cases)?;
    Ok((StrategySetup { strategies, memory: Some(access) }, info))
}

fn access_for(
    memory: Arc<RwLock<Memory>>,
    embedder: SharedEmbedder,
    k: usize,
    strategies: &Strategies,
    max_train_cases: Option<u32>,
) -> Result<MemoryAccess> {
    {
        let memory = memory.read().expect("memory lock");
        if memory.embedder() != embedder.name() {
            return Err(BadInput(format!(
                "memory {}: its entries were embedded by {}, not {}\n  hint: pass --embedder {}",
                memory.path().display(),
                memory.embedder(),
                embedder.name(),
                memory.embedder()
            ))
            .into());
        }
    }
    // Lessons are the reflection mechanism: retrieved only when reflection is on.
    let filter = Filter { records: true, experiences: strategies.reflection, max_train_cases };
    Ok(MemoryAccess { memory, embedder, k, filter })
}

/// Checks that no evaluated case is in the memory; returns what run.json records of it.
fn check_disjoint(
    access: &MemoryAccess,
    dataset: &Dataset,
    cases: &[Case],
    max_train_cases: Option<u32>,
) -> Result<Value> {
    let memory = access.memory.read().expect("memory lock");
    let evaluated: std::collections::HashSet<&str> = cases.iter().map(|case| case.id.as_str()).collect();
    if let Some(entry) = memory
        .entries()
        .iter()
        .find(|entry| entry.dataset == dataset.name && evaluated.contains(entry.case_id.as_str()))
    {
        return Err(BadInput(format!(
            "memory {}: case {} of {} is in the memory (it was a training case), so evaluating it would leak its answer\n  hint: evaluate the held-out part: --split test with the --split-seed and --train-size used by `medsim learn`",
            memory.path().display(),
            entry.case_id,
            dataset.name
        ))
        .into());
    }
    let (records, experiences) = memory.counts();
    Ok(json!({
        "path": memory.path(),
        "embedder": memory.embedder(),
        "entries": memory.entries().len(),
        "records": records,
        "experiences": experiences,
        "k": access.k,
        "retrieves": { "records": access.filter.records, "experiences": access.filter.experiences, "max_train_cases": max_train_cases },
        "split": memory.meta("split").and_then(|text| serde_json::from_str::<Value>(text).ok()),
    }))
}

/// `medsim learn`.
pub fn learn(args: LearnArgs, store: &DatasetStore, settings: &Settings, places: &Places) -> Result<Exit> {
    let started = Instant::now();
    let setup = &args.setup;
    let Some(memory_path) = setup.memory.clone() else {
        return Err(BadInput("medsim learn needs --memory FILE: the memory it writes".into()).into());
    };
    let strategies = strategies_of(setup, false)?;
    let dataset = store.load(&args.dataset, LoadOptions::default())?;
    let (mut train, test) = split_parts(&dataset.cases, &args.split);
    if let Some(limit) = args.limit {
        train.truncate(limit);
    }
    if train.is_empty() {
        return Err(BadInput(format!(
            "the training part of {} is empty\n  hint: pass --train-size N (the dataset has {} cases)",
            dataset.name,
            dataset.cases.len()
        ))
        .into());
    }
    let out = args.out.clone().unwrap_or_else(|| super::run::default_directory(&format!("learn-{}", args.dataset)));
    let factory = settings.factory(&args.cache, &places.cache_dir, &places.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let embedder = runtime.block_on(embedder_of(setup, places, &factory))?;
    let dimensions = runtime
        .block_on(embedder.embed(&["dimensions".to_owned()]))
        .map_err(|error| BadInput(format!("embedder {}: {error}", embedder.name())))?
        .first()
        .map(Vec::len)
        .unwrap_or(0);
    let mut memory = Memory::open_for_learning(&memory_path, &embedder.name(), dimensions)
        .map_err(|error| BadInput(error.to_string()))?;
    // One memory, one split: adding another split's training cases could put test cases in it.
    let split = split_record(&dataset.cases, &args.split, Some(SplitPart::Train));
    let split_key = json!({ "dataset": dataset.name, "sha256": dataset.sha256, "seed": split["seed"], "train_size": split["train_size"] });
    match memory.meta("split") {
        Some(recorded) if serde_json::from_str::<Value>(recorded).ok().as_ref() != Some(&split_key) => {
            return Err(BadInput(format!(
                "memory {} was learned on another split: {recorded}\n  this run: {split_key}\n  hint: use the same --dataset, --split-seed and --train-size, or a new memory file",
                memory_path.display()
            ))
            .into());
        }
        Some(_) => {}
        None => memory.set_meta("split", &split_key.to_string()).map_err(|error| BadInput(error.to_string()))?,
    }
    let memory = Arc::new(RwLock::new(memory));
    let train_index: HashMap<String, u32> =
        train.iter().enumerate().map(|(index, case)| (case.id.clone(), index as u32)).collect();
    // While training, the doctor may retrieve what earlier training cases stored.
    let training_access = match strategies.memory {
        Some(memory_strategy) => {
            Some(access_for(memory.clone(), embedder.clone(), memory_strategy.k, &strategies, None)?)
        }
        None => None,
    };
    let learner = Arc::new(Learner {
        memory: memory.clone(),
        embedder: embedder.clone(),
        dataset: dataset.name.clone(),
        reflection: strategies.reflection,
        unmasked: strategies.reflection_unmasked,
    });
    let train_dir = out.join("train");
    let plan = Plan {
        directory: train_dir.clone(),
        dataset_spec: args.dataset.clone(),
        cases: train.clone(),
        repeats: 1,
        seed: args.seed,
        concurrency: args.concurrency,
        setup: setup.clone(),
        resume: RunDir::new(&train_dir).run_json().exists(),
        retry_errors: false,
        extra: json!({ "kind": "learn", "split": split, "strategies": strategies, "memory": { "path": memory_path, "writes": true } }),
        strategy: StrategySetup { strategies: strategies.clone(), memory: training_access },
        learner: Some(LearnerPlan { learner, train_index }),
    };
    let summary = execute(&plan, &dataset, settings, places, &factory, &runtime)?;
    let mut exit = super::run::completeness(&summary, train.len(), &train_dir);
    let (records, experiences) = memory.read().expect("memory lock").counts();
    eprintln!(
        "learned from {} training case(s): accuracy {:.1}%; memory {} now holds {records} solved case(s) and {experiences} lesson(s)",
        train.len(),
        summary.accuracy.accuracy * 100.0,
        memory_path.display()
    );
    if args.curve.is_empty() {
        eprintln!("wrote {} in {:.1}s", out.display(), started.elapsed().as_secs_f64());
        return Ok(exit);
    }
    // The learning curve on the held-out part.
    let mut test_cases = test;
    if let Some(limit) = args.test_limit {
        test_cases.truncate(limit);
    }
    let k = strategies.memory.map(|memory| memory.k).unwrap_or(3);
    let mut eval_strategies = strategies.clone();
    eval_strategies.memory = Some(MemoryStrategy { k });
    let mut points = Vec::new();
    for &size in &args.curve {
        let access = access_for(memory.clone(), embedder.clone(), k, &eval_strategies, Some(size))?;
        let info = check_disjoint(&access, &dataset, &test_cases, Some(size))?;
        let directory = out.join(format!("curve-{size}"));
        let plan = Plan {
            directory: directory.clone(),
            dataset_spec: args.dataset.clone(),
            cases: test_cases.clone(),
            repeats: 1,
            seed: args.seed,
            concurrency: args.concurrency,
            setup: SetupArgs { strategy: eval_strategies.to_string(), ..setup.clone() },
            resume: RunDir::new(&directory).run_json().exists(),
            retry_errors: false,
            extra: json!({ "kind": "learning-curve", "memory_size": size, "split": split_record(&dataset.cases, &args.split, Some(SplitPart::Test)), "strategies": eval_strategies, "memory": info }),
            strategy: StrategySetup { strategies: eval_strategies.clone(), memory: Some(access) },
            learner: None,
        };
        let summary = execute(&plan, &dataset, settings, places, &factory, &runtime)?;
        exit = exit.worst(super::run::completeness(&summary, test_cases.len(), &directory));
        points.push((size, summary));
    }
    let table = curve_markdown(&points);
    std::fs::write(out.join("curve.md"), &table)?;
    std::fs::write(out.join("curve.svg"), curve_svg(&points))?;
    let json_points: Vec<Value> = points
        .iter()
        .map(|(size, summary)| {
            json!({ "memory_size": size, "accuracy": summary.accuracy, "tokens": summary.prompt_tokens + summary.completion_tokens, "cost_usd": summary.cost_usd })
        })
        .collect();
    std::fs::write(out.join("curve.json"), serde_json::to_string_pretty(&json_points)? + "\n")?;
    print!("{table}");
    eprintln!("wrote {} (curve.md, curve.svg, curve.json) in {:.1}s", out.display(), started.elapsed().as_secs_f64());
    Ok(exit)
}

fn curve_markdown(points: &[(u32, Summary)]) -> String {
    let mut text = String::from(
        "# Learning curve\n\n| training cases in memory | test cases | correct | accuracy | 95% interval |\n|---:|---:|---:|---:|---|\n",
    );
    for (size, summary) in points {
        let accuracy = &summary.accuracy;
        text.push_str(&format!(
            "| {size} | {} | {} | {:.1}% | {:.1}–{:.1}% |\n",
            accuracy.judged,
            accuracy.correct,
            accuracy.accuracy * 100.0,
            accuracy.ci_low * 100.0,
            accuracy.ci_high * 100.0
        ));
    }
    text
}

/// A small SVG line chart: accuracy (with its 95 % interval) against memory size.
pub fn curve_svg(points: &[(u32, Summary)]) -> String {
    let (width, height, left, right, top, bottom) = (640.0, 400.0, 60.0, 20.0, 30.0, 50.0);
    let max_x = points.iter().map(|(size, _)| *size).max().unwrap_or(1).max(1) as f64;
    let x = |size: f64| left + (width - left - right) * size / max_x;
    let y = |accuracy: f64| top + (height - top - bottom) * (1.0 - accuracy);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Test accuracy against memory size</text>\n",
        width / 2.0
    );
    for tick in 0..=4 {
        let value = tick as f64 / 4.0;
        svg.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}%</text>\n",
            width - right,
            left - 6.0,
            y(value) + 4.0,
            (value * 100.0) as u32,
            y = y(value)
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"black\"/><line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{base}\" stroke=\"black\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">training cases in memory</text>\n",
        width - right,
        (left + width - right) / 2.0,
        height - 10.0,
        base = height - bottom
    ));
    let mut path = String::new();
    for (index, (size, summary)) in points.iter().enumerate() {
        let (px, accuracy) = (x(*size as f64), &summary.accuracy);
        svg.push_str(&format!(
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#4a7ab5\" stroke-width=\"2\"/><circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1f4e8c\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{size}</text>\n",
            y(accuracy.ci_low),
            y(accuracy.ci_high),
            y(accuracy.accuracy),
            height - bottom + 16.0
        ));
        path.push_str(&format!("{}{px:.1},{:.1} ", if index == 0 { "M" } else { "L" }, y(accuracy.accuracy)));
    }
    svg.push_str(&format!(
        "<path d=\"{}\" fill=\"none\" stroke=\"#1f4e8c\" stroke-width=\"2\"/>\n</svg>\n",
        path.trim()
    ));
    svg
}

/// One arm's numbers.
struct ArmResult {
    name: String,
    strategies: String,
    directory: PathBuf,
    summary: Summary,
    records: Vec<EpisodeRecord>,
}

/// `medsim ablate`.
pub fn ablate(args: AblateArgs, store: &DatasetStore, settings: &Settings, places: &Places) -> Result<Exit> {
    let started = Instant::now();
    let arms: Vec<String> =
        args.grid.split(';').map(str::trim).filter(|arm| !arm.is_empty()).map(str::to_owned).collect();
    if arms.len() < 2 {
        return Err(BadInput(format!(
            "--grid {:?}: expected at least two arms separated by ';'\n  hint: e.g. --grid \"baseline;cot;memory\"",
            args.grid
        ))
        .into());
    }
    // Check every arm before running any.
    let mut parsed = Vec::new();
    for arm in &arms {
        let setup = SetupArgs { strategy: arm.clone(), ..args.setup.clone() };
        parsed.push((arm.clone(), strategies_of(&setup, false)?, setup));
    }
    let dataset = store.load(&args.dataset, LoadOptions::default())?;
    let (mut cases, split) = apply_split(dataset.cases.clone(), &dataset.cases, &args.split);
    if let Some(limit) = args.limit {
        cases.truncate(limit);
    }
    let out = args.out.clone().unwrap_or_else(|| super::run::default_directory(&format!("ablate-{}", args.dataset)));
    let factory = settings.factory(&args.cache, &places.cache_dir, &places.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    for (index, (arm, strategies, setup)) in parsed.into_iter().enumerate() {
        let (strategy, memory_info) = if strategies.memory.is_some() {
            runtime.block_on(evaluation_strategy(&setup, places, &factory, &dataset, &cases, None))?
        } else {
            (StrategySetup { strategies: strategies.clone(), memory: None }, Value::Null)
        };
        let slug: String =
            arm.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect::<String>();
        let directory = out.join(format!("{index}-{slug}"));
        let plan = Plan {
            directory: directory.clone(),
            dataset_spec: args.dataset.clone(),
            cases: cases.clone(),
            repeats: args.repeats.max(1),
            seed: args.seed,
            concurrency: args.concurrency,
            setup: SetupArgs { memory: if strategies.memory.is_some() { setup.memory.clone() } else { None }, ..setup },
            resume: RunDir::new(&directory).run_json().exists(),
            retry_errors: false,
            extra: json!({ "kind": "ablation-arm", "arm": arm, "split": split, "strategies": strategies, "memory": memory_info }),
            strategy,
            learner: None,
        };
        let summary = execute(&plan, &dataset, settings, places, &factory, &runtime)?;
        exit = exit.worst(super::run::completeness(&summary, cases.len() * plan.repeats as usize, &directory));
        let records = RunDir::new(&directory).read_episodes()?;
        results.push(ArmResult { name: arm, strategies: strategies.to_string(), directory, summary, records });
    }
    let rows = ablation_rows(&results);
    let table = ablation_markdown(&rows, &dataset.name, cases.len(), args.repeats.max(1));
    std::fs::write(out.join("ablation.md"), &table)?;
    std::fs::write(
        out.join("ablation.json"),
        serde_json::to_string_pretty(
            &json!({ "dataset": dataset.name, "cases": cases.len(), "split": split, "seed": args.seed, "arms": rows }),
        )? + "\n",
    )?;
    print!("{table}");
    eprintln!("wrote {} (ablation.md, ablation.json) in {:.1}s", out.display(), started.elapsed().as_secs_f64());
    Ok(exit)
}

fn ablation_rows(results: &[ArmResult]) -> Vec<Value> {
    let baseline: HashMap<(String, u32), Outcome> =
        results[0].records.iter().map(|record| (record.key(), record.outcome)).collect();
    results
        .iter()
        .map(|arm| {
            let summary = &arm.summary;
            // Pairs where both arms reached a verdict.
            let (mut only_baseline, mut only_arm, mut pairs) = (0usize, 0usize, 0usize);
            for record in &arm.records {
                let Some(base) = baseline.get(&record.key()) else { continue };
                if *base == Outcome::Error || record.outcome == Outcome::Error {
                    continue;
                }
                pairs += 1;
                match (*base == Outcome::Correct, record.outcome == Outcome::Correct) {
                    (true, false) => only_baseline += 1,
                    (false, true) => only_arm += 1,
                    _ => {}
                }
            }
            let judged = summary.accuracy.judged.max(1) as f64;
            let tokens = (summary.prompt_tokens + summary.completion_tokens) as f64;
            let accuracy: &Accuracy = &summary.accuracy;
            json!({
                "arm": arm.name,
                "strategies": arm.strategies,
                "dir": arm.directory,
                "judged": accuracy.judged,
                "correct": accuracy.correct,
                "errors": summary.errors,
                "accuracy": accuracy.accuracy,
                "ci_low": accuracy.ci_low,
                "ci_high": accuracy.ci_high,
                "pairs": pairs,
                "only_baseline_correct": only_baseline,
                "only_arm_correct": only_arm,
                "mcnemar_p": mcnemar_exact(only_baseline, only_arm),
                "tokens_per_case": tokens / judged,
                "cost_per_case_usd": summary.cost_usd / judged,
                "mean_turns": summary.mean_turns,
                "episode_seconds_per_case": summary.episode_seconds / judged,
            })
        })
        .collect()
}

fn ablation_markdown(rows: &[Value], dataset: &str, cases: usize, repeats: u32) -> String {
    let mut text = format!(
        "# Ablation on {dataset}: {cases} case(s) × {repeats} repeat(s)\n\nPaired against the first arm with McNemar's exact test (b = right only in the first arm, c = right only in this arm).\n\n| arm | correct | accuracy | 95% interval | b / c | McNemar p | tokens / case | cost / case | mean turns | errors |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n"
    );
    for (index, row) in rows.iter().enumerate() {
        let number = |key: &str| row[key].as_f64().unwrap_or(0.0);
        let paired = if index == 0 {
            ("—".to_owned(), "—".to_owned())
        } else {
            (
                format!("{} / {}", row["only_baseline_correct"], row["only_arm_correct"]),
                format!("{:.3}", number("mcnemar_p")),
            )
        };
        text.push_str(&format!(
            "| {} | {}/{} | {:.1}% | {:.1}–{:.1}% | {} | {} | {:.0} | ${:.4} | {:.1} | {} |\n",
            row["arm"].as_str().unwrap_or_default(),
            row["correct"],
            row["judged"],
            number("accuracy") * 100.0,
            number("ci_low") * 100.0,
            number("ci_high") * 100.0,
            paired.0,
            paired.1,
            number("tokens_per_case"),
            number("cost_per_case_usd"),
            number("mean_turns"),
            row["errors"],
        ));
    }
    text
}
