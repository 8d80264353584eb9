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

/// The environment variables that set a provider's base URL, most specific first:
/// `MEDSIM_<PROVIDER>_BASE_URL` for any provider, then the ecosystem's own names
/// (`OPENAI_BASE_URL` and `OPENAI_API_BASE` for `openai`, `ANTHROPIC_BASE_URL` for `anthropic`,
/// `OLLAMA_HOST` for `ollama`).
pub fn base_url_variables(provider: &str) -> Vec<String> {
    let own: String =
        provider.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    let mut names = vec![format!("MEDSIM_{own}_BASE_URL")];
    names.extend(
        match provider {
            "openai" => &["OPENAI_BASE_URL", "OPENAI_API_BASE"][..],
            "anthropic" => &["ANTHROPIC_BASE_URL"][..],
            "ollama" => &["OLLAMA_HOST"][..],
            _ => &[][..],
        }
        .iter()
        .map(|name| (*name).to_owned()),
    );
    names
}

/// `OLLAMA_HOST` is read as Ollama reads it — `host`, `host:port` or `scheme://host[:port][/path]`;
/// without a scheme it is http on port 11434, with one the scheme's own port — and medsim talks
/// to Ollama's OpenAI-compatible API under `/v1` of it.
fn ollama_base_url(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (scheme.to_owned(), rest),
        None => ("http".to_owned(), value),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let has_port =
        host.rsplit_once(':').is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            && !host.ends_with(']');
    let host = match (host.is_empty(), has_port, value.contains("://")) {
        (true, _, _) => "127.0.0.1:11434".to_owned(),
        (false, false, false) => format!("{host}:11434"),
        _ => host.to_owned(),
    };
    let path = path.trim_end_matches('/');
    format!("{scheme}://{host}{}/v1", if path.is_empty() { String::new() } else { format!("/{path}") })
}

/// Checks that a base URL is an absolute http(s) URL.
fn check_base_url(url: &str, origin: &str) -> Result<(), LlmError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(()),
        Ok(parsed) => Err(LlmError::Config(format!(
            "base URL {url:?} (from {origin}): expected an http:// or https:// URL with a host, found scheme {:?}",
            parsed.scheme()
        ))),
        Err(error) => Err(LlmError::Config(format!(
            "base URL {url:?} (from {origin}): expected an absolute URL such as http://127.0.0.1:8000/v1, found an invalid one ({error})"
        ))),
    }
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

/// A setting out of range: the dotted path of the key (`providers.vllm.timeout_secs`) and what
/// was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidSetting {
    /// Table path and key.
    pub path: Vec<String>,
    /// What was expected, and what was found.
    pub message: String,
}

fn check_seconds(value: Option<f64>, low: f64, high: f64, path: &[&str]) -> Result<(), InvalidSetting> {
    match value {
        Some(seconds) if !(seconds.is_finite() && seconds >= low && seconds <= high) => Err(InvalidSetting {
            path: path.iter().map(|part| (*part).to_owned()).collect(),
            message: format!("expected seconds from {low} to {high}, found {seconds}"),
        }),
        _ => Ok(()),
    }
}

fn check_count(value: Option<u64>, low: u64, high: u64, path: &[&str]) -> Result<(), InvalidSetting> {
    match value {
        Some(count) if !(low..=high).contains(&count) => Err(InvalidSetting {
            path: path.iter().map(|part| (*part).to_owned()).collect(),
            message: format!("expected {low} to {high}, found {count}"),
        }),
        _ => Ok(()),
    }
}

/// One day: no timeout or backoff medsim accepts is longer.
const DAY: f64 = 86_400.0;

impl RetryPolicy {
    /// Checks every value is finite and in range; `table` is where the policy was written.
    pub fn validate(&self, table: &[&str]) -> Result<(), InvalidSetting> {
        let at = |key: &'static str| table.iter().copied().chain([key]).collect::<Vec<&str>>();
        check_count(Some(u64::from(self.max_attempts)), 1, 100, &at("max_attempts"))?;
        check_seconds(Some(self.max_elapsed_secs), 0.0, DAY, &at("max_elapsed_secs"))?;
        check_seconds(Some(self.initial_backoff_secs), 0.0, 3600.0, &at("initial_backoff_secs"))?;
        check_seconds(Some(self.max_backoff_secs), 0.0, 3600.0, &at("max_backoff_secs"))?;
        if !(self.multiplier.is_finite() && (1.0..=10.0).contains(&self.multiplier)) {
            return Err(InvalidSetting {
                path: at("multiplier").into_iter().map(str::to_owned).collect(),
                message: format!("expected a factor from 1 to 10, found {}", self.multiplier),
            });
        }
        Ok(())
    }
}

