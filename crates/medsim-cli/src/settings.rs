//! Settings: `medsim.toml` < environment < flags.
//!
//! The file holds providers, role models, retry policy, cache and prices (see README). Clap
//! already merges environment variables into flags, so this module only has to read the file
//! and let every value the command line set win over it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use medsim_llm::{CacheMode, LlmSettings, ModelFactory, ReplayCache};

use crate::BadInput;
use crate::cli::CacheArgs;
use medsim_core::transcript::RoleName;
use medsim_engine::setup::RoleModels;

/// Everything read from the settings file.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The file it came from, if any.
    pub path: Option<PathBuf>,
    /// Model settings.
    pub llm: LlmSettings,
}

impl Settings {
    /// Reads `explicit`, else `./medsim.toml`, else `~/.config/medsim/medsim.toml`; no file is fine.
    pub fn load(explicit: Option<&Path>) -> Result<Settings> {
        let path = match explicit {
            Some(path) => {
                if !path.exists() {
                    return Err(BadInput(format!(
                        "settings file {} does not exist\n  hint: check --config / MEDSIM_CONFIG",
                        path.display()
                    ))
                    .into());
                }
                Some(path.to_owned())
            }
            None => [Some(PathBuf::from("medsim.toml")), dirs::config_dir().map(|dir| dir.join("medsim/medsim.toml"))]
                .into_iter()
                .flatten()
                .find(|path| path.exists()),
        };
        let Some(path) = path else { return Ok(Settings::default()) };
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let llm = parse(&text, &path)?;
        Ok(Settings { path: Some(path), llm })
    }

    /// The model for `role`: as given (a flag or its environment variable), else `[roles]`.
    pub fn role_model(&self, role: RoleName, given: &RoleModels) -> Option<String> {
        given.get(role).map(str::to_owned).or_else(|| self.llm.roles.get(role.as_str()).cloned())
    }

    /// The model for `role`, falling back to the embedded default when nothing is configured.
    pub fn role_model_or_default(&self, role: RoleName, given: &RoleModels) -> Option<String> {
        self.role_model(role, given).or_else(|| crate::local::default_model(role).map(str::to_owned))
    }

    /// A model factory with the replay cache the flags (or the file) ask for, and the `local/`
    /// provider.
    pub fn factory(&self, cache: &CacheArgs, cache_dir: &Path, data_dir: &Path) -> Result<ModelFactory> {
        let mode = cache.cache_mode.unwrap_or(self.llm.cache.mode);
        let factory = ModelFactory::new(self.llm.clone());
        crate::local::register(&factory, data_dir);
        if mode == CacheMode::Off {
            return Ok(factory);
        }
        let path = cache
            .cache_path
            .clone()
            .or_else(|| self.llm.cache.path.clone())
            .unwrap_or_else(|| cache_dir.join("llm-cache.sqlite"));
        let replay = ReplayCache::open(&path)?;
        Ok(factory.with_cache(Arc::new(replay), mode))
    }
}

/// Parses the file, naming the line of any error.
fn parse(text: &str, path: &Path) -> Result<LlmSettings> {
    medsim_llm::settings_file::parse(text, &path.display().to_string())
        .map_err(|error| BadInput(error.to_string()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_and_line() {
        let text = "[roles]\ndoctor = \"openai/gpt-4o-mini\"\n\n[providers.vllm]\nmax_concurency = 4\n";
        let error = parse(text, Path::new("medsim.toml")).unwrap_err().to_string();
        assert!(error.starts_with("medsim.toml:5: unknown field `max_concurency`"), "{error}");
        let error = parse("[rols]\n", Path::new("m.toml")).unwrap_err().to_string();
        assert!(error.starts_with("m.toml:1: rols: expected one of providers"), "{error}");
    }

    #[test]
    fn values_that_would_fail_later_are_refused_at_load_with_their_line() {
        for (text, expected) in [
            (
                "[providers.vllm]\nmax_concurrency = 4\ntimeout_secs = -5\n",
                "m.toml:3: providers.vllm.timeout_secs: expected seconds",
            ),
            ("[providers.vllm]\ntimeout_secs = nan\n", "m.toml:2: providers.vllm.timeout_secs"),
            ("[providers.vllm]\ntimeout_secs = inf\n", "m.toml:2: providers.vllm.timeout_secs"),
            ("[providers.vllm]\ntimeout_secs = 1e300\n", "m.toml:2: providers.vllm.timeout_secs"),
            ("[providers.x]\n\nconnect_timeout_secs = -1\n", "m.toml:3: providers.x.connect_timeout_secs"),
            (
                "[providers.vllm]\nbase_url = \"not a url\"\n",
                "m.toml:2: providers.vllm.base_url: base URL \"not a url\"",
            ),
            ("[retry]\nmax_attempts = 0\n", "m.toml:2: retry.max_attempts: expected 1 to 100, found 0"),
            ("[providers.vllm.retry]\nmultiplier = -2\n", "m.toml:2: providers.vllm.retry.multiplier"),
            (
                "[prices.\"m\"]\ninput_per_million = -1\noutput_per_million = 1\n",
                "m.toml:2: prices.m.input_per_million",
            ),
        ] {
            let error = parse(text, Path::new("m.toml")).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{text:?}: {error}");
        }
        assert!(
            parse("[providers.vllm]\ntimeout_secs = 30\nbase_url = \"http://gpu:8000/v1\"\n", Path::new("m")).is_ok()
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let llm = parse("[roles]\ndoctor = \"a/b\"\npatient = \"c/d\"\n", Path::new("x")).unwrap();
        let settings = Settings { path: None, llm };
        let given = RoleModels { doctor_model: Some("e/f".into()), ..RoleModels::default() };
        assert_eq!(settings.role_model(RoleName::Doctor, &given).as_deref(), Some("e/f"));
        assert_eq!(settings.role_model(RoleName::Patient, &given).as_deref(), Some("c/d"));
        assert_eq!(settings.role_model(RoleName::Judge, &given), None);
    }
}
