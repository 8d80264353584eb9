//! The live clinic on the router itself (no socket): the token on every state-changing request
//! and on the event stream, a run started from the page and watched to its end, a person in the
//! doctor's and the patient's seat, the comparison of two runs, clear 400s for malformed
//! requests, and the rule that no message carries the ground truth before the verdict.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use medsim_core::builtin::builtin;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::script::server::ServerHandle;
use medsim_llm::{LlmSettings, ModelFactory};
use medsim_server::live::{Live, LiveConfig};
use medsim_server::web::{WebConfig, app};
use serde_json::{Value, json};
use tower::ServiceExt;

const SCRIPT: &str = r#"
rules:
  - when: { role: doctor }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in?", "REQUEST TEST: Serum glucose", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: patient }
    reply: "I have been very thirsty."
  - when: { role: judge }
    reply: "No"
"#;
const TOKEN: &str = "0123456789abcdef";
const SECRET: &str = "sk-live-test-secret-7f3a";

async fn server(root: &std::path::Path) -> (axum::Router, ServerHandle) {
    let compiled = CompiledScript::parse(SCRIPT, "live-test").unwrap();
    let script = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let mut llm = LlmSettings::default();
    // The server's key: it goes to the model server, never to the page.
    let provider = ProviderSettings {
        base_url: Some(script.openai_base()),
        api_key_env: Some("MEDSIM_LIVE_TEST_KEY".into()),
        ..ProviderSettings::default()
    };
    llm.providers.insert("s".into(), provider);
    let factory = Arc::new(ModelFactory::with_environment(llm, |name| {
        (name == "MEDSIM_LIVE_TEST_KEY").then(|| SECRET.to_owned())
    }));
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
        let strategies =
            medsim_agents::strategy::Strategies::parse(&setup.strategy).map_err(|error| error.to_string())?;
        Assembler::new(
            setup.clone(),
            factory.clone(),
            Arc::new(Default::default()),
            medsim_server::live::role_models(&models, setup),
            StrategySetup { strategies, memory: None },
        )
        .map_err(|error| error.to_string())
    };
    let datasets = |spec: &str| match spec {
        "builtin" => Ok(builtin().clone()),
        other => Err(format!("no dataset {other:?} in this test")),
    };
    let mut config = WebConfig::viewer(root.to_owned());
    config.token = Some(TOKEN.into());
    config.live = Some(Live::new(LiveConfig {
        base,
        models: [("doctor".to_owned(), "s/m".to_owned())].into(),
        choices: vec!["s/m".into(), "s/other".into()],
        assembler: Arc::new(assembler),
        datasets: Arc::new(datasets),
        dataset_names: vec!["builtin".into()],
        max_concurrency: 64,
        max_sessions: 8,
    }));
    (app(Arc::new(config)), script)
}

async fn call(router: &axum::Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("x-medsim-token", token);
    }
    let response = router.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Starts a session from the page; returns its id.
async fn start(router: &axum::Router, body: &str) -> String {
    let (status, session) = call(router, "POST", "/api/live/start", Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    session["id"].as_str().unwrap().to_owned()
}

/// The person's move in session `id`.
async fn reply(router: &axum::Router, id: &str, body: &str) -> (StatusCode, Value) {
    call(router, "POST", &format!("/api/live/{id}/reply"), Some(TOKEN), body).await
}

/// The event stream's messages until one of kind `until` (or the time limit).
async fn messages(router: &axum::Router, id: &str, until: &str) -> Vec<Value> {
    let uri = format!("/api/live/{id}/events?token={TOKEN}");
    let response = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, stream.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    let batch: Vec<Value> = serde_json::from_str(data).unwrap();
                    for message in batch {
                        let done = message["kind"] == until;
                        found.push(message);
                        if done {
                            return found;
                        }
                    }
                }
            }
        }
    }
    panic!("no {until:?} message within 30 s; got {found:?}");
}

