//! `medsim bench`: how fast the runner goes against a model server of known latency.
//!
//! It starts the scripted server in-process with a fixed latency and a doctor that asks
//! `turns - 1` questions, orders a test on the way, then diagnoses; the patient and judge
//! answer at once. For each concurrency it runs the whole dataset through the real runner
//! (episodes appended to a run log in a temporary directory) and compares the wall time with
//! the latency bound: the sum over episodes of their calls' latencies along the critical path
//! (every call of an episode waits for the previous one), divided by the concurrency. Beside it,
//! the makespan bound no schedule can beat (with more episodes than slots, some slot runs two
//! episodes one after the other). With zero latency it reports the CPU time per doctor turn,
//! the orchestration overhead.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use medsim_core::LoadOptions;
use medsim_core::case::Case;
use medsim_core::transcript::EventKind;
use medsim_engine::runlog::{EpisodeRecord, RunDir};
use medsim_engine::{EpisodeConfig, run_all, run_episode};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::{LlmSettings, ModelFactory};
use serde_json::json;

use super::consult::build;
use super::{Places, print_json};
use crate::cli::{RoleModelArgs, SetupArgs};
use crate::datasets::DatasetStore;
use crate::settings::Settings;
use crate::{BadInput, Exit};

fn script(turns: u32, latency_ms: f64) -> String {
    let mut replies = Vec::new();
    for turn in 0..turns.saturating_sub(1) {
        replies.push(if turn == 1 {
            "\"REQUEST TEST: CBC\"".to_owned()
        } else {
            format!("\"Question {turn}: how long has this been going on?\"")
        });
    }
    replies.push("\"DIAGNOSIS READY: Scripted diagnosis\"".to_owned());
    format!(
        "latency: {{ mean_ms: {latency_ms} }}\nrules:\n  - when: {{ role: doctor }}\n    turn_from: \"You have asked (\\\\d+) questions\"\n    replies: [{}]\n  - when: {{ role: patient }}\n    reply: \"For about a week.\"\n  - when: {{ role: judge }}\n    reply: \"No\"\n",
        replies.join(", ")
    )
}

/// CPU seconds (user + system) used by this process so far.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

struct Measured {
    wall: f64,
    cpu: f64,
    turns: u64,
    calls: u64,
    episodes: usize,
    /// Model calls of each episode (they run one after another: its critical path).
    calls_per_episode: Vec<u64>,
}

/// The lower bound on any schedule's makespan of jobs with these lengths on `machines`
/// parallel slots: the total over the slots, the longest job, and the two shortest of the
/// `machines + 1` longest (two of them must share a slot).
pub fn makespan_lower_bound(lengths: &[f64], machines: usize) -> f64 {
    let machines = machines.max(1);
    let mut sorted = lengths.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = sorted.iter().sum();
    let mut bound = (total / machines as f64).max(sorted.first().copied().unwrap_or(0.0));
    if sorted.len() > machines {
        bound = bound.max(sorted[machines - 1] + sorted[machines]);
    }
    bound
}

