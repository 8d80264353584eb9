//! Providers and models from configuration.
//!
//! A model is named `PROVIDER/MODEL` on the command line (`openai/gpt-4o-mini`,
//! `vllm/meta-llama/Llama-3.3-70B-Instruct`, `anthropic/claude-3-5-haiku-latest`): everything
//! after the first `/` is the provider's model name. Well-known providers work with no
//! configuration; `[providers.NAME]` in `medsim.toml` adds new ones or changes base URLs, keys,
//! headers, defaults and limits. A [`ModelFactory`] builds each named model once and shares one
//! transport (and so one concurrency limit) per provider.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cache::{CacheMode, CachedModel, ReplayCache};
use crate::error::LlmError;
use crate::model::SharedModel;
use crate::pricing::{Price, PriceTable};
use crate::provider::anthropic::Anthropic;
use crate::provider::openai::OpenAiCompatible;
use crate::secret::ApiKey;
use crate::transport::{AuthStyle, Limits, RetryPolicy, Transport, TransportConfig};
use crate::types::{Capabilities, SamplingParams};

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions.
    #[default]
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

/// Optional capability overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilitySettings {
    /// Accepts images.
    pub images: Option<bool>,
    /// Supports tools.
    pub tools: Option<bool>,
    /// Enforces JSON schemas.
    pub json_schema: Option<bool>,
}

/// One provider's settings (`[providers.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// Wire protocol.
    pub kind: ProviderKind,
    /// One base URL (shorthand for a one-element `base_urls`).
    pub base_url: Option<String>,
    /// Several base URLs, balanced with failover.
    pub base_urls: Vec<String>,
    /// Environment variable holding the API key (the key itself never goes in the file).
    pub api_key_env: Option<String>,
    /// Whether a missing key is an error (true for hosted APIs).
    pub requires_key: bool,
    /// Extra headers on every request.
    pub headers: BTreeMap<String, String>,
    /// Default sampling parameters for this provider's models.
    pub defaults: SamplingParams,
    /// Calls in flight at once.
    pub max_concurrency: Option<usize>,
    /// Requests per minute.
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute.
    pub tokens_per_minute: Option<u64>,
    /// Seconds allowed for a whole answer.
    pub timeout_secs: Option<f64>,
    /// Seconds allowed to connect.
    pub connect_timeout_secs: Option<f64>,
    /// Retry policy for this provider (else the global one).
    pub retry: Option<RetryPolicy>,
    /// Capability overrides.
    pub capabilities: CapabilitySettings,
}

impl Default for ProviderSettings {
    fn default() -> ProviderSettings {
        ProviderSettings {
            kind: ProviderKind::Openai,
            base_url: None,
            base_urls: Vec::new(),
            api_key_env: None,
            requires_key: false,
            headers: BTreeMap::new(),
            defaults: SamplingParams::default(),
            max_concurrency: None,
            requests_per_minute: None,
            tokens_per_minute: None,
            timeout_secs: None,
            connect_timeout_secs: None,
            retry: None,
            capabilities: CapabilitySettings::default(),
        }
    }
}

impl ProviderSettings {
    fn hosted(kind: ProviderKind, base_url: &str, key_env: &str) -> ProviderSettings {
        ProviderSettings {
            kind,
            base_url: Some(base_url.to_owned()),
            api_key_env: Some(key_env.to_owned()),
            requires_key: true,
            ..ProviderSettings::default()
        }
    }

    fn local(base_url: &str) -> ProviderSettings {
        ProviderSettings { base_url: Some(base_url.to_owned()), ..ProviderSettings::default() }
    }

    /// Every base URL, `base_url` first.
    pub fn urls(&self) -> Vec<String> {
        self.base_url.iter().cloned().chain(self.base_urls.iter().cloned()).collect()
    }

