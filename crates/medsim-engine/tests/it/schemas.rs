//! The run log's schemas are committed, current, and real output validates against them.

const EPISODE_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/episode.schema.json");
pub const RUN_SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/run.schema.json");

#[test]
fn committed_episode_schema_is_current() {
    let current = medsim_engine::runlog::episode_schema_json();
    if std::env::var_os("MEDSIM_UPDATE_SCHEMAS").is_some() {
        std::fs::write(EPISODE_SCHEMA, &current).unwrap();
    }
    let committed = std::fs::read_to_string(EPISODE_SCHEMA).unwrap_or_default();
    assert!(
        committed == current,
        "schemas/episode.schema.json is stale: run `MEDSIM_UPDATE_SCHEMAS=1 cargo test -p medsim-engine schemas`"
    );
}

#[test]
fn committed_run_schema_is_current() {
    let current = medsim_engine::manifest::run_schema_json();
    if std::env::var_os("MEDSIM_UPDATE_SCHEMAS").is_some() {
        std::fs::write(RUN_SCHEMA, &current).unwrap();
    }
    let committed = std::fs::read_to_string(RUN_SCHEMA).unwrap_or_default();
    assert!(
        committed == current,
        "schemas/run.schema.json is stale: run `MEDSIM_UPDATE_SCHEMAS=1 cargo test -p medsim-engine schemas`"
    );
}

/// Validates `instance` against the schema file; the error lists every violation.
pub fn validate(schema_path: &str, instance: &serde_json::Value) -> Result<(), String> {
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).map_err(|error| format!("bad schema: {error}"))?;
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|error| format!("{error} at {}", error.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
}

#[test]
fn real_episode_records_validate() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let episode = runtime.block_on(crate::episodes::tools_episode());
    let record = medsim_engine::runlog::EpisodeRecord::new(episode, 0, vec!["cardiology".into()], None);
    let value = serde_json::to_value(&record).unwrap();
    validate(EPISODE_SCHEMA, &value).unwrap();
    let mut broken = value.clone();
    broken["outcome"] = serde_json::json!("maybe");
    assert!(validate(EPISODE_SCHEMA, &broken).is_err(), "the schema rejects a bad outcome");
}

#[test]
fn a_run_json_validates() {
    let run = serde_json::json!({
        "schema": "medsim.run/v1", "run_id": "r", "medsim_version": "0.1.0",
        "dataset": {"spec": "builtin", "name": "builtin", "origin": "builtin/cases.yaml", "sha256": "0".repeat(64), "format": "medsim"},
        "cases": ["cardio-01"], "repeats": 1, "seed": 0, "concurrency": 8,
        "setup": {"roles": {}, "measurement": "grounded", "protocol": "agentclinic", "strict_agentclinic": false, "images": "on-request", "max_turns": 20},
        "roles": {"doctor": {"model": "local/x", "temperature": 0.05, "max_tokens": 200}},
        "prompts": {"doctor.j2": "abc"}
    });
    validate(RUN_SCHEMA, &run).unwrap();
}
