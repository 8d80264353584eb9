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
        options: EnvOptions {
            turn_cost: args.turn_cost,
            test_cost: args.test_cost,
            price_weight: args.price_weight,
            ..EnvOptions::default()
        },
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
    let options = EnvOptions {
        turn_cost: args.turn_cost,
        test_cost: args.test_cost,
        price_weight: args.price_weight,
        ..EnvOptions::default()
    };
    let rollouts = medsim_engine::env::write_rollouts(&directory, &options)?;
    println!(
        "{} episode(s) of {} case(s): mean reward {:.3}; {} group(s) with differing rewards (a learning signal)",
        rollouts.episodes, rollouts.groups, rollouts.mean_reward, rollouts.groups_with_signal
    );
    eprintln!("wrote {} (rollouts.jsonl) in {:.1}s", directory.display(), started.elapsed().as_secs_f64());
    Ok(super::run::completeness(&outcome))
}

/// `medsim serve`.
pub fn serve_runs(args: crate::cli::ServeArgs, ctx: &Context) -> Result<Exit> {
    let runs = args.runs.clone();
    if !runs.is_dir() {
        return Err(BadInput(format!(
            "--runs {}: not a directory\n  hint: runs land under runs/ by default; pass --runs DIR",
            runs.display()
        ))
        .into());
    }
    if !args.host.is_loopback() {
        eprintln!("warning: serving on {}: anyone who can reach this address can read the runs", args.host);
    }
    let mut config = medsim_server::web::WebConfig::viewer(runs.clone());
    let runtime = if args.no_live {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        let setup = args.setup.to_setup();
        setup.episode_config().map_err(BadInput)?;
        let session = ctx.session(&setup, &args.cache)?;
        let (factory, prices, models) = (session.factory.clone(), session.prices.clone(), session.models.clone());
        let assembler = move |setup: &medsim_engine::setup::Setup| {
            let strategies =
                medsim_agents::strategy::Strategies::parse(&setup.strategy).map_err(|error| error.to_string())?;
            medsim_engine::assemble::Assembler::new(
                setup.clone(),
                factory.clone(),
                prices.clone(),
                medsim_server::live::role_models(&models, setup),
                StrategySetup { strategies, memory: None },
            )
            .map_err(|error| error.to_string())
        };
        let store = ctx.store.clone();
        let datasets = move |spec: &str| store.load(spec, LoadOptions::default()).map_err(|error| format!("{error:#}"));
        let dataset_names = std::iter::once("builtin".to_owned())
            .chain(medsim_core::registry::registered().iter().map(|entry| entry.name.to_owned()))
            .collect();
        config.token = Some(new_token());
        config.live = Some(medsim_server::live::Live::new(medsim_server::live::LiveConfig {
            base: setup,
            models: session.models.iter().map(|(role, model)| (role.as_str().to_owned(), model.clone())).collect(),
            choices: session.models.values().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
            assembler: Arc::new(assembler),
            datasets: Arc::new(datasets),
            dataset_names,
            max_concurrency: args.max_concurrency,
            max_sessions: 8,
        }));
        session.runtime
    };
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host, args.port)).await?;
        let address = listener.local_addr()?;
        match &config.token {
            Some(token) => println!("medsim serve: http://{address}/?token={token} (runs in {})", runs.display()),
            None => println!("medsim serve: http://{address} (runs in {}; viewer only)", runs.display()),
        }
        use std::io::Write as _;
        std::io::stdout().flush()?;
        medsim_server::web::serve(Arc::new(config), listener).await
    })?;
    Ok(Exit::Ok)
}

/// A random token for the page: 128 bits from the system's random source.
fn new_token() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes)).is_err() {
        // No /dev/urandom: the standard library's randomly keyed hasher, twice.
        use std::hash::{BuildHasher as _, Hasher as _};
        for (index, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_usize(index);
            hasher.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
