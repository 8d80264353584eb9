//! One module per command group; each function returns the exit code it earned.

mod cases;
mod datasets;
mod llm;

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
            llm::run(command, &settings, &store()?.cache_dir)
        }
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
