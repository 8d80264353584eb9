//! How fast the runner goes against a model server of known latency (`medsim bench`).
//!
//! It starts the scripted server in-process with a fixed latency and a doctor that asks
//! `turns - 1` questions, orders a test on the way, then diagnoses; the patient and judge
//! answer at once. Episodes go through the real runner ([`run_all`], records appended to a run
//! log in a temporary directory) and the wall time is compared with two bounds: the latency
//! bound (the sum over episodes of their calls' latencies along the critical path — every call
//! of an episode waits for the previous one — divided by the concurrency) and the makespan bound
//! no schedule can beat (with more episodes than slots, some slot runs two one after the other).
//! With zero latency the CPU time per doctor turn is the orchestration overhead. Neither the
//! runner nor the server keeps finished episodes or requests, so memory stays flat however many
//! episodes run; [`peak_rss_mb`] shows it.

use std::sync::Arc;
use std::time::Instant;

use medsim_core::case::Case;
use medsim_core::transcript::{EventKind, RoleName};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::{LlmSettings, ModelFactory};

use crate::assemble::{Assembler, StrategySetup};
use crate::run::{RunError, run_all};
use crate::runlog::{EpisodeRecord, RunDir};
use crate::setup::{RoleModels, Setup};
use crate::{EpisodeConfig, ImagePolicy, run_episode};

/// The scripted conversation: `turns - 1` questions (a test order second), then a diagnosis.
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
        "forget_requests: true\nlatency: {{ mean_ms: {latency_ms} }}\nrules:\n  - when: {{ role: doctor }}\n    turn_from: \"You have asked (\\\\d+) questions\"\n    replies: [{}]\n  - when: {{ role: patient }}\n    reply: \"For about a week.\"\n  - when: {{ role: judge }}\n    reply: \"No\"\n",
        replies.join(", ")
    )
}

/// CPU seconds (user + system) used by this process so far; 0 where /proc is not available.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The process's peak resident memory so far (VmHWM), in MB; 0 where /proc is not available.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:").and_then(|rest| rest.trim().split(' ').next()?.parse::<f64>().ok())
            })
        })
        .map(|kilobytes| kilobytes / 1024.0)
        .unwrap_or(0.0)
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall seconds.
    pub wall: f64,
    /// CPU seconds of this process (runner and in-process server).
    pub cpu: f64,
    /// Doctor turns.
    pub turns: u64,
    /// Model calls.
    pub calls: u64,
    /// Episodes.
    pub episodes: usize,
    /// Model calls of each episode (they run one after another: its critical path).
    pub calls_per_episode: Vec<u64>,
}

/// The lower bound on any schedule's makespan of jobs with these lengths on `machines`
/// parallel slots: the total over the slots, the longest job, the two shortest of the
/// `machines + 1` longest (two of them must share a slot), and the `⌈n / machines⌉` shortest
/// (some slot runs at least that many jobs one after the other).
pub fn makespan_lower_bound(lengths: &[f64], machines: usize) -> f64 {
    let machines = machines.max(1);
    let mut sorted = lengths.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = sorted.iter().sum();
    let mut bound = (total / machines as f64).max(sorted.first().copied().unwrap_or(0.0));
    if sorted.len() > machines {
        bound = bound.max(sorted[machines - 1] + sorted[machines]);
    }
    let busiest = sorted.len().div_ceil(machines);
    bound.max(sorted.iter().rev().take(busiest).sum())
}

/// Runs `episodes` episodes (cycling through `cases`) at `concurrency` against the scripted
/// server with `latency_ms` per call.
pub async fn measure(
    cases: &[Case],
    episodes: usize,
    latency_ms: f64,
    turns: u32,
    concurrency: usize,
) -> Result<Measured, RunError> {
    let compiled = CompiledScript::parse(&script(turns, latency_ms), "bench")
        .map_err(|error| RunError::Input(format!("the bench script: {error}")))?;
    let io = |path: &str| {
        let path = path.to_owned();
        move |source| RunError::Io { path, source }
    };
    let server = medsim_llm::script::server::start(compiled, ([127, 0, 0, 1], 0).into(), None)
        .await
        .map_err(io("the scripted server"))?;
    let mut llm = LlmSettings::default();
    let provider = ProviderSettings {
        base_url: Some(server.openai_base()),
        max_concurrency: Some(concurrency.max(1)),
        ..ProviderSettings::default()
    };
    llm.providers.insert("bench".into(), provider);
    let model = |name: &str| Some(format!("bench/{name}"));
    let setup = Setup {
        roles: RoleModels {
            doctor_model: model("doctor"),
            patient_model: model("patient"),
            measurement_model: None,
            judge_model: model("judge"),
        },
        images: ImagePolicy::Never,
        max_turns: turns + 1,
        ..Setup::default()
    };
    let models = [RoleName::Doctor, RoleName::Patient, RoleName::Judge]
        .into_iter()
        .filter_map(|role| setup.roles.get(role).map(|spec| (role, spec.to_owned())))
        .collect();
    let factory = Arc::new(ModelFactory::new(llm));
    let prices = Arc::new(medsim_llm::pricing::PriceTable::default());
    let assembler = Assembler::new(setup, factory, prices, models, StrategySetup::default())?;
    let directory = tempfile::tempdir().map_err(io("a temporary directory"))?;
    let run_dir = RunDir::new(directory.path());
    let lock = run_dir.lock()?;
    let appender = lock.appender()?;
    let config = EpisodeConfig { max_turns: turns + 1, ..EpisodeConfig::default() };
    // Jobs are made as slots free up, and each record is counted and dropped.
    let jobs = (0..episodes).map(|index| (cases[index % cases.len()].clone(), (index / cases.len()) as u32));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut calls_per_episode: Vec<u64> = Vec::with_capacity(episodes);
    let (mut errors, mut turns_done) = (0usize, 0u64);
    run_all(
        jobs,
        concurrency,
        |case, repeat| {
            let (config, assembler) = (config.clone(), &assembler);
            async move {
                let episode = match assembler.actors(&case, None, None) {
                    Ok(built) => run_episode(&case, &[], &built.actors, &config, None).await,
                    Err(error) => crate::run::failed_episode(&case, error.to_string()),
                };
                EpisodeRecord::new(episode, repeat, Vec::new(), None)
            }
        },
        appender,
        |record| {
            let calls = record.episode.events.iter().filter(|event| matches!(event.kind, EventKind::ModelCall { .. }));
            calls_per_episode.push(calls.count() as u64);
            errors += usize::from(record.episode.error.is_some());
            turns_done += u64::from(record.episode.turns);
        },
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    server.shutdown().await;
    if errors > 0 {
        return Err(RunError::Input(format!("{errors} bench episode(s) failed")));
    }
    let calls = calls_per_episode.iter().sum();
    Ok(Measured { wall, cpu, turns: turns_done, calls, episodes: calls_per_episode.len(), calls_per_episode })
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
        // 10,000 equal episodes on 512 slots: some slot runs 20 of them.
        assert!((makespan_lower_bound(&vec![1.8; 10_000], 512) - 36.0).abs() < 1e-9);
    }
}
