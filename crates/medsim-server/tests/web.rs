//! The run viewer's API on the router itself (no socket): listing, summaries, filters, a
//! transcript, and clear errors for paths outside `--runs`, missing runs and damaged ones.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use medsim_core::builtin::builtin;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::manifest::RunKind;
use medsim_engine::run::{RunPlan, Unobserved, execute};
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::{LlmSettings, ModelFactory};
use medsim_server::web::{WebConfig, app};
use serde_json::Value;
use tower::ServiceExt;

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in?", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: patient }
    reply: "I am very thirsty."
  - when: { role: judge }
    reply: "No"
"#;

async fn make_run(directory: &std::path::Path) {
    let compiled = CompiledScript::parse(SCRIPT, "web-test").unwrap();
    let script = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let mut llm = LlmSettings::default();
    llm.providers
        .insert("s".into(), ProviderSettings { base_url: Some(script.openai_base()), ..ProviderSettings::default() });
    let model = || Some("s/m".to_owned());
    let setup = Setup {
        roles: RoleModels {
            doctor_model: model(),
            patient_model: model(),
            measurement_model: None,
            judge_model: model(),
        },
        ..Setup::default()
    };
    let models: BTreeMap<RoleName, String> = [RoleName::Doctor, RoleName::Patient, RoleName::Judge]
        .into_iter()
        .map(|role| (role, "s/m".to_owned()))
        .collect();
    let factory = Arc::new(ModelFactory::with_environment(llm, |_| None));
    let assembler =
        Assembler::new(setup, factory, Arc::new(Default::default()), models, StrategySetup::default()).unwrap();
    let dataset = builtin();
    let cases = ["endo-01", "cardio-01", "derm-01"].iter().map(|id| dataset.case(id).unwrap().clone()).collect();
    let plan = RunPlan {
        directory: directory.to_owned(),
        dataset_spec: "builtin".into(),
        cases,
        repeats: 1,
        seed: 0,
        concurrency: 3,
        resume: false,
        retry_errors: false,
        kind: RunKind::Run,
        arm: None,
        memory_size: None,
        strategies: None,
        split: None,
        memory: None,
        learner: None,
    };
    execute(&plan, &dataset, &assembler, Arc::new(Unobserved)).await.unwrap();
    script.shutdown().await;
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, Value, String) {
    let response = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

#[tokio::test]
async fn the_viewer_lists_summarises_filters_and_shows_transcripts() {
    let root = tempfile::tempdir().unwrap();
    make_run(&root.path().join("study/first")).await;
    std::fs::create_dir_all(root.path().join("broken")).unwrap();
    std::fs::write(root.path().join("broken/run.json"), "{ not json").unwrap();
    let router = app(Arc::new(WebConfig::viewer(root.path().to_owned())));

    let (status, _, page) = get(&router, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("/app.js"), "{page}");
    let (_, _, script) = get(&router, "/app.js").await;
    assert!(script.contains("accuracyChart"));

    let (_, runs, _) = get(&router, "/api/runs").await;
    let listed = runs["runs"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{runs}");
    let broken = listed.iter().find(|run| run["run"] == "broken").unwrap();
    assert!(broken["error"].as_str().unwrap().contains("run.json"), "{broken}");
    let good = listed.iter().find(|run| run["run"] == "study/first").unwrap();
    assert_eq!((good["episodes"].as_u64(), good["planned"].as_u64()), (Some(3), Some(3)));

    let (status, run, _) = get(&router, "/api/run?run=study/first").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["summary"]["episodes"], 3);
    assert_eq!(run["summary"]["accuracy"]["correct"], 1, "endo-01 is diagnosed right: {}", run["summary"]);
    assert!(run["summary"]["by_tag"].as_object().unwrap().len() >= 2);

    // An arm of an ablation shows the ablation's table and its accuracy–cost chart.
    assert!(run["arm_of"].is_null(), "not an arm yet");
    std::fs::write(root.path().join("study/ablation.md"), "| arm | accuracy |\n").unwrap();
    std::fs::write(root.path().join("study/pareto.svg"), "<svg><circle/></svg>").unwrap();
    let (_, run, _) = get(&router, "/api/run?run=study/first").await;
    assert_eq!(run["arm_of"]["pareto"], "<svg><circle/></svg>");
    assert!(run["arm_of"]["ablation"].as_str().unwrap().contains("| arm |"));
    assert!(run["summary"]["care_cost_by_tag"].is_object(), "{}", run["summary"]);

    let (_, all, _) = get(&router, "/api/episodes?run=study/first").await;
    assert_eq!(all["episodes"].as_array().unwrap().len(), 3);
    let (_, correct, _) = get(&router, "/api/episodes?run=study/first&outcome=correct").await;
    let correct = correct["episodes"].as_array().unwrap();
    assert_eq!((correct.len(), correct[0]["case_id"].as_str()), (1, Some("endo-01")));
    let (_, by_case, _) = get(&router, "/api/episodes?run=study/first&case=CARD").await;
    assert_eq!(by_case["episodes"][0]["case_id"], "cardio-01");

    let (status, episode, _) = get(&router, "/api/episode?run=study/first&case=endo-01&repeat=0").await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> =
        episode["episode"]["events"].as_array().unwrap().iter().filter_map(|event| event["type"].as_str()).collect();
    for kind in ["episode_started", "utterance", "diagnosis", "verdict", "episode_ended"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    // The self-contained report: page, script, style and data in one file, the data unable to
    // end its script element early.
    let page = medsim_server::web::report(&root.path().join("study/first")).unwrap();
    assert!(page.contains("window.MEDSIM_DATA = {") && page.contains("<style>"), "{}", &page[..200]);
    assert_eq!((page.matches("<script").count(), page.matches("</script>").count()), (2, 2));
    assert!(!page.contains("src=\"/app.js\""), "no request back to a server");
    assert!(medsim_server::web::report(&root.path().join("broken")).unwrap_err().contains("run.json"));

    // Nothing outside --runs; clear errors for what is not there or is damaged.
    for (uri, expected) in [
        ("/api/run?run=../etc", StatusCode::BAD_REQUEST),
        ("/api/run?run=study/../../x", StatusCode::BAD_REQUEST),
        ("/api/run?run=%2Fetc", StatusCode::BAD_REQUEST),
        ("/api/run", StatusCode::BAD_REQUEST),
        ("/api/run?run=missing", StatusCode::NOT_FOUND),
        ("/api/run?run=broken", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/episode?run=study/first&case=endo-01", StatusCode::BAD_REQUEST),
        ("/api/episode?run=study/first&case=nope&repeat=0", StatusCode::NOT_FOUND),
    ] {
        let (status, body, _) = get(&router, uri).await;
        assert_eq!(status, expected, "{uri}: {body}");
        assert!(body["error"].as_str().is_some_and(|message| message.len() > 10), "{uri}: {body}");
    }
}