impl ProviderSettings {
    /// Checks URLs, durations, limits and the retry policy of provider `name`.
    pub fn validate(&self, name: &str) -> Result<(), InvalidSetting> {
        let table = ["providers", name];
        let at = |key: &'static str| [table[0], table[1], key];
        for (key, url) in
            self.base_url.iter().map(|url| ("base_url", url)).chain(self.base_urls.iter().map(|url| ("base_urls", url)))
        {
            check_base_url(url, "the settings file").map_err(|error| InvalidSetting {
                path: at(key).iter().map(|part| (*part).to_owned()).collect(),
                message: match error {
                    LlmError::Config(message) => message.replace(" (from the settings file)", ""),
                    other => other.to_string(),
                },
            })?;
        }
        check_seconds(self.timeout_secs, 0.001, DAY, &at("timeout_secs"))?;
        check_seconds(self.connect_timeout_secs, 0.001, DAY, &at("connect_timeout_secs"))?;
        check_count(self.max_concurrency.map(|value| value as u64), 1, 100_000, &at("max_concurrency"))?;
        check_count(self.requests_per_minute.map(u64::from), 1, u64::from(u32::MAX), &at("requests_per_minute"))?;
        check_count(self.tokens_per_minute, 1, u64::MAX, &at("tokens_per_minute"))?;
        if let Some(retry) = &self.retry {
            retry.validate(&[table[0], table[1], "retry"])?;
        }
        Ok(())
    }
}

impl LlmSettings {
    /// Checks every value that a model call would otherwise trip over later (a negative or
    /// infinite timeout, a URL that is not one, an attempt count of 0).
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (name, provider) in &self.providers {
            provider.validate(name)?;
        }
        self.retry.validate(&["retry"])?;
        for (model, price) in &self.prices {
            for (key, value) in
                [("input_per_million", price.input_per_million), ("output_per_million", price.output_per_million)]
            {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(InvalidSetting {
                        path: vec!["prices".into(), model.clone(), key.into()],
                        message: format!("expected a price of 0 or more (USD per million tokens), found {value}"),
                    });
                }
            }
        }
        Ok(())
    }

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
    meter: Arc<Meter>,
}

/// Calls and tokens of every model a factory built, counted as answers arrive (for live
/// progress; per-episode accounting is in each episode's record).
#[derive(Debug, Default)]
pub struct Meter {
    calls: std::sync::atomic::AtomicU64,
    prompt_tokens: std::sync::atomic::AtomicU64,
    completion_tokens: std::sync::atomic::AtomicU64,
}

impl Meter {
    /// (calls, prompt tokens, completion tokens) so far.
    pub fn read(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.calls.load(Relaxed), self.prompt_tokens.load(Relaxed), self.completion_tokens.load(Relaxed))
    }

    fn add(&self, response: &crate::types::ChatResponse) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        self.prompt_tokens.fetch_add(response.usage.prompt_tokens, Relaxed);
        self.completion_tokens.fetch_add(response.usage.completion_tokens, Relaxed);
    }
}

/// A model whose answers are counted by a [`Meter`].
struct Metered {
    inner: SharedModel,
    meter: Arc<Meter>,
}

