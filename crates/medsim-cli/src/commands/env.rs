//! `medsim env serve` and `medsim export`: the clinic for trainers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use medsim_core::LoadOptions;
use medsim_engine::assemble::StrategySetup;
use medsim_engine::env::EnvOptions;
use medsim_engine::export::{Format, export};
use medsim_engine::learning::{self, SplitPart, split_parts};
use medsim_engine::manifest::RunKind;
use medsim_engine::run::RunPlan;
use medsim_server::env::{EnvConfig, EnvServer};

use crate::cli::{EnvServeArgs, ExportArgs, RolloutArgs};
use crate::context::Context;
use crate::{BadInput, Exit};

/// `medsim env serve`.
pub fn serve(args: EnvServeArgs, ctx: &Context) -> Result<Exit> {
    let token = args.token.clone().or_else(|| std::env::var("MEDSIM_ENV_TOKEN").ok()).filter(|token| !token.is_empty());
    let address: std::net::SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .map_err(|error| BadInput(format!("--host {} --port {}: not an address ({error})", args.host, args.port)))?;
    if !address.ip().is_loopback() && token.is_none() {
        return Err(BadInput(format!(
            "--host {}: serving beyond this machine needs a bearer token\n  hint: set MEDSIM_ENV_TOKEN (or --token) and give clients Authorization: Bearer <token>",
            args.host
        ))
        .into());
    }
    let dataset = ctx.store.load(&args.dataset, LoadOptions::default())?;
    let mut split = args.split.to_split();
    let part = split.part.get_or_insert(SplitPart::Train).to_owned();
    let (train, test) = split_parts(&dataset.cases, &split);
    let (cases, withheld) = if part == SplitPart::Train { (train, test) } else { (test, train) };
    if cases.is_empty() {
        return Err(
            BadInput(format!("the {part:?} part of {} is empty\n  hint: set --train-size", dataset.name)).into()
        );
    }
    let setup = args.setup.to_setup();
    // The client is the doctor: no doctor model is loaded.
    let session = ctx.session_with(&setup, &Default::default(), Some(medsim_core::transcript::RoleName::Doctor))?;
    let assembler = session.assembler(&setup, StrategySetup::default())?;
    let server = EnvServer::new(EnvConfig {
        withheld: withheld.iter().map(|case| case.id.clone()).collect(),
        split: format!("{part:?}").to_lowercase(),
        cases,
        base_dir: dataset.base_dir.clone(),
        assembler: Arc::new(assembler),
        options: EnvOptions { turn_cost: args.turn_cost, test_cost: args.test_cost, ..EnvOptions::default() },
        max_sessions: args.max_sessions,
        idle: Duration::from_secs(args.idle_secs),
        max_message_bytes: args.max_message_kb * 1024,
        token,
    });
    session.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address).await?;
        eprintln!(
            "medsim env: http://{} (WebSocket /ws, /reset, /step, /state, /schema, /mcp); {} part of {}: {} case(s)",
            listener.local_addr()?,
            format!("{part:?}").to_lowercase(),
            dataset.name,
            dataset.cases.len() - withheld.len()
        );
        medsim_server::env::serve(server, listener).await
    })?;
    Ok(Exit::Ok)
}

/// `medsim rollout`.
pub fn rollout(args: RolloutArgs, ctx: &Context) -> Result<Exit> {
    let started = std::time::Instant::now();
    let common = &args.common;
    let mut setup = common.setup.to_setup();
    // As in the environment: the budget ends the episode, with no extra call.
    setup.final_call = false;
    let dataset = ctx.store.load(&common.dataset, LoadOptions::default())?;
    let mut split = args.split.to_split();
    split.part.get_or_insert(SplitPart::Train);
    let (mut cases, split_record) = learning::apply_split(dataset.cases.clone(), &dataset.cases, &split);
    if let Some(limit) = args.limit {
        cases.truncate(limit);
    }
    let directory = common
        .out
        .clone()
        .unwrap_or_else(|| medsim_engine::run::default_directory(&format!("rollout-{}", common.dataset)));
    let session = ctx.session(&setup, &common.cache)?;
    let (assembler, memory) = session.evaluation_assembler(ctx, &setup, &dataset, &cases)?;
    let plan = RunPlan {
        directory: directory.clone(),
        dataset_spec: crate::datasets::recorded_spec(&common.dataset),
        cases,
        repeats: args.samples,
        seed: common.seed,
        concurrency: common.concurrency,
        resume: learning::holds_run(&directory),
        retry_errors: false,
        kind: RunKind::Rollout,
        arm: None,
        memory_size: None,
        strategies: Some(serde_json::json!(assembler.strategy.strategies)),
        split: split_record,
        memory,
        learner: None,
    };
    let outcome = session.execute(&plan, &dataset, &assembler)?;
    let options = EnvOptions { turn_cost: args.turn_cost, test_cost: args.test_cost, ..EnvOptions::default() };
    let rollouts = medsim_engine::env::write_rollouts(&directory, &options)?;
    println!(
        "{} episode(s) of {} case(s): mean reward {:.3}; {} group(s) with differing rewards (a learning signal)",
        rollouts.episodes, rollouts.groups, rollouts.mean_reward, rollouts.groups_with_signal
    );
    eprintln!("wrote {} (rollouts.jsonl) in {:.1}s", directory.display(), started.elapsed().as_secs_f64());
    Ok(super::run::completeness(&outcome))
}

/// `medsim serve`.
pub fn serve_runs(runs: std::path::PathBuf, host: std::net::IpAddr, port: u16) -> Result<Exit> {
    if !runs.is_dir() {
        return Err(BadInput(format!(
            "--runs {}: not a directory\n  hint: runs land under runs/ by default; pass --runs DIR",
            runs.display()
        ))
        .into());
    }
    if !host.is_loopback() {
        eprintln!("warning: serving on {host}: anyone who can reach this address can read the runs");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port)).await?;
        println!("medsim serve: http://{} (runs in {})", listener.local_addr()?, runs.display());
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let config = Arc::new(medsim_server::web::WebConfig { runs });
        medsim_server::web::serve(config, listener).await
    })?;
    Ok(Exit::Ok)
}

/// `medsim report`.
pub fn report(run: &std::path::Path, out: &std::path::Path) -> Result<Exit> {
    if !medsim_engine::learning::holds_run(run) {
        return Err(BadInput(format!("{}: not a run directory (no run.json)", run.display())).into());
    }
    let page = medsim_server::web::report(run).map_err(|message| BadInput(format!("{}: {message}", run.display())))?;
    std::fs::write(out, &page).map_err(|error| anyhow::anyhow!("cannot write {}: {error}", out.display()))?;
    eprintln!("wrote {} ({} KB)", out.display(), page.len() / 1024);
    Ok(Exit::Ok)
}

/// `medsim export`.
pub fn export_runs(args: ExportArgs) -> Result<Exit> {
    let format = match args.format.as_str() {
        "sft" => Format::Sft,
        "dpo" => Format::Dpo,
        "kto" => Format::Kto,
        "grpo" => Format::Grpo,
        other => return Err(BadInput(format!("--format {other:?}: expected sft, dpo, kto or grpo")).into()),
    };
    let report = export(&args.runs, format, &args.out, args.include_incorrect)?;
    eprintln!(
        "wrote {} row(s) to {} from {} episode(s); left out {} held-out and {} for their outcome",
        report.rows,
        args.out.display(),
        report.episodes,
        report.held_out,
        report.skipped
    );
    Ok(Exit::Ok)
}
