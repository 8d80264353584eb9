//! Learning without leaking: deterministic train/test splits, experience memory opened
//! read-only for evaluation (refusing any case it holds), `learn` (the training run writing
//! memory after each verdict, then a learning curve on the held-out part) and `ablate` (several
//! strategy sets on the same cases, paired against the first).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use medsim_agents::memory::{Filter, Memory};
use medsim_agents::strategic::{Learner, MemoryAccess};
use medsim_agents::strategy::{MemoryStrategy, Strategies};
use medsim_core::Dataset;
use medsim_core::case::Case;
use medsim_llm::embedding::SharedEmbedder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::assemble::{Assembler, StrategySetup};
use crate::manifest::RunKind;
use crate::run::{LearnerPlan, Observer, RunError, RunOutcome, RunPlan, execute};
use crate::runlog::{Outcome, RunDir};
use crate::setup::Setup;
use crate::summary::{Accuracy, Summary, mcnemar_exact};

/// A part of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitPart {
    /// The training part.
    Train,
    /// The held-out part.
    Test,
}

/// A deterministic train/test split of a dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Only this part (for `run` and `ablate`).
    pub part: Option<SplitPart>,
    /// Seed of the order.
    pub seed: u64,
    /// Cases in the training part (default: half, rounded down).
    pub train_size: Option<usize>,
}

/// Cases in split order: by a hash of the seed and the case id.
fn split_order(cases: &[Case], seed: u64) -> Vec<Case> {
    let hash = |id: &str| medsim_core::hash::fnv1a(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), id.bytes());
    let mut ordered = cases.to_vec();
    ordered.sort_by_key(|case| (hash(&case.id), case.id.clone()));
    ordered
}

/// The training and test parts of a dataset, each in split order.
pub fn split_parts(cases: &[Case], split: &Split) -> (Vec<Case>, Vec<Case>) {
    let ordered = split_order(cases, split.seed);
    let train_size = split.train_size.unwrap_or(cases.len() / 2).min(cases.len());
    let test = ordered[train_size..].to_vec();
    let mut train = ordered;
    train.truncate(train_size);
    (train, test)
}

/// The split as run.json records it.
pub fn split_record(all: &[Case], split: &Split, part: Option<SplitPart>) -> Value {
    let (train, test) = split_parts(all, split);
    json!({
        "seed": split.seed,
        "train_size": train.len(),
        "test_size": test.len(),
        "part": part,
        "train_cases": train.iter().map(|case| case.id.as_str()).collect::<Vec<_>>(),
    })
}

/// Keeps the chosen cases that are in the asked-for part (in split order), and the split as
/// recorded in run.json (none when no split was asked for).
pub fn apply_split(chosen: Vec<Case>, all: &[Case], split: &Split) -> (Vec<Case>, Option<Value>) {
    let Some(part) = split.part else { return (chosen, None) };
    let (train, test) = split_parts(all, split);
    let wanted = if part == SplitPart::Train { train } else { test };
    let chosen_ids: std::collections::HashSet<&str> = chosen.iter().map(|case| case.id.as_str()).collect();
    let kept = wanted.into_iter().filter(|case| chosen_ids.contains(case.id.as_str())).collect();
    (kept, Some(split_record(all, split, Some(part))))
}

/// The strategies a setup asks for. With `imply_memory`, a memory file alone switches memory on
/// (as `medsim run --memory FILE` should).
pub fn strategies_of(setup: &Setup, imply_memory: bool) -> Result<Strategies, RunError> {
    let mut strategies = Strategies::parse(&setup.strategy).map_err(|error| RunError::Input(error.to_string()))?;
    if imply_memory && setup.memory.is_some() && strategies.memory.is_none() {
        strategies.memory = Some(MemoryStrategy { k: 3 });
    }
    if strategies.memory.is_some() && setup.memory.is_none() {
        return Err(RunError::Input(format!(
            "--strategy {}: memory needs a memory file\n  hint: pass --memory FILE (built by `medsim learn --memory FILE`)",
            setup.strategy
        )));
    }
    Ok(strategies)
}