    /// Fields set in `other` replace ours.
    fn overlay(mut self, other: &ProviderSettings) -> ProviderSettings {
        let default = ProviderSettings::default();
        if other.kind != default.kind {
            self.kind = other.kind;
        }
        if other.base_url.is_some() || !other.base_urls.is_empty() {
            self.base_url = other.base_url.clone();
            self.base_urls = other.base_urls.clone();
        }
        if other.api_key_env.is_some() {
            self.api_key_env = other.api_key_env.clone();
        }
        self.requires_key |= other.requires_key;
        self.headers.extend(other.headers.clone());
        self.defaults = other.defaults.or(&self.defaults);
        self.max_concurrency = other.max_concurrency.or(self.max_concurrency);
        self.requests_per_minute = other.requests_per_minute.or(self.requests_per_minute);
        self.tokens_per_minute = other.tokens_per_minute.or(self.tokens_per_minute);
        self.timeout_secs = other.timeout_secs.or(self.timeout_secs);
        self.connect_timeout_secs = other.connect_timeout_secs.or(self.connect_timeout_secs);
        self.retry = other.retry.clone().or(self.retry);
        self.capabilities = CapabilitySettings {
            images: other.capabilities.images.or(self.capabilities.images),
            tools: other.capabilities.tools.or(self.capabilities.tools),
            json_schema: other.capabilities.json_schema.or(self.capabilities.json_schema),
        };
        self
    }
}

/// The providers medsim knows without configuration.
pub fn builtin_providers() -> BTreeMap<&'static str, ProviderSettings> {
    use ProviderKind::{Anthropic, Openai};
    BTreeMap::from([
        ("openai", ProviderSettings::hosted(Openai, "https://api.openai.com/v1", "OPENAI_API_KEY")),
        ("anthropic", ProviderSettings::hosted(Anthropic, "https://api.anthropic.com", "ANTHROPIC_API_KEY")),
        ("openrouter", ProviderSettings::hosted(Openai, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY")),
        ("together", ProviderSettings::hosted(Openai, "https://api.together.xyz/v1", "TOGETHER_API_KEY")),
        ("groq", ProviderSettings::hosted(Openai, "https://api.groq.com/openai/v1", "GROQ_API_KEY")),
        ("vllm", ProviderSettings::local("http://127.0.0.1:8000/v1")),
        ("sglang", ProviderSettings::local("http://127.0.0.1:30000/v1")),
        ("ollama", ProviderSettings::local("http://127.0.0.1:11434/v1")),
        ("llamacpp", ProviderSettings::local("http://127.0.0.1:8080/v1")),
        ("lmstudio", ProviderSettings::local("http://127.0.0.1:1234/v1")),
    ])
}

/// Replay-cache settings (`[cache]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// off, read-write or replay-only.
    pub mode: CacheMode,
    /// The SQLite file.
    pub path: Option<std::path::PathBuf>,
}

/// Everything about models in `medsim.toml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmSettings {
    /// `[providers.NAME]`.
    pub providers: BTreeMap<String, ProviderSettings>,
    /// `[roles]`: `doctor = "openai/gpt-4o-mini"` …
    pub roles: BTreeMap<String, String>,
    /// `[retry]`: the default retry policy.
    pub retry: RetryPolicy,
    /// `[cache]`.
    pub cache: CacheSettings,
    /// `[prices."MODEL"]`.
    pub prices: BTreeMap<String, Price>,
}

impl LlmSettings {
    /// The effective settings of a provider (built-in preset overlaid with the file).
    pub fn provider(&self, name: &str) -> Option<ProviderSettings> {
        let builtin = builtin_providers().remove(name);
        match (builtin, self.providers.get(name)) {
            (Some(builtin), Some(configured)) => Some(builtin.overlay(configured)),
            (Some(builtin), None) => Some(builtin),
            (None, Some(configured)) => Some(configured.clone()),
            (None, None) => None,
        }
    }

    /// Names of every provider usable here.
    pub fn provider_names(&self) -> Vec<String> {
        let mut names: Vec<String> = builtin_providers().keys().map(|name| (*name).to_owned()).collect();
        names.extend(self.providers.keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// The price table with this file's overrides.
    pub fn price_table(&self) -> PriceTable {
        PriceTable::builtin().with_overrides(&self.prices)
    }
}

/// `PROVIDER/MODEL`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Provider name.
    pub provider: String,
    /// The provider's model name (may contain `/`).
    pub model: String,
}

impl ModelSpec {
    /// Parses `PROVIDER/MODEL`.
    pub fn parse(text: &str) -> Result<ModelSpec, LlmError> {
        match text.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                Ok(ModelSpec { provider: provider.to_owned(), model: model.to_owned() })
            }
            _ => Err(LlmError::Config(format!(
                "model {text:?} is not of the form PROVIDER/MODEL\n  hint: e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, vllm/meta-llama/Llama-3.3-70B-Instruct, local/path/to/model.gguf"
            ))),
        }
    }
}

