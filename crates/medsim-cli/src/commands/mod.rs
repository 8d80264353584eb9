//! One module per command group; each function returns the exit code it earned.

mod bench;
mod cases;
mod consult;
mod datasets;
mod env;
mod judge;
mod learn;
mod llm;
mod models;
mod run;

use anyhow::Result;
use clap::CommandFactory;

use crate::Exit;
use crate::cli::{Cli, Command};
use crate::context::Context;
pub use crate::context::Places;
use crate::datasets::DatasetStore;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Exit> {
    let global = &cli.global;
    let store = || DatasetStore::new(global.cache_dir.clone(), global.offline);
    let context = || Context::load(global);
    match cli.command {
        Command::Cases(command) => cases::run(command, &store()?),
        Command::Datasets(command) => datasets::run(command, &store()?),
        Command::Llm(command) => {
            let ctx = context()?;
            llm::run(command, &ctx.settings, &ctx.places)
        }
        Command::Models(command) => models::run(command, &crate::context::data_dir(global)?, global.offline),
        Command::Measure { dataset, case, tests, eval, json } => match (eval, case) {
            (Some(file), _) => consult::measure_eval(&store()?, &file, json),
            (None, Some(case)) => consult::measure(&store()?, &dataset, &case, &tests, json),
            (None, None) => Err(crate::BadInput("--case is required".into()).into()),
        },
        Command::Run(args) => run::run(*args, &context()?),
        Command::Learn(args) => learn::learn(*args, &context()?),
        Command::Ablate(args) => learn::ablate(*args, &context()?),
        Command::Summary { dir, json } => run::summary(&dir, json),
        Command::Judge { pairs, judge_model, concurrency, json, cache } => {
            let ctx = context()?;
            judge::run(&pairs, judge_model, json, concurrency, &ctx.settings, &ctx.places, &cache)
        }
        Command::Bench { dataset, latency_ms, concurrency, turns, episodes, json } => {
            bench::bench(&store()?, &dataset, latency_ms, &concurrency, turns, episodes, json)
        }
        Command::Runs(crate::cli::RunsCommand::List { dir, json }) => run::runs_list(&dir, json),
        Command::Show { dir, case } => run::show(&dir, case.as_deref()),
        Command::Consult(args) => consult::consult(args, &context()?),
        Command::Play { seat, consult: args } => consult::play(seat, args, &context()?),
        Command::Env(crate::cli::EnvCommand::Serve(args)) => env::serve(*args, &context()?),
        Command::Export(args) => env::export_runs(args),
        Command::Serve(args) => env::serve_runs(*args, &context()?),
        Command::Report { run, out } => env::report(&run, &out),
        Command::Rollout(args) => env::rollout(*args, &context()?),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "medsim", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    }
}

/// Writes JSON to standard output, pretty-printed, with a final newline.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