#[async_trait::async_trait]
impl crate::model::ChatModel for Metered {
    async fn chat(&self, request: &crate::types::ChatRequest) -> Result<crate::types::ChatResponse, LlmError> {
        let response = self.inner.chat(request).await?;
        self.meter.add(&response);
        Ok(response)
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn name(&self) -> String {
        self.inner.name()
    }
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
            meter: Arc::default(),
        }
    }

    /// Calls and tokens of every model built so far, live.
    pub fn meter(&self) -> Arc<Meter> {
        self.meter.clone()
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
        let model: SharedModel = Arc::new(Metered { inner: model, meter: self.meter.clone() });
        self.models.lock().expect("factory lock").insert(spec.to_owned(), model.clone());
        Ok(model)
    }

    /// A provider's effective settings — built-in preset < settings file < environment — and
    /// where its base URLs came from.
    pub fn provider_settings(&self, provider: &str) -> Option<(ProviderSettings, String)> {
        let mut settings = self.settings.provider(provider)?;
        let from_file = self
            .settings
            .providers
            .get(provider)
            .is_some_and(|configured| configured.base_url.is_some() || !configured.base_urls.is_empty());
        let variables = base_url_variables(provider);
        let from_environment = variables.iter().find_map(|name| {
            (self.environment)(name).filter(|value| !value.trim().is_empty()).map(|value| (name, value))
        });
        let origin = match from_environment {
            Some((name, value)) => {
                let value = value.trim();
                let url = if name == "OLLAMA_HOST" { ollama_base_url(value) } else { value.to_owned() };
                settings.base_url = Some(url);
                settings.base_urls.clear();
                format!("the environment variable {name}")
            }
            None if from_file => format!("[providers.{provider}] in the settings file"),
            None => format!(
                "medsim's built-in default for {provider}; set {} or base_url under [providers.{provider}] in medsim.toml to change it",
                variables.join(" or ")
            ),
        };
        Some((settings, origin))
    }

    fn build_http(&self, spec: &ModelSpec) -> Result<SharedModel, LlmError> {
        let Some((settings, origin)) = self.provider_settings(&spec.provider) else {
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
        let transport = self.transport(&spec.provider, &settings, &origin)?;
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
        let (settings, origin) = self.provider_settings(&parsed.provider).ok_or_else(|| {
            LlmError::Config(format!(
                "unknown provider {:?}; add it as [providers.{}] in medsim.toml",
                parsed.provider, parsed.provider
            ))
        })?;
        let transport = self.transport(&parsed.provider, &settings, &origin)?;
        Ok(Arc::new(crate::embedding::OpenAiEmbedder::new(&parsed.provider, &parsed.model, dimensions, 64, transport)))
    }

    fn transport(&self, provider: &str, settings: &ProviderSettings, origin: &str) -> Result<Arc<Transport>, LlmError> {
        if let Some(transport) = self.transports.lock().expect("factory lock").get(provider) {
            return Ok(transport.clone());
        }
        for url in settings.urls() {
            check_base_url(&url, origin)?;
        }
        settings.validate(provider).map_err(|invalid| {
            LlmError::Config(format!("provider {provider}: {}: {}", invalid.path.join("."), invalid.message))
        })?;
        self.settings
            .retry
            .validate(&["retry"])
            .map_err(|invalid| LlmError::Config(format!("{}: {}", invalid.path.join("."), invalid.message)))?;
        let tls_roots = crate::http::extra_roots(&|name| (self.environment)(name))
            .map_err(|error| LlmError::Config(error.to_string()))?;
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
            origin: origin.to_owned(),
            tls_roots,
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
    fn the_environment_sets_base_urls_over_the_file() {
        let settings: LlmSettings = toml::from_str("[providers.openai]\nbase_url = \"http://file:1/v1\"\n").unwrap();
        let environment = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned())
        };
        let factory = ModelFactory::with_environment(settings.clone(), environment(&[]));
        let (openai, origin) = factory.provider_settings("openai").unwrap();
        assert_eq!(openai.urls(), ["http://file:1/v1"]);
        assert!(origin.contains("settings file"), "{origin}");
        let factory = ModelFactory::with_environment(
            settings.clone(),
            environment(&[("OPENAI_API_BASE", "http://old:2/v1"), ("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")]),
        );
        let (openai, origin) = factory.provider_settings("openai").unwrap();
        assert_eq!(openai.urls(), ["http://127.0.0.1:8000/v1"]);
        assert_eq!(origin, "the environment variable OPENAI_BASE_URL");
        let factory = ModelFactory::with_environment(
            settings,
            environment(&[("OPENAI_BASE_URL", "http://a:1/v1"), ("MEDSIM_OPENAI_BASE_URL", "http://b:2/v1")]),
        );
        assert_eq!(factory.provider_settings("openai").unwrap().0.urls(), ["http://b:2/v1"]);
        let factory = ModelFactory::with_environment(
            LlmSettings::default(),
            environment(&[("ANTHROPIC_BASE_URL", "http://c:3"), ("MEDSIM_MY_GATEWAY_BASE_URL", "http://d:4/v1")]),
        );
        assert_eq!(factory.provider_settings("anthropic").unwrap().0.urls(), ["http://c:3"]);
        let (vllm, origin) = factory.provider_settings("vllm").unwrap();
        assert_eq!(vllm.urls(), ["http://127.0.0.1:8000/v1"]);
        assert!(origin.contains("MEDSIM_VLLM_BASE_URL"), "{origin}");
        assert_eq!(base_url_variables("my-gateway")[0], "MEDSIM_MY_GATEWAY_BASE_URL");
    }

    #[test]
    fn ollama_host_takes_the_forms_ollama_accepts() {
        assert_eq!(ollama_base_url("0.0.0.0"), "http://0.0.0.0:11434/v1");
        assert_eq!(ollama_base_url("gpu1:11500"), "http://gpu1:11500/v1");
        assert_eq!(ollama_base_url("http://gpu1:11500/"), "http://gpu1:11500/v1");
        assert_eq!(ollama_base_url("https://ollama.example.org"), "https://ollama.example.org/v1");
        assert_eq!(ollama_base_url("https://example.org/ollama"), "https://example.org/ollama/v1");
    }

    #[test]
    fn a_base_url_that_is_not_a_url_is_refused_with_its_origin() {
        let settings: LlmSettings = toml::from_str("[providers.vllm]\nbase_url = \"not a url\"\n").unwrap();
        let factory = ModelFactory::with_environment(settings, |_| None);
        let error = factory.model("vllm/x").err().unwrap().to_string();
        assert!(error.contains("\"not a url\"") && error.contains("[providers.vllm]"), "{error}");
        let factory = ModelFactory::with_environment(LlmSettings::default(), |name| {
            (name == "OPENAI_BASE_URL").then(|| "ftp://x".into())
        });
        let error = factory.model("openai/x").err().unwrap().to_string();
        assert!(error.contains("OPENAI_BASE_URL") && error.contains("http://"), "{error}");
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
