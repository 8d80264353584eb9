//! Argument definitions, and nothing else: what `medsim --help` shows.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

const AFTER_HELP: &str = "\
Datasets: anywhere a DATASET is accepted you may give `builtin` (the demo cases compiled into
medsim), a registered name (`medsim datasets list`), or a path to a case file (AgentClinic OSCE
or NEJM JSON Lines, or medsim's own JSON Lines / YAML).

Exit codes: 0 ok · 1 findings (leaks found by an audit) · 2 bad input or usage · 3 failure
(network, disk, checksum).

Examples:
  medsim cases list builtin
  medsim cases show builtin cardio-01
  medsim datasets fetch agentclinic-medqa
  medsim cases audit agentclinic-medqa
  medsim cases validate my_cases.jsonl --skip-invalid";

/// medsim: a simulated clinic for evaluating and improving LLM diagnostic agents.
#[derive(Debug, Parser)]
#[command(name = "medsim", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory for downloaded datasets and models' caches.
    #[arg(long, global = true, env = env::CACHE_DIR, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Never use the network: a dataset that is not downloaded yet is an error.
    #[arg(long, global = true, env = env::OFFLINE)]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, validate and audit cases.
    #[command(subcommand)]
    Cases(CasesCommand),
    /// Named datasets: list, download, locate.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Print a shell completion script.
    #[command(after_help = "Example: medsim completions bash > ~/.local/share/bash-completion/completions/medsim")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Options for reading a dataset.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Load the valid records and list every rejected line, instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
}

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// List the cases of a dataset.
    #[command(after_help = "Example: medsim cases list agentclinic-nejm --json")]
    List {
        /// Dataset: builtin, a registered name, or a path.
        #[arg(default_value = "builtin")]
        dataset: String,
        #[command(flatten)]
        load: LoadArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print every field of one case.
    #[command(after_help = "Example: medsim cases show agentclinic-medqa 0")]
    Show {
        /// Dataset: builtin, a registered name, or a path.
        dataset: String,
        /// Case id (AgentClinic cases are numbered from 0 in file order).
        id: String,
        #[command(flatten)]
        load: LoadArgs,
        /// Print the case in medsim's own format (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Check every record of one or more datasets; exit 2 if any is invalid.
    #[command(after_help = "Example: medsim cases validate data/*.jsonl")]
    Validate {
        /// Datasets: builtin, registered names, or paths.
        #[arg(required = true)]
        datasets: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Counts per dataset: cases, rejected records, images, options, specialties, result sizes.
    #[command(after_help = "Example: medsim cases stats agentclinic-medqa agentclinic-nejm")]
    Stats {
        /// Datasets: builtin, registered names, or paths.
        #[arg(required = true)]
        datasets: Vec<String>,
        #[command(flatten)]
        load: LoadArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Report cases whose diagnosis appears in what the patient, measurement agent or doctor is given.
    #[command(
        after_help = "Exit code 1 when any leak is found.\n\nExample: medsim cases audit agentclinic-medqa --json"
    )]
    Audit {
        /// Dataset: builtin, a registered name, or a path.
        #[arg(default_value = "builtin")]
        dataset: String,
        #[command(flatten)]
        load: LoadArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a dataset in medsim's own format (JSON Lines or YAML).
    #[command(after_help = "Example: medsim cases convert agentclinic-nejm --output nejm.yaml")]
    Convert {
        /// Dataset: builtin, a registered name, or a path.
        dataset: String,
        /// Output file; the format follows its extension (.jsonl or .yaml). Standard output if absent.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Output format when writing to standard output.
        #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
        format: OutputFormat,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Print the JSON Schema of medsim's own case format.
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per line.
    Jsonl,
    /// YAML documents separated by ---.
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// List the registered datasets and whether they are downloaded.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download registered datasets into the cache and verify their checksums.
    #[command(after_help = "\
Examples:
  medsim datasets fetch agentclinic-medqa
  medsim datasets fetch --all
  medsim datasets fetch agentclinic-nejm --from https://mirror.example.org/agentclinic/
  medsim datasets fetch agentclinic-nejm --from ./offline-copies/")]
    Fetch {
        /// Dataset names.
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        /// Fetch every registered dataset.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Download from this base URL or copy from this directory (or exact file) instead.
        #[arg(long, value_name = "URL|DIR")]
        from: Option<String>,
        /// Download again even if a verified copy is present.
        #[arg(long)]
        force: bool,
    },
    /// Print where a registered dataset is (or would be) stored.
    Path {
        /// Dataset name.
        name: String,
    },
}
