//! `medsim learn` and `medsim ablate`: flags in, the engine's learning and ablation out (see
//! `medsim_engine::learning`).

use std::time::Instant;

use anyhow::Result;
use medsim_core::LoadOptions;
use medsim_engine::learning::{self, AblatePlan, LearnPlan};

use super::run::completeness;
use crate::Exit;
use crate::cli::{AblateArgs, LearnArgs};
use crate::context::Context;

/// `medsim learn`.
pub fn learn(args: LearnArgs, ctx: &Context) -> Result<Exit> {
    let started = Instant::now();
    let common = &args.common;
    let setup = common.setup.to_setup();
    let dataset = ctx.store.load(&common.dataset, LoadOptions::default())?;
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| medsim_engine::run::default_directory(&format!("learn-{}", common.dataset)));
    let plan = LearnPlan {
        out: out.clone(),
        dataset_spec: crate::datasets::recorded_spec(&common.dataset),
        split: args.split.to_split(),
        limit: args.limit,
        curve: args.curve.clone(),
        test_limit: args.test_limit,
        seed: common.seed,
        concurrency: common.concurrency,
        setup: setup.clone(),
    };
    plan.check()?; // before installing or loading any model
    let session = ctx.session(&setup, &common.cache)?;
    let embedder = session.runtime.block_on(ctx.embedder(&setup, &session.factory))?;
    let assembler_for = |setup: &_, strategy| session.assembler(setup, strategy);
    let outcome = session.watch(|observer| learning::learn(&plan, &dataset, embedder, &assembler_for, observer))?;
    let mut exit = completeness(&outcome.train);
    let (records, experiences) = outcome.memory_counts;
    eprintln!(
        "learned from {} training case(s): accuracy {:.1}%; memory {} now holds {records} solved case(s) and {experiences} lesson(s)",
        outcome.train_cases,
        outcome.train.summary.accuracy.accuracy * 100.0,
        setup.memory.as_deref().unwrap_or_else(|| std::path::Path::new("?")).display()
    );
    if outcome.curve.is_empty() {
        eprintln!("wrote {} in {:.1}s", out.display(), started.elapsed().as_secs_f64());
        return Ok(exit);
    }
    for (_, run) in &outcome.curve {
        exit = exit.worst(completeness(run));
    }
    print!("{}", outcome.table);
    eprintln!("wrote {} (curve.md, curve.svg, curve.json) in {:.1}s", out.display(), started.elapsed().as_secs_f64());
    Ok(exit)
}

/// `medsim ablate`.
pub fn ablate(args: AblateArgs, ctx: &Context) -> Result<Exit> {
    let started = Instant::now();
    let common = &args.common;
    let setup = common.setup.to_setup();
    let arms: Vec<String> =
        args.grid.split(';').map(str::trim).filter(|arm| !arm.is_empty()).map(str::to_owned).collect();
    let out = common
        .out
        .clone()
        .unwrap_or_else(|| medsim_engine::run::default_directory(&format!("ablate-{}", common.dataset)));
    let plan = AblatePlan {
        out: out.clone(),
        dataset_spec: crate::datasets::recorded_spec(&common.dataset),
        arms: arms.clone(),
        split: args.split.to_split(),
        limit: args.limit,
        repeats: args.repeats.max(1),
        seed: common.seed,
        concurrency: common.concurrency,
        setup: setup.clone(),
    };
    let any_memory = plan.arm_setups()?.iter().any(|(_, strategies, _)| strategies.memory.is_some());
    let dataset = ctx.store.load(&common.dataset, LoadOptions::default())?;
    let session = ctx.session(&setup, &common.cache)?;
    let embedder = match any_memory {
        true => Some(session.runtime.block_on(ctx.embedder(&setup, &session.factory))?),
        false => None,
    };
    let assembler_for = |setup: &_, strategy| session.assembler(setup, strategy);
    let outcome = session.watch(|observer| learning::ablate(&plan, &dataset, embedder, &assembler_for, observer))?;
    let exit = outcome.arms.iter().fold(Exit::Ok, |exit, (_, run)| exit.worst(completeness(run)));
    print!("{}", outcome.table);
    eprintln!(
        "wrote {} (ablation.md, ablation.json, pareto.svg) in {:.1}s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(exit)
}
