//! Whole runs through the engine's library API, without the command line: a run stopped mid-way
//! (its task dropped, its last line torn) resumes to every planned episode exactly once, the
//! observer sees what is on disk and what runs, and a finished directory is not started again.

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medsim_core::builtin::builtin;
use medsim_core::transcript::{Event, RoleName};
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::manifest::{RunKind, RunManifest};
use medsim_engine::run::{Observer, RunPlan, RunStart, execute};
use medsim_engine::runlog::{EpisodeRecord, RunDir};
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::pricing::PriceTable;

use crate::episodes::{factory, serve};

const SCRIPT: &str = r#"
latency: { mean_ms: 40 }
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies:
      - "What brings you in today?"
      - "DIAGNOSIS READY: Acute myocardial infarction"
  - when: { role: patient }
    reply: "It started two days ago."
  - when: { role: judge }
    reply: "No"
"#;

/// Counts what an observer is told.
#[derive(Default)]
struct Watcher {
    existing: AtomicUsize,
    to_run: AtomicUsize,
    started: AtomicUsize,
    events: AtomicUsize,
    finished: AtomicUsize,
    notes: Mutex<Vec<String>>,
}

impl Observer for Watcher {
    fn run_started(&self, start: &RunStart<'_>) {
        self.existing.store(start.existing.episodes, Ordering::SeqCst);
        self.to_run.store(start.to_run, Ordering::SeqCst);
    }
    fn note(&self, message: &str) {
        self.notes.lock().unwrap().push(message.to_owned());
    }
    fn episode_started(&self, _case: &str, _repeat: u32) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn episode_event(&self, _case: &str, _repeat: u32, _event: &Event) {
        self.events.fetch_add(1, Ordering::SeqCst);
    }
    fn episode_finished(&self, _record: &EpisodeRecord) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map(|text| text.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_mid_way_resumes_to_every_episode_exactly_once() {
    let server = serve(SCRIPT).await;
    let factory = Arc::new(factory(&server.openai_base()));
    let model = || Some("scripted/model".to_owned());
    let setup = Setup {
        roles: RoleModels {
            doctor_model: model(),
            patient_model: model(),
            measurement_model: None,
            judge_model: model(),
        },
        max_turns: 4,
        ..Setup::default()
    };
    let models: BTreeMap<RoleName, String> = [RoleName::Doctor, RoleName::Patient, RoleName::Judge]
        .into_iter()
        .map(|role| (role, "scripted/model".to_owned()))
        .collect();
    let assembler = Arc::new(
        Assembler::new(setup.clone(), factory, Arc::new(PriceTable::default()), models, StrategySetup::default())
            .unwrap(),
    );
    let dataset = Arc::new(builtin().clone());
    let root = tempfile::tempdir().unwrap();
    let directory = root.path().join("run");
    let plan = |resume: bool| RunPlan {
        directory: directory.clone(),
        dataset_spec: "builtin".into(),
        cases: dataset.cases.clone(),
        repeats: 2,
        seed: 7,
        concurrency: 4,
        resume,
        retry_errors: false,
        kind: RunKind::Run,
        arm: None,
        memory_size: None,
        strategies: None,
        split: None,
        memory: None,
        learner: None,
    };
    let planned = dataset.cases.len() * 2;
    let log = RunDir::new(&directory).episodes();

    // The first attempt is stopped once a few episodes are on disk, as a killed process would be.
    let first = tokio::spawn({
        let (plan, dataset, assembler) = (plan(false), dataset.clone(), assembler.clone());
        async move { execute(&plan, &dataset, &assembler, Arc::new(Watcher::default())).await.map(|_| ()) }
    });
    let mut waited = Duration::ZERO;
    while lines(&log) < 6 {
        assert!(waited < Duration::from_secs(60), "the run wrote nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    first.abort();
    let _ = first.await;
    let before = lines(&log);
    assert!(before < planned, "stopped before the end ({before} of {planned})");
    // A record torn by the stop.
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"{\"case_id\": \"cardio-0").unwrap();

    let watcher = Arc::new(Watcher::default());
    let outcome = execute(&plan(true), &dataset, &assembler, watcher.clone()).await.unwrap();
    assert!(outcome.complete(), "errors {} missing {}", outcome.summary.errors, outcome.missing());
    assert_eq!(outcome.summary.episodes, planned);
    assert_eq!(outcome.summary.accuracy.judged, planned);
    let records = RunDir::new(&directory).read_episodes().unwrap();
    let keys: HashSet<(String, u32)> = records.iter().map(EpisodeRecord::key).collect();
    assert_eq!((records.len(), keys.len()), (planned, planned), "every episode once");

    // The observer was told what was on disk and saw every episode that ran, event by event.
    let existing = watcher.existing.load(Ordering::SeqCst);
    assert_eq!(existing, before, "the torn line is not an episode");
    assert_eq!(watcher.to_run.load(Ordering::SeqCst), planned - existing);
    assert_eq!(watcher.started.load(Ordering::SeqCst), planned - existing);
    assert_eq!(watcher.finished.load(Ordering::SeqCst), planned - existing);
    assert!(watcher.events.load(Ordering::SeqCst) >= 4 * (planned - existing), "events stream while episodes run");
    assert!(watcher.notes.lock().unwrap().iter().any(|note| note.contains("torn")), "the repair is reported");

    // run.json is typed, complete and names how verdicts were reached; the summary is written.
    let manifest = RunManifest::read(&RunDir::new(&directory).run_json()).unwrap();
    assert_eq!((manifest.cases.len(), manifest.repeats, manifest.seed), (dataset.cases.len(), 2, 7));
    assert_eq!(manifest.setup, setup);
    assert_eq!(manifest.verdicts.unwrap().values().sum::<usize>(), planned);
    let run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(RunDir::new(&directory).run_json()).unwrap()).unwrap();
    crate::schemas::validate(crate::schemas::RUN_SCHEMA, &run_json).unwrap();
    // A damaged field is named by its path, not read as zero cases or seed 0.
    let damaged = root.path().join("damaged.json");
    let mut broken = run_json.clone();
    broken["setup"]["max_turns"] = serde_json::json!("many");
    std::fs::write(&damaged, broken.to_string()).unwrap();
    let error = RunManifest::read(&damaged).unwrap_err().to_string();
    assert!(error.contains("damaged.json: setup.max_turns: invalid type"), "{error}");
    assert!(directory.join("summary.json").exists() && directory.join("summary.md").exists());

    // Starting the same directory afresh is refused as bad input; resuming a finished run runs nothing.
    let error = execute(&plan(false), &dataset, &assembler, Arc::new(Watcher::default())).await.err().unwrap();
    assert!(error.is_input(), "{error}");
    let watcher = Arc::new(Watcher::default());
    let again = execute(&plan(true), &dataset, &assembler, watcher.clone()).await.unwrap();
    assert_eq!((again.summary.episodes, watcher.started.load(Ordering::SeqCst)), (planned, 0));
    server.shutdown().await;
}
