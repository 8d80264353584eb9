//! `medsim llm …`

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use medsim_llm::script::CompiledScript;
use medsim_llm::types::{ChatRequest, ImageSource, JsonSchemaFormat, Message};
use serde_json::json;

use super::{Places, print_json};
use crate::cli::{CacheArgs, LlmCommand};
use crate::output::Table;
use crate::settings::Settings;
use crate::{BadInput, Exit};

pub fn run(command: LlmCommand, settings: &Settings, places: &Places) -> Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match command {
            LlmCommand::Chat { model, prompt, system, image, temperature, max_tokens, json_schema, json, cache } => {
                let request = chat_request(prompt, system, &image, temperature, max_tokens, json_schema.as_deref())?;
                chat(settings, &cache, places, &model, request, json).await
            }
            LlmCommand::Check { roles, json } => {
                if let Some(path) = &settings.path {
                    eprintln!("settings: {}", path.display());
                }
                let factory = settings.factory(&CacheArgs::default(), &places.cache_dir, &places.data_dir)?;
                let mut rows = Vec::new();
                let mut failed = false;
                for role in medsim_core::transcript::RoleName::ALL {
                    let Some(spec) = settings.role_model_or_default(role, &roles.to_role_models()) else {
                        rows.push(json!({"role": role, "model": null, "status": "not configured"}));
                        continue;
                    };
                    crate::local::ensure_installed(&spec, &places.data_dir, places.offline).await?;
                    let row = match factory.model(&spec) {
                        Err(error) => {
                            failed = true;
                            json!({"role": role, "model": spec, "status": "error", "error": error.to_string()})
                        }
                        Ok(model) => {
                            let request = ChatRequest::new(vec![Message::user("Reply with the single word: ready")])
                                .for_role(role.as_str());
                            match model.chat(&request).await {
                                Ok(response) => json!({
                                    "role": role,
                                    "model": spec,
                                    "status": "ok",
                                    "latency_ms": (response.latency.as_secs_f64() * 1000.0).round(),
                                    "prompt_tokens": response.usage.prompt_tokens,
                                    "completion_tokens": response.usage.completion_tokens,
                                    "capabilities": model.capabilities(),
                                    "reply": response.text(),
                                }),
                                Err(error) => {
                                    failed = true;
                                    json!({"role": role, "model": spec, "status": "error", "error": error.to_string()})
                                }
                            }
                        }
                    };
                    rows.push(row);
                }
                if json {
                    print_json(&rows)?;
                } else {
                    let mut table = Table::new(&[
                        ("ROLE", 0),
                        ("MODEL", 40),
                        ("STATUS", 0),
                        ("LATENCY", 0),
                        ("TOKENS IN/OUT", 0),
                        ("IMAGES/TOOLS/SCHEMA", 0),
                        ("DETAIL", 60),
                    ]);
                    for row in &rows {
                        let text = |key: &str| row[key].as_str().unwrap_or("-").to_owned();
                        let capabilities = &row["capabilities"];
                        let flag = |key: &str| if capabilities[key] == true { "yes" } else { "no" };
                        table.row(vec![
                            text("role"),
                            text("model"),
                            text("status"),
                            row["latency_ms"].as_f64().map(|ms| format!("{ms} ms")).unwrap_or("-".into()),
                            row["prompt_tokens"]
                                .as_u64()
                                .map(|tokens| format!("{tokens}/{}", row["completion_tokens"]))
                                .unwrap_or("-".into()),
                            if capabilities.is_null() {
                                "-".into()
                            } else {
                                format!("{}/{}/{}", flag("images"), flag("tools"), flag("json_schema"))
                            },
                            row.get("error")
                                .or(row.get("reply"))
                                .and_then(|value| value.as_str())
                                .unwrap_or("")
                                .to_owned(),
                        ]);
                    }
                    print!("{}", table.render());
                }
                Ok(if failed { Exit::Failure } else { Exit::Ok })
            }
            LlmCommand::ServeScript { script, host, port, record } => {
                let text = std::fs::read_to_string(&script)
                    .map_err(|error| BadInput(format!("cannot read {}: {error}", script.display())))?;
                let compiled = CompiledScript::parse(&text, &script.display().to_string())
                    .map_err(|error| BadInput(error.to_string()))?;
                let handle = medsim_llm::script::server::start(compiled, SocketAddr::new(host, port), record)
                    .await
                    .with_context(|| format!("cannot listen on {host}:{port}"))?;
                println!(
                    "scripted server listening on http://{} (OpenAI base URL {}, Anthropic base URL {})",
                    handle.address,
                    handle.openai_base(),
                    handle.anthropic_base()
                );
                std::io::stdout().flush()?;
                wait_for_shutdown_signal().await;
                let stats = handle.stats();
                eprintln!("served {} requests; faults injected: {:?}", stats.requests, stats.faults);
                handle.shutdown().await;
                Ok(Exit::Ok)
            }
        }
    })
}

fn chat_request(
    prompt: String,
    system: Option<String>,
    images: &[String],
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    json_schema: Option<&Path>,
) -> Result<ChatRequest> {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(Message::system(system));
    }
    let mut user = Message::user(prompt);
    for image in images {
        let source = if image.starts_with("http://") || image.starts_with("https://") || image.starts_with("data:") {
            ImageSource::Url(image.clone())
        } else {
            let path = Path::new(image);
            if !path.exists() {
                return Err(BadInput(format!("--image {image}: no such file")).into());
            }
            ImageSource::File(path.to_owned())
        };
        user = user.with_image(source);
    }
    messages.push(user);
    let mut request = ChatRequest::new(messages).for_role("chat");
    request.params.temperature = temperature;
    request.params.max_tokens = max_tokens;
    if let Some(path) = json_schema {
        let text = std::fs::read_to_string(path)
            .map_err(|error| BadInput(format!("--json-schema {}: {error}", path.display())))?;
        let schema = serde_json::from_str(&text)
            .map_err(|error| BadInput(format!("--json-schema {}: not JSON: {error}", path.display())))?;
        request.response_format = Some(JsonSchemaFormat { name: "response".into(), schema });
    }
    Ok(request)
}

async fn chat(
    settings: &Settings,
    cache: &CacheArgs,
    places: &Places,
    spec: &str,
    request: ChatRequest,
    json: bool,
) -> Result<Exit> {
    crate::local::ensure_installed(spec, &places.data_dir, places.offline).await?;
    let factory = settings.factory(cache, &places.cache_dir, &places.data_dir)?;
    let model = factory.model(spec).map_err(|error| BadInput(error.to_string()))?;
    let response = model.chat(&request).await.with_context(|| format!("the call to {spec} failed"))?;
    if json {
        print_json(&response)?;
    } else {
        println!("{}", response.text());
        for call in response.tool_calls() {
            println!("[tool call] {}({})", call.name, call.arguments);
        }
        let cost = settings
            .llm
            .price_table()
            .cost(spec, response.usage)
            .map(|cost| format!(", ${cost:.6}"))
            .unwrap_or_default();
        eprintln!(
            "{spec}: {:.0} ms, {} prompt + {} completion tokens{cost}{}{}",
            response.latency.as_secs_f64() * 1000.0,
            response.usage.prompt_tokens,
            response.usage.completion_tokens,
            if response.attempts > 1 { format!(", {} attempts", response.attempts) } else { String::new() },
            if response.cache_hit { ", from the replay cache" } else { "" },
        );
    }
    Ok(Exit::Ok)
}

async fn wait_for_shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