/// Waits until the session's seat awaits a move; returns the prompt.
async fn prompt(router: &axum::Router, id: &str) -> Value {
    for _ in 0..300 {
        let (_, status) = call(router, "GET", &format!("/api/live/{id}"), Some(TOKEN), "").await;
        if !status["prompt"].is_null() {
            return status["prompt"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the seat was never offered a move");
}

#[tokio::test]
async fn tokens_guard_every_state_changing_request_and_the_event_stream() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let start = r#"{"cases": ["endo-01"]}"#;
    let (status, body) = call(&router, "POST", "/api/live/start", None, start).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("missing token"), "{body}");
    let (status, _) = call(&router, "POST", "/api/live/start", Some("wrong-token-0000"), start).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&router, "POST", "/api/live/1-0/reply", None, r#"{"action": "images"}"#).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&router, "GET", "/api/live/1-0/events", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&router, "GET", "/api/live/1-0/events?token=nope", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // What the page needs before it has a token stays open, and reveals no keys.
    let (status, suggested) = call(&router, "GET", "/api/lexicon?q=gluc", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let suggested = suggested["tests"].as_array().unwrap();
    assert!(
        !suggested.is_empty() && suggested.iter().all(|name| name.as_str().unwrap().to_lowercase().contains("gluc"))
    );
    let (status, options) = call(&router, "GET", "/api/live/options", None, "").await;
    assert_eq!((status, options["available"].as_bool()), (StatusCode::OK, Some(true)));
    // Malformed requests: 400 with the reason.
    for (body, expected) in [
        ("{not json", "the request body"),
        (r#"{"cases": ["endo-01"], "colour": "red"}"#, "unknown field `colour`"),
        (r#"{"cases": ["no-such-case"]}"#, "case \"no-such-case\": not in"),
        (r#"{"cases": ["endo-01"], "protocol": "telepathy"}"#, "protocol \"telepathy\""),
        (r#"{"cases": ["endo-01"], "strategy": "memroy"}"#, "unknown strategy"),
        (r#"{"cases": ["endo-01", "cardio-01"], "seat": "doctor"}"#, "one case"),
        (r#"{"cases": ["endo-01"], "concurrency": 100000}"#, "concurrency 100000"),
        (r#"{"cases": ["endo-01"], "budget": 20}"#, "below the price of one visit"),
        (r#"{"cases": ["endo-01"], "doctor_model": "openai/gpt-5"}"#, "this server offers s/m, s/other"),
    ] {
        let (status, answer) = call(&router, "POST", "/api/live/start", Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(expected), "{body}: {answer}");
    }
    let big = format!(r#"{{"cases": ["{}"]}}"#, "x".repeat(100 * 1024));
    let (status, _) = call(&router, "POST", "/api/live/start", Some(TOKEN), &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "request size is limited");
    script.shutdown().await;
}

#[tokio::test]
async fn a_run_started_from_the_page_streams_every_episode_to_its_verdict_and_is_recorded() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let id = start(
        &router,
        r#"{"cases": ["endo-01", "cardio-01", "derm-01", "gi-01"], "concurrency": 4, "protocol": "agentclinic", "doctor_model": "s/other"}"#,
    )
    .await;
    let seen = messages(&router, &id, "finished").await;
    let (_, status) = call(&router, "GET", &format!("/api/live/{id}"), Some(TOKEN), "").await;
    assert_eq!(status["state"], "done");
    assert!(status["elapsed_ms"].as_f64().is_some_and(|elapsed| elapsed > 0.0), "the run's wall time: {status}");
    let finished: Vec<&Value> = seen.iter().filter(|message| message["kind"] == "episode_finished").collect();
    assert_eq!(finished.len(), 4);
    let verdicts = seen.iter().filter(|message| message["event"]["type"] == "verdict").count();
    assert_eq!(verdicts, 4, "every episode's verdict streamed");
    // Numbered without gaps, so a page that reconnects asks for exactly what it missed.
    for (index, message) in seen.iter().enumerate() {
        assert_eq!(message["seq"].as_u64(), Some(index as u64));
    }
    let late = {
        let uri = format!("/api/live/{id}/events?token={TOKEN}&from=5");
        let response = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let mut stream = response.into_body().into_data_stream();
        String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).into_owned()
    };
    let first: Vec<Value> =
        serde_json::from_str(late.lines().find_map(|line| line.strip_prefix("data: ")).unwrap()).unwrap();
    assert_eq!(first[0]["seq"], 5, "{late}");
    let last = first.last().unwrap()["seq"].as_u64().unwrap();
    assert!(late.starts_with(&format!("id: {last}\n")), "the event's id is its last message's number: {late}");
    // No ground truth before each episode's verdict, and never the server's key.
    no_truth_before_verdict(&seen);
    assert!(seen.iter().all(|message| !message.to_string().contains(SECRET)));
    let (_, options) = call(&router, "GET", "/api/live/options", None, "").await;
    assert!(!options.to_string().contains(SECRET), "{options}");
    assert!(script.requests().iter().all(|request| request.authorized), "the key did reach the model server");
    // Recorded like any other run, under --runs/live.
    let directory = root.path().join(seen[0]["directory"].as_str().unwrap());
    let log = std::fs::read_to_string(directory.join("episodes.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4);
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(directory.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["roles"]["doctor"]["model"], "s/other", "the page's choice of doctor model");
    assert_eq!(manifest["roles"]["patient"]["model"], "s/m");
    let (_, listed) = call(&router, "GET", "/api/runs", None, "").await;
    assert!(listed["runs"].as_array().unwrap().iter().any(|run| run["run"].as_str().unwrap().starts_with("live/")));
    script.shutdown().await;
}

/// Every case's diagnosis is absent from its messages until its verdict, but for what the
/// doctor said.
fn no_truth_before_verdict(seen: &[Value]) {
    let dataset = builtin();
    for case in &dataset.cases {
        let truth = case.diagnosis.to_lowercase();
        for message in seen {
            if message["case"] != case.id.as_str() {
                continue;
            }
            if message["event"]["type"] == "verdict" || message["kind"] == "episode_finished" {
                break;
            }
            // The doctor's own words may name it (the scripted doctor is right); nothing else may.
            let kind = message["event"]["type"].as_str().unwrap_or_default();
            if kind == "diagnosis" || kind == "doctor_action" || message["event"]["role"] == "doctor" {
                continue;
            }
            assert!(!message.to_string().to_lowercase().contains(&truth), "{truth} before the verdict: {message}");
        }
    }
}

#[tokio::test]
async fn a_person_plays_the_doctor_and_the_episode_is_judged_and_recorded() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let id = start(&router, r#"{"cases": ["endo-01"], "seat": "doctor", "max_turns": 4}"#).await;
    let reply = |body: &'static str| reply(&router, &id, body);
    let first = prompt(&router, &id).await;
    assert_eq!((first["role"].as_str(), first["turn"].as_u64()), (Some("doctor"), Some(1)));
    assert!(!first.to_string().to_lowercase().contains("ketoacidosis"), "{first}");
    // A bad move is refused and the seat still waits.
    let (status, answer) = reply(r#"{"action": "order", "tests": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().contains("expected 1 to 6"), "{answer}");
    let (status, _) = reply(r#"{"action": "answer", "text": "hello"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reply(r#"{"action": "ask", "question": "What brings you in?"}"#).await.0, StatusCode::OK);
    let second = prompt(&router, &id).await;
    assert!(second["response"].as_str().unwrap().contains("very thirsty"), "{second}");
    assert_eq!(reply(r#"{"action": "order", "tests": ["Serum glucose"]}"#).await.0, StatusCode::OK);
    let third = prompt(&router, &id).await;
    assert!(third["response"].as_str().unwrap().to_lowercase().contains("glucose"), "{third}");
    assert!(!third.to_string().to_lowercase().contains("ketoacidosis"), "{third}");
    let (status, _) =
        reply(r#"{"action": "diagnose", "primary": "Diabetic ketoacidosis", "differential": ["Hyperosmolar state"]}"#)
            .await;
    assert_eq!(status, StatusCode::OK);
    let seen = messages(&router, &id, "finished").await;
    let verdict = seen.iter().find(|message| message["event"]["type"] == "verdict").expect("a verdict");
    assert_eq!(verdict["event"]["verdict"]["correct"], true, "{verdict}");
    // Nothing is awaited any more.
    assert_eq!(reply(r#"{"action": "images"}"#).await.0, StatusCode::CONFLICT);
    // Recorded with the person in the doctor's seat.
    let directory = root.path().join(seen[0]["directory"].as_str().unwrap());
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(directory.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["roles"]["doctor"]["model"], "person (browser)", "{manifest}");
    let record: Value = serde_json::from_str(
        std::fs::read_to_string(directory.join("episodes.jsonl")).unwrap().lines().next().unwrap(),
    )
    .unwrap();
    assert_eq!(record["outcome"], "correct");
    let diagnosis =
        record["episode"]["events"].as_array().unwrap().iter().find(|event| event["type"] == "diagnosis").unwrap();
    assert_eq!(diagnosis["diagnosis"]["differential"][0]["diagnosis"], "Hyperosmolar state");
    script.shutdown().await;
}

#[tokio::test]
async fn a_person_plays_the_patient_from_the_case_facts_without_the_diagnosis() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let id = start(&router, r#"{"cases": ["endo-01"], "seat": "patient"}"#).await;
    let question = prompt(&router, &id).await;
    assert_eq!(
        (question["role"].as_str(), question["question"].as_str()),
        (Some("patient"), Some("What brings you in?"))
    );
    let (status, _) = reply(&router, &id, r#"{"action": "answer", "text": "I am thirsty all the time."}"#).await;
    assert_eq!(status, StatusCode::OK);
    let seen = messages(&router, &id, "finished").await;
    let facts = seen.iter().find(|message| message["kind"] == "patient_facts").unwrap();
    assert!(facts["facts"].as_str().unwrap().len() > 50);
    no_truth_before_verdict(&seen);
    let said: Vec<&Value> = seen
        .iter()
        .filter(|message| message["event"]["type"] == "utterance" && message["event"]["role"] == "patient")
        .collect();
    assert_eq!(said[0]["event"]["text"], "I am thirsty all the time.");
    script.shutdown().await;
}

#[tokio::test]
async fn two_runs_are_compared_case_by_case_with_mcnemar() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let mut paths = Vec::new();
    for turns in [6, 1] {
        let body = json!({"cases": ["endo-01", "cardio-01", "derm-01"], "max_turns": turns}).to_string();
        let id = start(&router, &body).await;
        let seen = messages(&router, &id, "finished").await;
        paths.push(seen[0]["directory"].as_str().unwrap().to_owned());
    }
    let (status, compared) =
        call(&router, "GET", &format!("/api/compare?a={}&b={}", paths[0], paths[1]), None, "").await;
    assert_eq!(status, StatusCode::OK, "{compared}");
    // Six turns reach "Diabetic ketoacidosis" on endo-01; one turn diagnoses nothing right.
    assert_eq!(compared["paired"], 3);
    assert_eq!(
        (compared["only_a"].as_u64(), compared["only_b"].as_u64(), compared["both_correct"].as_u64()),
        (Some(1), Some(0), Some(0))
    );
    assert_eq!(compared["mcnemar_p"], 1.0);
    let (status, error) = call(&router, "GET", "/api/compare?a=../x&b=y", None, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    script.shutdown().await;
}

#[tokio::test]
async fn the_doctor_in_the_browser_sees_the_images_asked_for_and_no_file_name() {
    let root = tempfile::tempdir().unwrap();
    let (router, script) = server(root.path()).await;
    let id = start(&router, r#"{"cases": ["cardio-01"], "seat": "doctor"}"#).await;
    let first = prompt(&router, &id).await;
    assert_eq!(first["images"].as_array().map(Vec::len), Some(0));
    assert_eq!(first["images_available"], true);
    let (status, _) = reply(&router, &id, r#"{"action": "images"}"#).await;
    assert_eq!(status, StatusCode::OK);
    let second = prompt(&router, &id).await;
    let images = second["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{second}");
    assert!(images[0].as_str().unwrap().starts_with("data:image/png;base64,"));
    // The image's file name names the diagnosis (ecg-stemi-inferior.png): it never reaches the page.
    assert!(!second.to_string().contains("stemi"), "{}", &second.to_string()[..300]);
    let (status, _) = reply(&router, &id, r#"{"action": "diagnose", "primary": "Inferior STEMI"}"#).await;
    assert_eq!(status, StatusCode::OK);
    let seen = messages(&router, &id, "finished").await;
    for message in seen.iter().take_while(|message| message["event"]["type"] != "verdict") {
        assert!(!message.to_string().to_lowercase().contains("stemi-inferior"), "{message}");
    }
    script.shutdown().await;
}
