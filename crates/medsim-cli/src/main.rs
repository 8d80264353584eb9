//! The `medsim` command. `main` maps the outcome of a command to an exit code; each code means
//! one thing (see [`exit::Exit`]).

mod cli;
mod commands;
mod context;
mod datasets;
mod env;
mod exit;
mod local;
mod output;
mod progress;
mod settings;

use std::process::ExitCode;

use clap::Parser;

pub use exit::{BadInput, Exit};

fn main() -> ExitCode {
    sigpipe::reset();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("error: {}", exit::render_error(&error));
            exit::exit_for(&error).into()
        }
    }
}