async fn measure(cases: &[Case], latency_ms: f64, turns: u32, concurrency: usize, places: &Places) -> Result<Measured> {
    let compiled =
        CompiledScript::parse(&script(turns, latency_ms), "bench").map_err(|error| BadInput(error.to_string()))?;
    let server = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse()?, None).await?;
    let mut llm = LlmSettings::default();
    llm.providers.insert(
        "bench".into(),
        ProviderSettings {
            base_url: Some(server.openai_base()),
            max_concurrency: Some(256),
            ..ProviderSettings::default()
        },
    );
    let settings = Settings { path: None, llm: llm.clone() };
    let factory = ModelFactory::new(llm);
    let setup = SetupArgs {
        roles: RoleModelArgs {
            doctor_model: Some("bench/doctor".into()),
            patient_model: Some("bench/patient".into()),
            measurement_model: None,
            judge_model: Some("bench/judge".into()),
        },
        measurement: crate::cli::MeasurementMode::Grounded,
        protocol: crate::cli::ProtocolArg::Agentclinic,
        strict_agentclinic: false,
        images: crate::cli::ImagesArg::Never,
        max_turns: turns + 1,
        doctor_bias: None,
        patient_bias: None,
        prompts: None,
        strategy: "baseline".into(),
        memory: None,
        embedder: None,
        aids: "none".into(),
    };
    let directory = tempfile_dir()?;
    let run_dir = RunDir::new(&directory);
    let lock = run_dir.lock()?;
    let mut appender = lock.appender()?;
    let config = EpisodeConfig { max_turns: turns + 1, ..EpisodeConfig::default() };
    let jobs: Vec<(Case, u32)> = cases.iter().map(|case| (case.clone(), 0)).collect();
    let prompts = super::consult::load_prompts(&setup)?;
    let setup = Arc::new(setup);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut records: Vec<EpisodeRecord> = Vec::new();
    run_all(
        jobs,
        concurrency,
        |case, repeat| {
            let setup = setup.clone();
            let prompts = prompts.clone();
            let factory = &factory;
            let settings = &settings;
            let config = config.clone();
            async move {
                let built = build(&setup, &case, settings, places, factory, prompts, None, None, &Default::default())
                    .await
                    .expect("bench actors");
                let episode = run_episode(&case, &[], &built.actors, &config, None).await;
                EpisodeRecord::new(episode, repeat, Vec::new(), None)
            }
        },
        &mut appender,
        |record| records.push(record.clone()),
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&directory);
    let calls_per_episode: Vec<u64> = records
        .iter()
        .map(|record| {
            record.episode.events.iter().filter(|event| matches!(event.kind, EventKind::ModelCall { .. })).count()
                as u64
        })
        .collect();
    let calls = calls_per_episode.iter().sum();
    let errors = records.iter().filter(|record| record.episode.error.is_some()).count();
    if errors > 0 {
        return Err(anyhow::anyhow!("{errors} bench episode(s) failed"));
    }
    Ok(Measured {
        wall,
        cpu,
        turns: records.iter().map(|record| u64::from(record.episode.turns)).sum(),
        calls,
        episodes: records.len(),
        calls_per_episode,
    })
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let directory = std::env::temp_dir().join(format!(
        "medsim-bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&directory)?;
    Ok(directory)
}

pub fn bench(
    store: &DatasetStore,
    places: &Places,
    dataset: &str,
    latency_ms: f64,
    concurrencies: &[usize],
    turns: u32,
    json: bool,
) -> Result<Exit> {
    let dataset = store.load(dataset, LoadOptions::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = Vec::new();
    runtime.block_on(async {
        // Orchestration overhead: no latency, one episode at a time.
        let overhead = measure(&dataset.cases, 0.0, turns, 1, places).await?;
        let per_turn_ms = overhead.cpu / overhead.turns as f64 * 1000.0;
        eprintln!(
            "overhead: {} episodes, {} doctor turns, {} model calls in {:.2}s wall, {:.2}s CPU = {per_turn_ms:.3} ms CPU per doctor turn (scripted server included)",
            overhead.episodes, overhead.turns, overhead.calls, overhead.wall, overhead.cpu
        );
        rows.push(json!({"kind": "overhead", "episodes": overhead.episodes, "turns": overhead.turns, "calls": overhead.calls, "wall_s": overhead.wall, "cpu_s": overhead.cpu, "cpu_ms_per_turn": per_turn_ms}));
        for &concurrency in concurrencies {
            let measured = measure(&dataset.cases, latency_ms, turns, concurrency, places).await?;
            let bound = measured.calls as f64 * latency_ms / 1000.0 / concurrency as f64;
            // No schedule beats this: with more episodes than slots some slot runs two.
            let paths: Vec<f64> =
                measured.calls_per_episode.iter().map(|calls| *calls as f64 * latency_ms / 1000.0).collect();
            let makespan = makespan_lower_bound(&paths, concurrency);
            eprintln!(
                "concurrency {concurrency:>3}: {} episodes, {} calls in {:.2}s; latency bound {bound:.2}s (ratio {:.3}); makespan bound {makespan:.2}s (ratio {:.3})",
                measured.episodes,
                measured.calls,
                measured.wall,
                measured.wall / bound,
                measured.wall / makespan
            );
            rows.push(json!({"kind": "latency", "concurrency": concurrency, "latency_ms": latency_ms, "episodes": measured.episodes, "calls": measured.calls, "wall_s": measured.wall, "bound_s": bound, "ratio": measured.wall / bound, "makespan_bound_s": makespan, "makespan_ratio": measured.wall / makespan}));
        }
        anyhow::Ok(())
    })?;
    if json {
        print_json(&rows)?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::makespan_lower_bound;

    #[test]
    fn equal_episodes_beyond_the_slots_need_two_waves() {
        // 107 equal episodes on 64 slots: two waves, 1.196× the total divided by the slots.
        let bound = makespan_lower_bound(&vec![2.0; 107], 64);
        assert_eq!(bound, 4.0);
        assert!((bound / (107.0 * 2.0 / 64.0) - 1.196).abs() < 0.001);
        assert_eq!(makespan_lower_bound(&[5.0, 1.0, 1.0], 2), 5.0);
        assert_eq!(makespan_lower_bound(&[1.0; 8], 2), 4.0);
    }
}
