//! `medsim judge --pairs FILE`: how often the judge agrees with people, on labelled pairs (see
//! `medsim_agents::judge_eval`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use medsim_agents::ModelSeat;
use medsim_agents::judge_eval::{judge_pairs, parse_pairs, render, reports};
use medsim_core::transcript::RoleName;
use serde_json::json;

use super::Places;
use crate::cli::CacheArgs;
use crate::settings::Settings;
use crate::{BadInput, Exit};

#[allow(clippy::too_many_arguments)]
pub fn run(
    file: &Path,
    judge_model: Option<String>,
    json: bool,
    concurrency: usize,
    settings: &Settings,
    places: &Places,
    cache: &CacheArgs,
) -> Result<Exit> {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|error| BadInput(format!("{origin}: cannot read: {error}")))?;
    let pairs = parse_pairs(&text, &origin).map_err(BadInput)?;
    let spec = match judge_model.as_deref() {
        Some("none") => None,
        Some(spec) => Some(spec.to_owned()),
        None => settings.role_model_or_default(RoleName::Judge, &Default::default()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let factory = settings.factory(cache, &places.cache_dir, &places.data_dir)?;
    let seat = match &spec {
        None => None,
        Some(spec) => {
            runtime.block_on(crate::local::ensure_installed(spec, &places.data_dir, places.offline))?;
            crate::local::preload(&factory, spec)?;
            let model = factory.model(spec).map_err(|error| BadInput(error.to_string()))?;
            Some(ModelSeat {
                model,
                role: RoleName::Judge,
                temperature: 0.0,
                max_tokens: 24,
                prices: Arc::new(settings.llm.price_table()),
                seed: Some(0),
                sample_index: 0,
            })
        }
    };
    if let Some(spec) = &spec
        && spec.starts_with("local/")
    {
        eprintln!("note: a small local model ({spec}) is judging; its verdicts are measured here, see BENCHMARKS.md");
    }
    let model_name = spec.clone().unwrap_or_else(|| "none".into());
    let judged = runtime.block_on(judge_pairs(pairs, seat, &model_name, concurrency));
    let reports = reports(&judged);
    if json {
        for pair in &judged {
            println!("{}", serde_json::to_string(pair)?);
        }
        println!("{}", json!({"summary": reports, "judge": model_name}));
    } else {
        print!("{}", render(&reports, &judged, &model_name));
    }
    Ok(Exit::Ok)
}
