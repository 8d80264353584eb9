//! One module per command group; each function returns the exit code it earned.

mod bench;
mod cases;
mod consult;
mod datasets;
mod judge;
mod learn;
mod llm;
mod models;
mod run;

use anyhow::Result;
use clap::CommandFactory;

use crate::Exit;
use crate::cli::{Cli, Command};
use crate::datasets::DatasetStore;
use crate::settings::Settings;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Exit> {
    let store = || DatasetStore::new(cli.global.cache_dir.clone(), cli.global.offline);
    match cli.command {
        Command::Cases(command) => cases::run(command, &store()?),
        Command::Datasets(command) => datasets::run(command, &store()?),
        Command::Llm(command) => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            llm::run(command, &settings, &places)
        }
        Command::Models(command) => models::run(command, &data_dir(&cli.global)?, cli.global.offline),
        Command::Measure { dataset, case, tests, eval, json } => match (eval, case) {
            (Some(file), _) => consult::measure_eval(&store()?, &file, json),
            (None, Some(case)) => consult::measure(&store()?, &dataset, &case, &tests, json),
            (None, None) => Err(crate::BadInput("--case is required".into()).into()),
        },
        Command::Run(args) => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            run::run(*args, &store()?, &settings, &places)
        }
        Command::Learn(args) => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            learn::learn(*args, &store()?, &settings, &places)
        }
        Command::Ablate(args) => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            learn::ablate(*args, &store()?, &settings, &places)
        }
        Command::Summary { dir, json } => run::summary(&dir, json),
        Command::Judge { pairs, judge_model, concurrency, json, cache } => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            judge::run(&pairs, judge_model, json, concurrency, &settings, &places, &cache)
        }
        Command::Bench { dataset, latency_ms, concurrency, turns, json } => {
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            bench::bench(&store()?, &places, &dataset, latency_ms, &concurrency, turns, json)
        }
        Command::Runs(crate::cli::RunsCommand::List { dir, json }) => run::runs_list(&dir, json),
        Command::Show { dir, case } => run::show(&dir, case.as_deref()),
        Command::Consult(args) => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            consult::consult(args, &store()?, &settings, &places)
        }
        Command::Play { seat, consult: args } => {
            let settings = Settings::load(cli.global.config.as_deref())?;
            let places =
                Places { cache_dir: store()?.cache_dir, data_dir: data_dir(&cli.global)?, offline: cli.global.offline };
            consult::play(seat, args, &store()?, &settings, &places)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "medsim", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    }
}

/// Where medsim keeps things, and whether it may use the network.
pub struct Places {
    /// Datasets and the default replay cache.
    pub cache_dir: std::path::PathBuf,
    /// Installed models.
    pub data_dir: std::path::PathBuf,
    /// No network.
    pub offline: bool,
}

fn data_dir(global: &crate::cli::GlobalArgs) -> Result<std::path::PathBuf> {
    match &global.data_dir {
        Some(directory) => Ok(directory.clone()),
        None => dirs::data_dir()
            .map(|directory| directory.join("medsim"))
            .ok_or_else(|| anyhow::anyhow!("no user data directory is known on this system; pass --data-dir DIR")),
    }
}

/// Writes JSON to standard output, pretty-printed, with a final newline.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
