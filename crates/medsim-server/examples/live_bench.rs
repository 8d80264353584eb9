//! Does a page watching a live run slow the runner? The same run (the 17 built-in cases × R
//! repeats at concurrency 64, scripted models with a fixed latency, all in this process) is
//! started through the live API again and again, alternately with no page connected and with a
//! page's event stream read to the end over real HTTP. Reports the runner's wall time (measured
//! around the engine's run, in the `finished` message) for both, and their ratio.
//!
//! ```sh
//! cargo run --release -p medsim-server --example live_bench -- 60 5
//! ```
//! (repeats per case, rounds of each).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use medsim_core::builtin::builtin;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::{LlmSettings, ModelFactory};
use medsim_server::live::{Live, LiveConfig};
use medsim_server::web::{WebConfig, app};
use serde_json::{Value, json};

const SCRIPT: &str = r#"
forget_requests: true
latency: { mean_ms: 20, distribution: fixed }
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in?", "REQUEST TEST: Serum glucose", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: patient }
    reply: "I have been very thirsty."
  - when: { role: judge }
    reply: "No"
"#;
const TOKEN: &str = "bench-token";

fn main() {
    let arguments: Vec<u32> = std::env::args().skip(1).filter_map(|text| text.parse().ok()).collect();
    let repeats = arguments.first().copied().unwrap_or(60);
    let rounds = arguments.get(1).copied().unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(repeats, rounds));
}

async fn run(repeats: u32, rounds: u32) {
    let compiled = CompiledScript::parse(SCRIPT, "bench").unwrap();
    let script = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let mut llm = LlmSettings::default();
    let provider = ProviderSettings {
        base_url: Some(script.openai_base()),
        max_concurrency: Some(256),
        ..ProviderSettings::default()
    };
    llm.providers.insert("s".into(), provider);
    let factory = Arc::new(ModelFactory::with_environment(llm, |_| None));
    let models: BTreeMap<RoleName, String> = [RoleName::Doctor, RoleName::Patient, RoleName::Judge]
        .into_iter()
        .map(|role| (role, "s/m".to_owned()))
        .collect();
    let model = || Some("s/m".to_owned());
    let base = Setup {
        roles: RoleModels {
            doctor_model: model(),
            patient_model: model(),
            measurement_model: None,
            judge_model: model(),
        },
        max_turns: 6,
        ..Setup::default()
    };
    let assembler = move |setup: &Setup| {
        Assembler::new(
            setup.clone(),
            factory.clone(),
            Arc::new(Default::default()),
            models.clone(),
            StrategySetup::default(),
        )
        .map_err(|error| error.to_string())
    };
    let runs = tempfile::tempdir().unwrap();
    let mut config = WebConfig::viewer(runs.path().to_owned());
    config.token = Some(TOKEN.into());
    config.live = Some(Live::new(LiveConfig {
        base,
        models: BTreeMap::new(),
        choices: Vec::new(),
        assembler: Arc::new(assembler),
        datasets: Arc::new(|_: &str| Ok(builtin().clone())),
        dataset_names: vec!["builtin".into()],
        max_concurrency: 64,
        max_sessions: 8,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(Arc::new(config))).await });
    let client = reqwest::Client::new();
    let base_url = format!("http://{address}");
    let episodes = 17 * repeats;
    println!(
        "{episodes} episodes per run at concurrency 64, scripted latency 20 ms; {rounds} rounds of each, alternating"
    );
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..rounds * 2 {
        let watched = round % 2 == 1;
        let body = json!({"repeats": repeats, "concurrency": 64, "protocol": "agentclinic", "seed": round});
        let started: Value = client
            .post(format!("{base_url}/api/live/start"))
            .header("x-medsim-token", TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = started["id"].as_str().unwrap().to_owned();
        let (elapsed, messages) = if watched {
            // A page: the event stream, read as it comes, to the end of the run.
            let mut response =
                client.get(format!("{base_url}/api/live/{id}/events?token={TOKEN}")).send().await.unwrap();
            let (mut buffer, mut count, mut elapsed) = (String::new(), 0usize, None);
            while elapsed.is_none() {
                let chunk = response.chunk().await.unwrap().expect("the stream ended early");
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let frame: String = buffer.drain(..end + 2).collect();
                    if let Some(data) = frame.lines().find_map(|line| line.strip_prefix("data: ")) {
                        // As a page would: every message read; the run's end looked for.
                        count += data.matches("\"seq\":").count();
                        if data.contains("\"kind\":\"finished\"") {
                            let batch: Vec<Value> = serde_json::from_str(data).unwrap();
                            elapsed = batch
                                .iter()
                                .find(|message| message["kind"] == "finished")
                                .and_then(|message| message["elapsed_ms"].as_f64());
                        }
                    }
                }
            }
            (elapsed.unwrap(), count)
        } else {
            // No page: ask now and then whether it is done (a cheap request, not the stream).
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let status: Value = client
                    .get(format!("{base_url}/api/live/{id}"))
                    .header("x-medsim-token", TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if status["state"] != "running" {
                    break (status["elapsed_ms"].as_f64().unwrap(), 0);
                }
            }
        };
        let arm = if watched { "with a page" } else { "no page" };
        println!(
            "round {}: {arm}: {:.0} ms{}",
            round / 2 + 1,
            elapsed,
            if watched { format!(" ({messages} messages streamed)") } else { String::new() }
        );
        times.entry(arm).or_default().push(elapsed);
    }
    let median = |values: &Vec<f64>| {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let (without, with) = (median(&times["no page"]), median(&times["with a page"]));
    println!("median wall time: no page {without:.0} ms, with a page {with:.0} ms; ratio {:.3}", with / without);
    script.shutdown().await;
}