/// Builds models on demand: once per spec, one transport per provider, wrapped in the replay
/// cache when one is configured.
pub struct ModelFactory {
    settings: LlmSettings,
    environment: Environment,
    cache: Option<(Arc<ReplayCache>, CacheMode)>,
    transports: Mutex<HashMap<String, Arc<Transport>>>,
    models: Mutex<HashMap<String, SharedModel>>,
    custom: Mutex<BTreeMap<String, CustomProvider>>,
}

/// Reads an environment variable (the process environment, or a test's own).
type Environment = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A provider implemented outside this crate (e.g. the embedded model): builds a model from the
/// part of the spec after `provider/`.
pub type CustomProvider = Arc<dyn Fn(&str) -> Result<SharedModel, LlmError> + Send + Sync>;

impl ModelFactory {
    /// A factory reading API keys from the process environment.
    pub fn new(settings: LlmSettings) -> ModelFactory {
        ModelFactory::with_environment(settings, |name| std::env::var(name).ok())
    }

    /// A factory reading API keys through `environment` (tests pass their own).
    pub fn with_environment(
        settings: LlmSettings,
        environment: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> ModelFactory {
        ModelFactory {
            settings,
            environment: Box::new(environment),
            cache: None,
            transports: Mutex::new(HashMap::new()),
            models: Mutex::new(HashMap::new()),
            custom: Mutex::new(BTreeMap::new()),
        }
    }

    /// Wraps every model built from now on in this cache.
    pub fn with_cache(mut self, cache: Arc<ReplayCache>, mode: CacheMode) -> ModelFactory {
        if mode != CacheMode::Off {
            self.cache = Some((cache, mode));
        }
        self
    }

    /// Registers a provider implemented elsewhere under `name`.
    pub fn register(&self, name: &str, provider: CustomProvider) {
        self.custom.lock().expect("factory lock").insert(name.to_owned(), provider);
    }

    /// The settings.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The model named by `spec`, built on first use.
    pub fn model(&self, spec: &str) -> Result<SharedModel, LlmError> {
        if let Some(model) = self.models.lock().expect("factory lock").get(spec) {
            return Ok(model.clone());
        }
        let parsed = ModelSpec::parse(spec)?;
        let custom = self.custom.lock().expect("factory lock").get(&parsed.provider).cloned();
        let model = match custom {
            Some(build) => build(&parsed.model)?,
            None => self.build_http(&parsed)?,
        };
        let model: SharedModel = match &self.cache {
            Some((cache, mode)) => Arc::new(CachedModel::new(model, cache.clone(), *mode)),
            None => model,
        };
        self.models.lock().expect("factory lock").insert(spec.to_owned(), model.clone());
        Ok(model)
    }

    fn build_http(&self, spec: &ModelSpec) -> Result<SharedModel, LlmError> {
        let Some(settings) = self.settings.provider(&spec.provider) else {
            let mut names = self.settings.provider_names();
            names.extend(self.custom.lock().expect("factory lock").keys().cloned());
            return Err(LlmError::Config(format!(
                "unknown provider {:?} in {}/{}\n  hint: known providers: {}; add others as [providers.{}] in medsim.toml",
                spec.provider,
                spec.provider,
                spec.model,
                names.join(", "),
                spec.provider
            )));
        };
        let transport = self.transport(&spec.provider, &settings)?;
        let capabilities = Capabilities {
            images: settings.capabilities.images.unwrap_or(true),
            tools: settings.capabilities.tools.unwrap_or(true),
            json_schema: settings.capabilities.json_schema.unwrap_or(true),
            multiple_choices: settings.kind == ProviderKind::Openai,
        };
        let base = crate::provider::ProviderModel {
            provider: spec.provider.clone(),
            model: spec.model.clone(),
            transport,
            defaults: settings.defaults.clone(),
            capabilities,
        };
        Ok(match settings.kind {
            ProviderKind::Openai => Arc::new(OpenAiCompatible::new(base)),
            ProviderKind::Anthropic => Arc::new(Anthropic::new(base)),
        })
    }

    /// An OpenAI-compatible embedder `PROVIDER/MODEL` producing `dimensions`-long vectors.
    pub fn embedder(&self, spec: &str, dimensions: usize) -> Result<crate::embedding::SharedEmbedder, LlmError> {
        let parsed = ModelSpec::parse(spec)?;
        let settings = self.settings.provider(&parsed.provider).ok_or_else(|| {
            LlmError::Config(format!(
                "unknown provider {:?}; add it as [providers.{}] in medsim.toml",
                parsed.provider, parsed.provider
            ))
        })?;
        let transport = self.transport(&parsed.provider, &settings)?;
        Ok(Arc::new(crate::embedding::OpenAiEmbedder::new(&parsed.provider, &parsed.model, dimensions, 64, transport)))
    }

    fn transport(&self, provider: &str, settings: &ProviderSettings) -> Result<Arc<Transport>, LlmError> {
        if let Some(transport) = self.transports.lock().expect("factory lock").get(provider) {
            return Ok(transport.clone());
        }
        let api_key = match &settings.api_key_env {
            Some(variable) => match (self.environment)(variable).filter(|value| !value.is_empty()) {
                Some(value) => Some(ApiKey::new(value)),
                None if settings.requires_key => {
                    return Err(LlmError::Config(format!(
                        "provider {provider} needs an API key in the environment variable {variable}, which is not set\n  hint: export {variable}=…, or set api_key_env under [providers.{provider}] in medsim.toml"
                    )));
                }
                None => None,
            },
            None => None,
        };
        let defaults = Limits::default();
        let transport = Arc::new(Transport::new(TransportConfig {
            base_urls: settings.urls(),
            api_key,
            auth: match settings.kind {
                ProviderKind::Openai => AuthStyle::Bearer,
                ProviderKind::Anthropic => AuthStyle::XApiKey,
            },
            headers: settings.headers.iter().map(|(name, value)| (name.clone(), value.clone())).collect(),
            connect_timeout: Duration::from_secs_f64(settings.connect_timeout_secs.unwrap_or(10.0)),
            read_timeout: Duration::from_secs_f64(settings.timeout_secs.unwrap_or(300.0)),
            retry: settings.retry.clone().unwrap_or_else(|| self.settings.retry.clone()),
            limits: Limits {
                max_concurrency: settings.max_concurrency.unwrap_or(defaults.max_concurrency),
                requests_per_minute: settings.requests_per_minute,
                tokens_per_minute: settings.tokens_per_minute,
            },
        })?);
        self.transports.lock().expect("factory lock").insert(provider.to_owned(), transport.clone());
        Ok(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs_keep_slashes_in_the_model() {
        let spec = ModelSpec::parse("vllm/meta-llama/Llama-3.3-70B-Instruct").unwrap();
        assert_eq!((spec.provider.as_str(), spec.model.as_str()), ("vllm", "meta-llama/Llama-3.3-70B-Instruct"));
        assert!(ModelSpec::parse("gpt-4o").is_err());
        assert!(ModelSpec::parse("/x").is_err());
    }

    #[test]
    fn file_settings_overlay_the_builtin_presets() {
        let settings: LlmSettings = toml::from_str(
            r#"
            [providers.vllm]
            base_urls = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
            max_concurrency = 8
            [providers.vllm.defaults]
            temperature = 0.2
            [providers.mine]
            kind = "anthropic"
            base_url = "http://127.0.0.1:9/"
            "#,
        )
        .unwrap();
        let vllm = settings.provider("vllm").unwrap();
        assert_eq!(vllm.urls(), ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]);
        assert_eq!(vllm.max_concurrency, Some(8));
        assert_eq!(vllm.defaults.temperature, Some(0.2));
        assert_eq!(settings.provider("mine").unwrap().kind, ProviderKind::Anthropic);
        assert!(settings.provider("nope").is_none());
    }

    #[test]
    fn missing_keys_and_unknown_providers_are_explained() {
        let factory = ModelFactory::with_environment(LlmSettings::default(), |_| None);
        let error = factory.model("openai/gpt-4o-mini").err().unwrap().to_string();
        assert!(error.contains("OPENAI_API_KEY"), "{error}");
        let error = factory.model("nosuch/model").err().unwrap().to_string();
        assert!(error.contains("known providers:"), "{error}");
        assert!(factory.model("vllm/some-model").is_ok(), "local servers need no key");
    }
}