/// True when a setup's strategies read experience memory.
pub fn needs_memory(setup: &Setup) -> bool {
    strategies_of(setup, true).map(|strategies| strategies.memory.is_some()).unwrap_or(false)
}

/// The doctor's strategies for an evaluation, with memory opened read-only. Refuses when a case
/// to evaluate is in the memory (it was a training case): that would leak its answer.
pub fn evaluation_strategy(
    setup: &Setup,
    embedder: Option<SharedEmbedder>,
    dataset: &Dataset,
    cases: &[Case],
    max_train_cases: Option<u32>,
) -> Result<(StrategySetup, Option<Value>), RunError> {
    let strategies = strategies_of(setup, true)?;
    let (Some(memory_strategy), Some(path)) = (strategies.memory, &setup.memory) else {
        return Ok((StrategySetup { strategies, memory: None }, None));
    };
    let embedder = embedder.ok_or_else(|| RunError::Input("memory needs an embedder: pass --embedder".into()))?;
    let memory = Memory::open_read_only(path).map_err(|error| RunError::Input(error.to_string()))?;
    let access = access_for(Arc::new(RwLock::new(memory)), embedder, memory_strategy.k, &strategies, max_train_cases)?;
    let info = check_disjoint(&access, dataset, cases, max_train_cases)?;
    Ok((StrategySetup { strategies, memory: Some(access) }, Some(info)))
}

