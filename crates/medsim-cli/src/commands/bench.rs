//! `medsim bench`: how fast the runner goes against a model server of known latency (see
//! `medsim_engine::bench`).

use anyhow::Result;
use medsim_core::LoadOptions;
use medsim_engine::bench;
use serde_json::json;

use super::print_json;
use crate::Exit;
use crate::datasets::DatasetStore;

pub fn bench(
    store: &DatasetStore,
    dataset: &str,
    latency_ms: f64,
    concurrencies: &[usize],
    turns: u32,
    episodes: Option<usize>,
    json: bool,
) -> Result<Exit> {
    let dataset = store.load(dataset, LoadOptions::default())?;
    let episodes = episodes.unwrap_or(dataset.cases.len());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = Vec::new();
    runtime.block_on(async {
        // Orchestration overhead: no latency, one episode at a time.
        let overhead = bench::measure(&dataset.cases, dataset.cases.len(), 0.0, turns, 1).await?;
        let per_turn_ms = overhead.cpu / overhead.turns as f64 * 1000.0;
        eprintln!(
            "overhead: {} episodes, {} doctor turns, {} model calls in {:.2}s wall, {:.2}s CPU = {per_turn_ms:.3} ms CPU per doctor turn (scripted server included)",
            overhead.episodes, overhead.turns, overhead.calls, overhead.wall, overhead.cpu
        );
        rows.push(json!({"kind": "overhead", "episodes": overhead.episodes, "turns": overhead.turns, "calls": overhead.calls, "wall_s": overhead.wall, "cpu_s": overhead.cpu, "cpu_ms_per_turn": per_turn_ms}));
        for &concurrency in concurrencies {
            let measured = bench::measure(&dataset.cases, episodes, latency_ms, turns, concurrency).await?;
            let bound = measured.calls as f64 * latency_ms / 1000.0 / concurrency as f64;
            // No schedule beats this: with more episodes than slots some slot runs two.
            let paths: Vec<f64> =
                measured.calls_per_episode.iter().map(|calls| *calls as f64 * latency_ms / 1000.0).collect();
            let makespan = bench::makespan_lower_bound(&paths, concurrency);
            let peak = bench::peak_rss_mb();
            eprintln!(
                "concurrency {concurrency:>3}: {} episodes, {} calls in {:.2}s; latency bound {bound:.2}s (ratio {:.3}); makespan bound {makespan:.2}s (ratio {:.3}); {:.3} ms CPU per doctor turn; peak RSS so far {peak:.0} MB",
                measured.episodes,
                measured.calls,
                measured.wall,
                measured.wall / bound,
                measured.wall / makespan,
                measured.cpu / measured.turns.max(1) as f64 * 1000.0
            );
            rows.push(json!({"kind": "latency", "concurrency": concurrency, "latency_ms": latency_ms, "episodes": measured.episodes, "calls": measured.calls, "wall_s": measured.wall, "bound_s": bound, "ratio": measured.wall / bound, "makespan_bound_s": makespan, "makespan_ratio": measured.wall / makespan, "cpu_s": measured.cpu, "cpu_ms_per_turn": measured.cpu / measured.turns.max(1) as f64 * 1000.0, "peak_rss_mb": peak}));
        }
        anyhow::Ok(())
    })?;
    if json {
        print_json(&rows)?;
    }
    Ok(Exit::Ok)
}
