//! Starting scripted servers and building models that talk to them.

use std::sync::Arc;

use medsim_llm::config::{ProviderKind, ProviderSettings};
use medsim_llm::script::CompiledScript;
use medsim_llm::script::server::{ServerHandle, start};
use medsim_llm::transport::RetryPolicy;
use medsim_llm::{LlmSettings, ModelFactory, SharedModel};

/// Starts the scripted server with a YAML script on a free loopback port.
pub async fn serve(script: &str) -> ServerHandle {
    let compiled = CompiledScript::parse(script, "test-script.yaml").expect("valid script");
    start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.expect("server starts")
}

/// A quick retry policy for tests.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 25,
        max_elapsed_secs: 60.0,
        initial_backoff_secs: 0.001,
        max_backoff_secs: 0.02,
        multiplier: 2.0,
    }
}

/// Settings with provider `scripted` (OpenAI-compatible) and `scripted-anthropic` pointing at
/// `server`, keys read from `SCRIPTED_KEY`.
pub fn settings_for(server: &ServerHandle) -> LlmSettings {
    let mut settings = LlmSettings { retry: fast_retry(), ..LlmSettings::default() };
    settings.providers.insert(
        "scripted".to_owned(),
        ProviderSettings {
            base_url: Some(server.openai_base()),
            api_key_env: Some("SCRIPTED_KEY".to_owned()),
            timeout_secs: Some(5.0),
            ..ProviderSettings::default()
        },
    );
    settings.providers.insert(
        "scripted-anthropic".to_owned(),
        ProviderSettings {
            kind: ProviderKind::Anthropic,
            base_url: Some(server.anthropic_base()),
            api_key_env: Some("SCRIPTED_KEY".to_owned()),
            timeout_secs: Some(5.0),
            ..ProviderSettings::default()
        },
    );
    settings
}

/// A factory whose environment holds only `SCRIPTED_KEY=key`.
pub fn factory(settings: LlmSettings, key: &'static str) -> ModelFactory {
    ModelFactory::with_environment(settings, move |name| (name == "SCRIPTED_KEY").then(|| key.to_owned()))
}

/// Both providers' models for `server`.
pub fn both_models(server: &ServerHandle) -> Vec<SharedModel> {
    let factory = Arc::new(factory(settings_for(server), "sk-test"));
    vec![factory.model("scripted/test-model").unwrap(), factory.model("scripted-anthropic/claude-test").unwrap()]
}