fn access_for(
    memory: Arc<RwLock<Memory>>,
    embedder: SharedEmbedder,
    k: usize,
    strategies: &Strategies,
    max_train_cases: Option<u32>,
) -> Result<MemoryAccess, RunError> {
    {
        let memory = memory.read().expect("memory lock");
        if memory.embedder() != embedder.name() {
            return Err(RunError::Input(format!(
                "memory {}: its entries were embedded by {}, not {}\n  hint: pass --embedder {}",
                memory.path().display(),
                memory.embedder(),
                embedder.name(),
                memory.embedder()
            )));
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
) -> Result<Value, RunError> {
    let memory = access.memory.read().expect("memory lock");
    let evaluated: std::collections::HashSet<&str> = cases.iter().map(|case| case.id.as_str()).collect();
    if let Some(entry) = memory
        .entries()
        .iter()
        .find(|entry| entry.dataset == dataset.name && evaluated.contains(entry.case_id.as_str()))
    {
        return Err(RunError::Input(format!(
            "memory {}: case {} of {} is in the memory (it was a training case), so evaluating it would leak its answer\n  hint: evaluate the held-out part: --split test with the --split-seed and --train-size used by `medsim learn`",
            memory.path().display(),
            entry.case_id,
            dataset.name
        )));
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

/// Builds the actors' assembler for a setup and strategies (the caller owns models and prompts).
pub type AssemblerFor<'a> = dyn Fn(&Setup, StrategySetup) -> Result<Assembler, RunError> + 'a;

/// What `medsim learn` does.
pub struct LearnPlan {
    /// Output directory: `train/`, `curve-N/`, curve.md, curve.svg, curve.json.
    pub out: PathBuf,
    /// The dataset as given.
    pub dataset_spec: String,
    /// The split.
    pub split: Split,
    /// Only the first N training cases.
    pub limit: Option<usize>,
    /// Learning-curve points (training cases in memory).
    pub curve: Vec<u32>,
    /// Test cases at each point.
    pub test_limit: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Episodes at once.
    pub concurrency: usize,
    /// The setup (its memory is the file written).
    pub setup: Setup,
}

impl LearnPlan {
    /// The strategies learned with; an error without a memory file or with strategies that do
    /// not parse (checked before anything runs).
    pub fn check(&self) -> Result<Strategies, RunError> {
        if self.setup.memory.is_none() {
            return Err(RunError::Input("medsim learn needs --memory FILE: the memory it writes".into()));
        }
        strategies_of(&self.setup, false)
    }
}

/// How learning came out.
pub struct LearnOutcome {
    /// The training run.
    pub train: RunOutcome,
    /// Training cases.
    pub train_cases: usize,
    /// (solved cases, lessons) in memory afterwards.
    pub memory_counts: (usize, usize),
    /// The learning curve: (training cases in memory, the test run).
    pub curve: Vec<(u32, RunOutcome)>,
    /// The curve as Markdown (empty without a curve).
    pub table: String,
}

/// `medsim learn`: the training run writes memory after each verdict; then the learning curve.
pub async fn learn(
    plan: &LearnPlan,
    dataset: &Dataset,
    embedder: SharedEmbedder,
    assembler_for: &AssemblerFor<'_>,
    observer: Arc<dyn Observer>,
) -> Result<LearnOutcome, RunError> {
    let setup = &plan.setup;
    let strategies = plan.check()?;
    let memory_path = setup.memory.clone().unwrap_or_default();
    let (mut train, test) = split_parts(&dataset.cases, &plan.split);
    if let Some(limit) = plan.limit {
        train.truncate(limit);
    }
    if train.is_empty() {
        return Err(RunError::Input(format!(
            "the training part of {} is empty ({} cases)\n  hint: set --train-size",
            dataset.name,
            dataset.cases.len()
        )));
    }
    let split = split_record(&dataset.cases, &plan.split, Some(SplitPart::Train));
    let memory = open_for_learning(&memory_path, &embedder, dataset, &split).await?;
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
    let train_dir = plan.out.join("train");
    let run = RunPlan {
        directory: train_dir.clone(),
        dataset_spec: plan.dataset_spec.clone(),
        cases: train.clone(),
        repeats: 1,
        seed: plan.seed,
        concurrency: plan.concurrency,
        resume: RunDir::new(&train_dir).run_json().exists(),
        retry_errors: false,
        kind: RunKind::Learn,
        arm: None,
        memory_size: None,
        strategies: Some(json!(strategies)),
        split: Some(split),
        memory: Some(json!({ "path": memory_path, "writes": true })),
        learner: Some(LearnerPlan { learner, train_index }),
    };
    let assembler = assembler_for(setup, StrategySetup { strategies: strategies.clone(), memory: training_access })?;
    let train_outcome = execute(&run, dataset, &assembler, observer.clone()).await?;
    let memory_counts = memory.read().expect("memory lock").counts();
    let mut outcome = LearnOutcome {
        train: train_outcome,
        train_cases: train.len(),
        memory_counts,
        curve: Vec::new(),
        table: String::new(),
    };
    if plan.curve.is_empty() {
        return Ok(outcome);
    }
    outcome.curve = curve(plan, dataset, test, &strategies, &memory, &embedder, assembler_for, observer).await?;
    let points: Vec<(u32, &Summary)> = outcome.curve.iter().map(|(size, run)| (*size, &run.summary)).collect();
    outcome.table = curve_markdown(&points);
    write_curve(&plan.out, &outcome.table, &points)?;
    Ok(outcome)
}

/// Opens (or creates) the memory a training run writes, refusing one learned on another split:
/// adding another split's training cases could put test cases in it.
async fn open_for_learning(
    path: &Path,
    embedder: &SharedEmbedder,
    dataset: &Dataset,
    split: &Value,
) -> Result<Memory, RunError> {
    let dimensions = embedder
        .embed(&["dimensions".to_owned()])
        .await
        .map_err(|error| RunError::Input(format!("embedder {}: {error}", embedder.name())))?
        .first()
        .map(Vec::len)
        .unwrap_or(0);
    let mut memory = Memory::open_for_learning(path, &embedder.name(), dimensions)
        .map_err(|error| RunError::Input(error.to_string()))?;
    let split_key = json!({ "dataset": dataset.name, "sha256": dataset.sha256, "seed": split["seed"], "train_size": split["train_size"] });
    match memory.meta("split") {
        Some(recorded) if serde_json::from_str::<Value>(recorded).ok().as_ref() != Some(&split_key) => {
            return Err(RunError::Input(format!(
                "memory {} was learned on another split: {recorded}\n  this run: {split_key}\n  hint: use the same --dataset, --split-seed and --train-size, or a new memory file",
                path.display()
            )));
        }
        Some(_) => {}
        None => memory.set_meta("split", &split_key.to_string()).map_err(|error| RunError::Input(error.to_string()))?,
    }
    Ok(memory)
}

/// The learning curve: the held-out part evaluated with the memory of the first N training
/// cases, for each N.
#[expect(clippy::too_many_arguments, reason = "the pieces of one learning run, passed once")]
async fn curve(
    plan: &LearnPlan,
    dataset: &Dataset,
    mut test_cases: Vec<Case>,
    strategies: &Strategies,
    memory: &Arc<RwLock<Memory>>,
    embedder: &SharedEmbedder,
    assembler_for: &AssemblerFor<'_>,
    observer: Arc<dyn Observer>,
) -> Result<Vec<(u32, RunOutcome)>, RunError> {
    if let Some(limit) = plan.test_limit {
        test_cases.truncate(limit);
    }
    let k = strategies.memory.map(|memory| memory.k).unwrap_or(3);
    let mut eval_strategies = strategies.clone();
    eval_strategies.memory = Some(MemoryStrategy { k });
    let eval_setup = Setup { strategy: eval_strategies.to_string(), ..plan.setup.clone() };
    let mut points = Vec::new();
    for &size in &plan.curve {
        let access = access_for(memory.clone(), embedder.clone(), k, &eval_strategies, Some(size))?;
        let info = check_disjoint(&access, dataset, &test_cases, Some(size))?;
        let directory = plan.out.join(format!("curve-{size}"));
        let run = RunPlan {
            directory: directory.clone(),
            dataset_spec: plan.dataset_spec.clone(),
            cases: test_cases.clone(),
            repeats: 1,
            seed: plan.seed,
            concurrency: plan.concurrency,
            resume: RunDir::new(&directory).run_json().exists(),
            retry_errors: false,
            kind: RunKind::LearningCurve,
            arm: None,
            memory_size: Some(size),
            strategies: Some(json!(eval_strategies)),
            split: Some(split_record(&dataset.cases, &plan.split, Some(SplitPart::Test))),
            memory: Some(info),
            learner: None,
        };
        let assembler =
            assembler_for(&eval_setup, StrategySetup { strategies: eval_strategies.clone(), memory: Some(access) })?;
        points.push((size, execute(&run, dataset, &assembler, observer.clone()).await?));
    }
    Ok(points)
}

/// curve.md, curve.svg and curve.json.
fn write_curve(out: &Path, table: &str, points: &[(u32, &Summary)]) -> Result<(), RunError> {
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|source| RunError::Io { path: path.display().to_string(), source })
    };
    write("curve.md", table.to_owned())?;
    write("curve.svg", curve_svg(points))?;
    let json_points: Vec<Value> = points
        .iter()
        .map(|(size, summary)| {
            json!({ "memory_size": size, "accuracy": summary.accuracy, "tokens": summary.prompt_tokens + summary.completion_tokens, "cost_usd": summary.cost_usd })
        })
        .collect();
    write("curve.json", serde_json::to_string_pretty(&json_points).expect("JSON") + "\n")
}

fn curve_markdown(points: &[(u32, &Summary)]) -> String {
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
pub fn curve_svg(points: &[(u32, &Summary)]) -> String {
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

/// What `medsim ablate` does.
pub struct AblatePlan {
    /// Output directory: one run directory per arm, ablation.md, ablation.json.
    pub out: PathBuf,
    /// The dataset as given.
    pub dataset_spec: String,
    /// The arms' strategy lists; the first is the baseline of the paired comparisons.
    pub arms: Vec<String>,
    /// The split.
    pub split: Split,
    /// Only the first N cases.
    pub limit: Option<usize>,
    /// Episodes per case.
    pub repeats: u32,
    /// Seed (the same for every arm).
    pub seed: u64,
    /// Episodes at once.
    pub concurrency: usize,
    /// The setup shared by every arm (its strategy is replaced per arm).
    pub setup: Setup,
}

impl AblatePlan {
    /// Each arm's name, strategies and setup; an error for fewer than two arms or any arm that
    /// does not parse (checked before anything runs).
    pub fn arm_setups(&self) -> Result<Vec<(String, Strategies, Setup)>, RunError> {
        if self.arms.len() < 2 {
            return Err(RunError::Input(
                "--grid: expected at least two arms separated by ';'\n  hint: e.g. --grid \"baseline;cot;memory\""
                    .into(),
            ));
        }
        let mut parsed = Vec::new();
        for arm in &self.arms {
            // `STRATEGIES@budget=N,show-prices`: an arm may also set its own cost settings.
            let (strategy, settings) = arm.split_once('@').unwrap_or((arm.as_str(), ""));
            let mut setup = Setup { strategy: strategy.trim().to_owned(), ..self.setup.clone() };
            for setting in settings.split(',').map(str::trim).filter(|setting| !setting.is_empty()) {
                match setting.split_once('=') {
                    None if setting == "show-prices" => setup.show_prices = true,
                    Some(("budget", value)) if value.trim().parse::<f64>().is_ok_and(|budget| budget > 0.0) => {
                        setup.budget = value.trim().parse().ok();
                    }
                    _ => {
                        return Err(RunError::Input(format!(
                            "--grid arm {arm:?}: unknown setting {setting:?} after '@'\n  hint: an arm may set budget=USD and show-prices, e.g. \"dxo@budget=400\""
                        )));
                    }
                }
            }
            setup.episode_config().map_err(RunError::Input)?;
            parsed.push((arm.clone(), strategies_of(&setup, false)?, setup));
        }
        Ok(parsed)
    }
}

/// How an ablation came out.
pub struct AblateOutcome {
    /// Each arm's run.
    pub arms: Vec<(String, RunOutcome)>,
    /// The table as Markdown.
    pub table: String,
}

/// `medsim ablate`: every arm on the same cases, models and seed; paired tests against the first.
pub async fn ablate(
    plan: &AblatePlan,
    dataset: &Dataset,
    embedder: Option<SharedEmbedder>,
    assembler_for: &AssemblerFor<'_>,
    observer: Arc<dyn Observer>,
) -> Result<AblateOutcome, RunError> {
    let parsed = plan.arm_setups()?;
    let (mut cases, split) = apply_split(dataset.cases.clone(), &dataset.cases, &plan.split);
    if let Some(limit) = plan.limit {
        cases.truncate(limit);
    }
    let mut arms = Vec::new();
    let mut results = Vec::new();
    for (index, (arm, strategies, setup)) in parsed.into_iter().enumerate() {
        let (strategy, memory_info) = if strategies.memory.is_some() {
            evaluation_strategy(&setup, embedder.clone(), dataset, &cases, None)?
        } else {
            (StrategySetup { strategies: strategies.clone(), memory: None }, None)
        };
        let slug: String = arm.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let directory = plan.out.join(format!("{index}-{slug}"));
        let setup = Setup { memory: if strategies.memory.is_some() { setup.memory.clone() } else { None }, ..setup };
        let run = RunPlan {
            directory: directory.clone(),
            dataset_spec: plan.dataset_spec.clone(),
            cases: cases.clone(),
            repeats: plan.repeats.max(1),
            seed: plan.seed,
            concurrency: plan.concurrency,
            resume: RunDir::new(&directory).run_json().exists(),
            retry_errors: false,
            kind: RunKind::AblationArm,
            arm: Some(arm.clone()),
            memory_size: None,
            strategies: Some(json!(strategies)),
            split: split.clone(),
            memory: memory_info,
            learner: None,
        };
        let assembler = assembler_for(&setup, strategy)?;
        let outcome = execute(&run, dataset, &assembler, observer.clone()).await?;
        // Only each episode's outcome is kept for the paired test, not its record.
        let mut outcomes = HashMap::new();
        RunDir::new(&directory).visit_episodes(|record| {
            outcomes.entry(record.key()).or_insert(record.outcome);
        })?;
        results.push(ArmResult {
            name: arm.clone(),
            strategies: strategies.to_string(),
            directory,
            summary: outcome.summary.clone(),
            outcomes,
        });
        arms.push((arm, outcome));
    }
    let rows = ablation_rows(&results);
    let table = ablation_markdown(&rows, &dataset.name, cases.len(), plan.repeats.max(1));
    let write = |name: &str, text: String| {
        let path = plan.out.join(name);
        std::fs::write(&path, text).map_err(|source| RunError::Io { path: path.display().to_string(), source })
    };
    write("ablation.md", table.clone())?;
    write("pareto.svg", pareto_svg(&rows))?;
    write(
        "ablation.json",
        serde_json::to_string_pretty(
            &json!({ "dataset": dataset.name, "cases": cases.len(), "split": split, "seed": plan.seed, "arms": rows }),
        )
        .expect("JSON")
            + "\n",
    )?;
    Ok(AblateOutcome { arms, table })
}

/// One arm's numbers.
struct ArmResult {
    name: String,
    strategies: String,
    directory: PathBuf,
    summary: Summary,
    /// Each episode's outcome (the first record of a repeated key, as in the summary).
    outcomes: HashMap<(String, u32), Outcome>,
}

fn ablation_rows(results: &[ArmResult]) -> Vec<Value> {
    let baseline = &results[0].outcomes;
    results
        .iter()
        .map(|arm| {
            let summary = &arm.summary;
            // Pairs where both arms reached a verdict.
            let (mut only_baseline, mut only_arm, mut pairs) = (0usize, 0usize, 0usize);
            for (key, outcome) in &arm.outcomes {
                let Some(base) = baseline.get(key) else { continue };
                if *base == Outcome::Error || *outcome == Outcome::Error {
                    continue;
                }
                pairs += 1;
                match (*base == Outcome::Correct, *outcome == Outcome::Correct) {
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
                "care_cost_per_case": summary.care_cost.as_ref().map(|care| care.mean),
                "mean_turns": summary.mean_turns,
                "episode_seconds_per_case": summary.episode_seconds / judged,
            })
        })
        .collect()
}

fn ablation_markdown(rows: &[Value], dataset: &str, cases: usize, repeats: u32) -> String {
    let mut text = format!(
        "# Ablation on {dataset}: {cases} case(s) × {repeats} repeat(s)\n\nPaired against the first arm with McNemar's exact test (b = right only in the first arm, c = right only in this arm).\n\n| arm | correct | accuracy | 95% interval | b / c | McNemar p | tokens / case | model cost / case | care cost / case | mean turns | errors |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
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
            "| {} | {}/{} | {:.1}% | {:.1}–{:.1}% | {} | {} | {:.0} | ${:.4} | {} | {:.1} | {} |\n",
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
            row["care_cost_per_case"].as_f64().map(|cost| format!("${cost:.0}")).unwrap_or_else(|| "—".into()),
            number("mean_turns"),
            row["errors"],
        ));
    }
    text
}

/// Accuracy against care cost per case, one point per arm with its 95 % interval; arms no other
/// arm beats on both (the Pareto frontier) are joined and drawn solid.
pub fn pareto_svg(rows: &[Value]) -> String {
    let points: Vec<(String, f64, f64, f64, f64)> = rows
        .iter()
        .filter_map(|row| {
            let value = |key: &str| row[key].as_f64();
            Some((
                row["arm"].as_str()?.to_owned(),
                row["care_cost_per_case"].as_f64()?,
                value("accuracy")?,
                value("ci_low")?,
                value("ci_high")?,
            ))
        })
        .collect();
    let (width, height, left, right, top, bottom) = (640.0, 400.0, 60.0, 30.0, 30.0, 50.0);
    let max_cost = points.iter().map(|point| point.1).fold(1.0_f64, f64::max) * 1.1;
    let x = |cost: f64| left + (width - left - right) * cost / max_cost;
    let y = |accuracy: f64| top + (height - top - bottom) * (1.0 - accuracy);
    let frontier = |point: &(String, f64, f64, f64, f64)| {
        !points.iter().any(|other| other.1 <= point.1 && other.2 >= point.2 && (other.1 < point.1 || other.2 > point.2))
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Accuracy against care cost per case</text>\n<line x1=\"{left}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"black\"/><line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{base}\" stroke=\"black\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">care cost per case (visit and tests)</text>\n",
        width / 2.0,
        width - right,
        (left + width - right) / 2.0,
        height - 10.0,
        base = height - bottom
    );
    for tick in 0..=4 {
        let value = tick as f64 / 4.0;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}%</text>\n",
            left - 6.0,
            y(value) + 4.0,
            (value * 100.0) as u32
        ));
    }
    let mut front: Vec<&(String, f64, f64, f64, f64)> = points.iter().filter(|point| frontier(point)).collect();
    front.sort_by(|a, b| a.1.total_cmp(&b.1));
    let path: Vec<String> = front.iter().map(|point| format!("{:.1},{:.1}", x(point.1), y(point.2))).collect();
    if path.len() > 1 {
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f4e8c\" stroke-dasharray=\"4 3\"/>\n",
            path.join(" ")
        ));
    }
    for point in &points {
        let (px, fill) = (x(point.1), if frontier(point) { "#1f4e8c" } else { "white" });
        svg.push_str(&format!(
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#4a7ab5\"/><circle class=\"arm\" cx=\"{px:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{fill}\" stroke=\"#1f4e8c\"/><text x=\"{:.1}\" y=\"{:.1}\">{} (${:.0})</text>\n",
            y(point.3),
            y(point.4),
            y(point.2),
            px + 8.0,
            y(point.2) - 6.0,
            point.0.replace('&', "&amp;").replace('<', "&lt;"),
            point.1
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// True when `path` holds a run (a run.json).
pub fn holds_run(path: &Path) -> bool {
    RunDir::new(path).run_json().exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(arms: &[&str]) -> AblatePlan {
        AblatePlan {
            out: PathBuf::from("unused"),
            dataset_spec: "builtin".into(),
            arms: arms.iter().map(|arm| (*arm).to_owned()).collect(),
            split: Split::default(),
            limit: None,
            repeats: 1,
            seed: 0,
            concurrency: 1,
            setup: Setup::default(),
        }
    }

    #[test]
    fn an_arm_may_carry_its_own_budget_and_price_list() {
        let arms =
            plan(&["baseline", "dxo", "dxo@budget=400", "baseline@show-prices,budget=300"]).arm_setups().unwrap();
        let settings: Vec<(&str, Option<f64>, bool)> =
            arms.iter().map(|(_, _, setup)| (setup.strategy.as_str(), setup.budget, setup.show_prices)).collect();
        assert_eq!(
            settings,
            [
                ("baseline", None, false),
                ("dxo", None, false),
                ("dxo", Some(400.0), false),
                ("baseline", Some(300.0), true)
            ]
        );
        assert!(arms[2].1.dxo.is_some());
        let error = plan(&["baseline", "dxo@budget=cheap"]).arm_setups().err().unwrap().to_string();
        assert!(error.contains("unknown setting \"budget=cheap\""), "{error}");
        let error = plan(&["baseline", "dxo@budget=50"]).arm_setups().err().unwrap().to_string();
        assert!(error.contains("below the price of one visit"), "{error}");
    }
}
