//! The environment's own cost per step: N WebSocket sessions at once, each playing episodes
//! (ask, order a test, diagnose) against a zero-latency scripted patient and judge, all in this
//! process. Reports steps per second, step latency percentiles and CPU per step.
//!
//! ```sh
//! cargo run --release -p medsim-server --example env_bench -- 256 20
//! ```
//! (sessions, episodes per session).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use medsim_core::builtin::builtin;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::env::EnvOptions;
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::{LlmSettings, ModelFactory};
use medsim_server::env::{EnvConfig, EnvServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SCRIPT: &str = "forget_requests: true\nrules:\n  - when: { role: patient }\n    reply: \"For about a week.\"\n  - when: { role: judge }\n    reply: \"No\"\n";

fn main() {
    let arguments: Vec<usize> = std::env::args().skip(1).filter_map(|text| text.parse().ok()).collect();
    let sessions = arguments.first().copied().unwrap_or(256);
    let episodes = arguments.get(1).copied().unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(sessions, episodes));
}

async fn run(sessions: usize, episodes: usize) {
    let compiled = CompiledScript::parse(SCRIPT, "bench").unwrap();
    let script = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let mut llm = LlmSettings::default();
    let provider = ProviderSettings {
        base_url: Some(script.openai_base()),
        max_concurrency: Some(sessions),
        ..ProviderSettings::default()
    };
    llm.providers.insert("scripted".into(), provider);
    let factory = Arc::new(ModelFactory::with_environment(llm, |_| None));
    let model = || Some("scripted/model".to_owned());
    let setup = Setup {
        roles: RoleModels { doctor_model: None, patient_model: model(), measurement_model: None, judge_model: model() },
        max_turns: 6,
        ..Setup::default()
    };
    let models: BTreeMap<RoleName, String> =
        [RoleName::Patient, RoleName::Judge].into_iter().map(|role| (role, "scripted/model".to_owned())).collect();
    let assembler =
        Assembler::new(setup, factory, Arc::new(Default::default()), models, StrategySetup::default()).unwrap();
    let server = EnvServer::new(EnvConfig {
        cases: builtin().cases.clone(),
        withheld: Default::default(),
        split: "all".into(),
        base_dir: None,
        assembler: Arc::new(assembler),
        options: EnvOptions::default(),
        max_sessions: sessions,
        idle: Duration::from_secs(600),
        max_message_bytes: 1 << 20,
        token: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(medsim_server::env::serve(server, listener));
    let cpu_before = medsim_engine::bench::cpu_seconds();
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..sessions {
        clients.push(tokio::spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws")).await.unwrap();
            let mut latencies = Vec::new();
            let mut call = async |socket: &mut tokio_tungstenite::WebSocketStream<_>, request: Value| {
                let sent = Instant::now();
                socket.send(Message::Text(request.to_string().into())).await.unwrap();
                let reply = loop {
                    if let Message::Text(text) = socket.next().await.unwrap().unwrap() {
                        break text;
                    }
                };
                latencies.push(sent.elapsed());
                let reply: Value = serde_json::from_str(&reply).unwrap();
                assert_eq!(reply["type"], "observation", "{reply}");
                reply
            };
            for episode in 0..episodes {
                call(&mut socket, json!({"type": "reset", "data": {"seed": client * 1000 + episode}})).await;
                call(&mut socket, json!({"type": "step", "data": {"tool": "ask", "arguments": {"question": "Since when?"}}})).await;
                call(&mut socket, json!({"type": "step", "data": {"tool": "order_tests", "arguments": {"tests": ["Complete blood count"]}}})).await;
                let last = call(&mut socket, json!({"type": "step", "data": {"tool": "diagnose", "arguments": {"primary": "Something"}}})).await;
                assert_eq!(last["data"]["done"], true);
            }
            latencies
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = medsim_engine::bench::cpu_seconds() - cpu_before;
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    let steps = latencies.len();
    println!(
        "{sessions} sessions × {episodes} episodes: {steps} requests (reset + 3 steps each) in {wall:.2}s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms; CPU {:.3} ms per request (environment, clients, patient and judge server together); peak RSS {:.0} MB",
        steps as f64 / wall,
        percentile(0.5),
        percentile(0.99),
        cpu / steps as f64 * 1000.0,
        medsim_engine::bench::peak_rss_mb()
    );
}
