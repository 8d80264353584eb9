//! The environment server over real sockets: WebSocket and HTTP clients on loopback, the
//! patient and judge served by the scripted server. Each reward-hacking defence has a test, and
//! no observation, metadata or error carries the diagnosis before the episode is done.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use medsim_core::builtin::builtin;
use medsim_core::transcript::RoleName;
use medsim_engine::assemble::{Assembler, StrategySetup};
use medsim_engine::env::EnvOptions;
use medsim_engine::setup::{RoleModels, Setup};
use medsim_llm::config::ProviderSettings;
use medsim_llm::script::CompiledScript;
use medsim_llm::script::server::ServerHandle;
use medsim_llm::{LlmSettings, ModelFactory};
use medsim_server::env::{EnvConfig, EnvServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SCRIPT: &str = r#"
rules:
  - when: { role: patient, last: "(?i)family" }
    reply: "My cousin's doctor said it sounded like diabetic ketoacidosis."
  - when: { role: patient }
    reply: "I have been very thirsty and passing a lot of urine for a week, and now I am vomiting."
  - when: { role: judge }
    reply: "No"
"#;

/// The case every targeted test plays, and the one the server withholds.
const CASE: &str = "endo-01";
const WITHHELD: &str = "emerg-01";
const SECRET: &str = "ketoacidosis";

struct Running {
    base: String,
    _script: ServerHandle,
}

async fn start(options: EnvOptions, max_turns: u32, token: Option<&str>, max_sessions: usize) -> Running {
    let compiled = CompiledScript::parse(SCRIPT, "env-test").unwrap();
    let script = medsim_llm::script::server::start(compiled, "127.0.0.1:0".parse().unwrap(), None).await.unwrap();
    let mut llm = LlmSettings::default();
    llm.providers.insert(
        "scripted".into(),
        ProviderSettings { base_url: Some(script.openai_base()), ..ProviderSettings::default() },
    );
    let factory = Arc::new(ModelFactory::with_environment(llm, |_| None));
    let model = || Some("scripted/model".to_owned());
    let setup = Setup {
        roles: RoleModels { doctor_model: None, patient_model: model(), measurement_model: None, judge_model: model() },
        max_turns,
        ..Setup::default()
    };
    let models: BTreeMap<RoleName, String> =
        [RoleName::Patient, RoleName::Judge].into_iter().map(|role| (role, "scripted/model".to_owned())).collect();
    let prices = Arc::new(medsim_llm::pricing::PriceTable::default());
    let assembler = Assembler::new(setup, factory, prices, models, StrategySetup::default()).unwrap();
    let dataset = builtin();
    let server = EnvServer::new(EnvConfig {
        cases: dataset.cases.iter().filter(|case| case.id != WITHHELD).cloned().collect(),
        withheld: [WITHHELD.to_owned()].into_iter().collect(),
        split: "train".into(),
        base_dir: None,
        assembler: Arc::new(assembler),
        options,
        max_sessions,
        idle: Duration::from_secs(60),
        max_message_bytes: 64 * 1024,
        token: token.map(str::to_owned),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(medsim_server::env::serve(server, listener));
    Running { base, _script: script }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(running: &Running) -> Socket {
    tokio_tungstenite::connect_async(format!("ws://{}/ws", running.base)).await.unwrap().0
}

/// Sends one request and reads its one reply; checks no frame leaks the diagnosis before done.
async fn call(socket: &mut Socket, request: Value) -> Value {
    socket.send(Message::Text(request.to_string().into())).await.unwrap();
    let reply = loop {
        match socket.next().await.unwrap().unwrap() {
            Message::Text(text) => break text.to_string(),
            Message::Binary(bytes) => break String::from_utf8(bytes.to_vec()).unwrap(),
            _ => continue,
        }
    };
    let value: Value = serde_json::from_str(&reply).unwrap();
    if value["data"]["done"] != json!(true) {
        assert!(!reply.to_lowercase().contains(SECRET), "the diagnosis reached the client before done: {reply}");
    }
    value
}

fn step(tool: &str, arguments: Value) -> Value {
    json!({"type": "step", "data": {"tool": tool, "arguments": arguments}})
}

fn reset(case: &str) -> Value {
    json!({"type": "reset", "data": {"seed": 7, "episode_id": "e-1", "case_id": case}})
}

#[tokio::test]
async fn a_whole_episode_over_websocket_rewards_the_verdict_minus_costs() {
    let options = EnvOptions { turn_cost: 0.1, test_cost: 0.05, price_weight: 0.0001, ..EnvOptions::default() };
    let running = start(options, 6, None, 4).await;
    let mut socket = connect(&running).await;
    let first = call(&mut socket, reset(CASE)).await;
    assert_eq!(first["type"], "observation", "{first}");
    let observation = &first["data"]["observation"];
    assert!(observation["presentation"].as_str().unwrap().len() > 20, "{first}");
    assert_eq!((observation["turn"].clone(), first["data"]["done"].clone()), (json!(1), json!(false)));
    let asked = call(&mut socket, step("ask", json!({"question": "What brings you in?"}))).await;
    assert!(asked["data"]["observation"]["text"].as_str().unwrap().contains("thirsty"), "{asked}");
    assert_eq!(asked["data"]["observation"]["turns_left"], 5);
    let tested =
        call(&mut socket, json!({"type": "step", "data": {"tool": "order_tests", "tests": ["Serum glucose"]}})).await;
    assert!(tested["data"]["observation"]["text"].as_str().unwrap().contains("mg/dL"), "{tested}");
    let diagnosed = call(&mut socket, step("diagnose", json!({"primary": "Diabetic ketoacidosis"}))).await;
    let data = &diagnosed["data"];
    assert_eq!(data["done"], true, "{diagnosed}");
    // 1 for the verdict, minus 3 turns × 0.1, 1 test × 0.05, and the care cost by the price
    // table ($130 visit + $4 glucose) × 0.0001.
    assert!((data["reward"].as_f64().unwrap() - (0.65 - 0.0134)).abs() < 1e-9, "{diagnosed}");
    let metadata = &data["observation"]["metadata"];
    assert_eq!(metadata["breakdown"]["verdict"], 1.0);
    assert!((metadata["breakdown"]["care_cost"].as_f64().unwrap() + 0.0134).abs() < 1e-9, "{metadata}");
    assert_eq!(metadata["verdict"]["correct"], true);
    let state = call(&mut socket, json!({"type": "state"})).await;
    assert_eq!(
        (state["type"].clone(), state["data"]["step_count"].clone(), state["data"]["done"].clone()),
        (json!("state"), json!(3), json!(true))
    );
    // Acting after done is an error; the connection can start another episode.
    let late = call(&mut socket, step("ask", json!({"question": "Anything else?"}))).await;
    assert_eq!((late["type"].clone(), late["data"]["code"].clone()), (json!("error"), json!("episode_done")));
    let again = call(&mut socket, reset(CASE)).await;
    assert_eq!(again["data"]["done"], false);
}

#[tokio::test]
async fn hedged_answers_score_nothing_and_overlong_ones_are_cut() {
    let running = start(EnvOptions::default(), 6, None, 4).await;
    let mut socket = connect(&running).await;
    call(&mut socket, reset(CASE)).await;
    let hedged = call(
        &mut socket,
        step("diagnose", json!({"primary": "Diabetic ketoacidosis or hyperosmolar hyperglycemic state"})),
    )
    .await;
    assert_eq!(
        (hedged["data"]["done"].clone(), hedged["data"]["reward"].clone()),
        (json!(true), json!(0.0)),
        "{hedged}"
    );
    assert!(
        hedged["data"]["observation"]["metadata"]["flags"].as_array().unwrap().contains(&json!("hedged_diagnosis"))
    );
    call(&mut socket, reset(CASE)).await;
    let listed =
        call(&mut socket, step("diagnose", json!({"primary": "Diabetic ketoacidosis, sepsis, pancreatitis"}))).await;
    assert_eq!(listed["data"]["reward"], 0.0, "a list in the primary scores 0: {listed}");
    call(&mut socket, reset(CASE)).await;
    let long = format!("Diabetic ketoacidosis {}", "with severe dehydration ".repeat(20));
    let cut = call(&mut socket, step("diagnose", json!({"primary": long}))).await;
    let flags = cut["data"]["observation"]["metadata"]["flags"].as_array().unwrap().clone();
    assert!(flags.contains(&json!("diagnosis_cut")), "{cut}");
    let judged = cut["data"]["observation"]["metadata"]["verdict"]["diagnosis"].as_str().unwrap().chars().count();
    assert!(judged <= 200, "the judge saw the cut answer ({judged} characters)");
    // The differential is not scored: only the primary is judged.
    call(&mut socket, reset(CASE)).await;
    let differential = json!({"primary": "Gastroenteritis", "differential": [{"diagnosis": "Diabetic ketoacidosis", "probability": 0.9}]});
    let scored = call(&mut socket, step("diagnose", differential)).await;
    assert_eq!(scored["data"]["reward"], 0.0, "{scored}");
}

#[tokio::test]
async fn the_budget_ends_the_episode_with_reward_zero() {
    let running = start(EnvOptions::default(), 2, None, 4).await;
    let mut socket = connect(&running).await;
    call(&mut socket, reset(CASE)).await;
    let first = call(&mut socket, step("ask", json!({"question": "How long?"}))).await;
    assert_eq!(first["data"]["done"], false);
    let last = call(&mut socket, step("ask", json!({"question": "Anything else?"}))).await;
    assert_eq!((last["data"]["done"].clone(), last["data"]["reward"].clone()), (json!(true), json!(0.0)), "{last}");
    assert_eq!(last["data"]["observation"]["metadata"]["stop_reason"], "budget_exhausted");
}

#[tokio::test]
async fn a_patient_who_names_the_diagnosis_is_withheld_and_flagged() {
    let running = start(EnvOptions::default(), 6, None, 4).await;
    let mut socket = connect(&running).await;
    call(&mut socket, reset(CASE)).await;
    let leaked = call(&mut socket, step("ask", json!({"question": "Any family history?"}))).await;
    let observation = &leaked["data"]["observation"];
    assert!(observation["text"].as_str().unwrap().contains("[withheld]"), "{leaked}");
    assert!(observation["metadata"]["flags"].as_array().unwrap().contains(&json!("patient_leak")), "{leaked}");
}

#[tokio::test]
async fn bad_input_is_named_and_the_session_stays_usable() {
    let running = start(EnvOptions::default(), 6, None, 4).await;
    let mut socket = connect(&running).await;
    let early = call(&mut socket, step("ask", json!({"question": "Hello?"}))).await;
    assert_eq!(early["data"]["code"], "not_reset", "{early}");
    let outside = call(&mut socket, reset(WITHHELD)).await;
    assert_eq!(outside["data"]["code"], "case_not_in_split", "{outside}");
    let unknown = call(&mut socket, reset("no-such-case")).await;
    assert_eq!(unknown["data"]["code"], "unknown_case", "{unknown}");
    let split = call(&mut socket, json!({"type": "reset", "data": {"split": "test"}})).await;
    assert_eq!(split["data"]["code"], "case_not_in_split", "{split}");
    call(&mut socket, reset(CASE)).await;
    let missing = call(&mut socket, step("ask", json!({}))).await;
    assert_eq!(missing["data"]["code"], "invalid_action");
    assert!(missing["data"]["message"].as_str().unwrap().contains("action.arguments.question"), "{missing}");
    let tests = call(&mut socket, step("order_tests", json!({"tests": "CBC"}))).await;
    assert!(tests["data"]["message"].as_str().unwrap().contains("action.arguments.tests"), "{tests}");
    let tool = call(&mut socket, step("prescribe", json!({"drug": "insulin"}))).await;
    assert_eq!(tool["data"]["code"], "unknown_tool");
    assert!(tool["data"]["message"].as_str().unwrap().contains("ask, order_tests, request_images, diagnose"));
    socket.send(Message::Text("{not json".into())).await.unwrap();
    let Some(Ok(Message::Text(text))) = socket.next().await else { panic!("no reply") };
    assert!(text.contains("INVALID_JSON"), "{text}");
    let kind = call(&mut socket, json!({"type": "dance"})).await;
    assert_eq!(kind["data"]["code"], "UNKNOWN_TYPE");
    // None of that cost a turn: the episode goes on.
    let fine = call(&mut socket, step("ask", json!({"question": "What brings you in?"}))).await;
    assert_eq!(
        (fine["type"].clone(), fine["data"]["observation"]["turn"].clone()),
        (json!("observation"), json!(2)),
        "{fine}"
    );
}

#[tokio::test]
async fn http_sessions_mcp_tools_and_the_token() {
    let running = start(EnvOptions::default(), 6, Some("s3cret"), 4).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", running.base);
    let refused = client.get(url("/health")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let get = |path: &str| client.get(url(path)).bearer_auth("s3cret").send();
    let health: Value = get("/health").await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    let schema: Value = get("/schema").await.unwrap().json().await.unwrap();
    for key in ["action", "observation", "state"] {
        assert!(schema[key].is_object(), "{key}: {schema}");
    }
    let metadata: Value = get("/metadata").await.unwrap().json().await.unwrap();
    assert_eq!(metadata["name"], "medsim");
    let post = |path: &str, body: Value| client.post(url(path)).bearer_auth("s3cret").json(&body).send();
    let first: Value = post("/reset", json!({"case_id": CASE, "seed": 3})).await.unwrap().json().await.unwrap();
    let id = first["session_id"].as_str().unwrap().to_owned();
    let asked: Value = post(
        "/step",
        json!({"session_id": id, "action": {"tool": "ask", "arguments": {"question": "What happened?"}}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(asked["observation"]["text"].as_str().unwrap().contains("thirsty"), "{asked}");
    let state: Value = get(&format!("/state?session_id={id}")).await.unwrap().json().await.unwrap();
    assert_eq!(state["step_count"], 1);
    let lost = post("/step", json!({"session_id": "nope", "action": {"tool": "ask"}})).await.unwrap();
    assert_eq!(lost.status(), 404);
    let tools: Value = post("/mcp", json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().unwrap().iter().map(|tool| tool["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ask", "order_tests", "request_images", "diagnose"]);
    let called: Value = post(
        "/mcp",
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "diagnose", "arguments": {"primary": "Diabetic ketoacidosis"}, "session_id": id}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(called["result"]["structuredContent"]["reward"], 1.0, "{called}");
    let unknown: Value = post(
        "/mcp",
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "prescribe", "arguments": {}}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test]
async fn sessions_are_limited_and_a_dropped_client_frees_its_own() {
    let running = start(EnvOptions::default(), 6, None, 1).await;
    let mut first = connect(&running).await;
    assert_eq!(call(&mut first, reset(CASE)).await["type"], "observation");
    let mut second = connect(&running).await;
    let refused = call(&mut second, reset(CASE)).await;
    assert_eq!(refused["data"]["code"], "CAPACITY_REACHED", "{refused}");
    drop(first);
    let mut waited = 0;
    loop {
        let reply = call(&mut second, reset(CASE)).await;
        if reply["type"] == "observation" {
            break;
        }
        waited += 1;
        assert!(waited < 100, "the dropped client's session was never freed: {reply}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requested_images_arrive_as_data_urls_with_the_next_observation() {
    let running = start(EnvOptions::default(), 6, None, 4).await;
    let mut socket = connect(&running).await;
    let first = call(&mut socket, reset("cardio-01")).await;
    assert_eq!(first["data"]["observation"]["images_available"], true);
    assert!(first["data"]["observation"]["images"].as_array().unwrap().is_empty(), "no image before it is asked for");
    let shown = call(&mut socket, step("request_images", json!({}))).await;
    let images = shown["data"]["observation"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{shown}");
    assert!(
        images[0].as_str().unwrap().starts_with("data:image/png;base64,"),
        "{}",
        &images[0].as_str().unwrap()[..40]
    );
}
