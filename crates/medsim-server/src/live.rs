//! The live clinic: runs and consultations started from the page, watched as they happen, and
//! the seat a person takes in the browser.
//!
//! - `GET /api/live/options`: whether live runs are available, the server's models per role,
//!   the datasets, protocols and strategies the page may choose from.
//! - `GET /api/live/cases?dataset=NAME`: the cases to choose from (id, objective, tags; never
//!   the diagnosis).
//! - `GET /api/lexicon?q=TEXT`: test names for autocompletion.
//! - `POST /api/live/start`: start a run or a consultation (JSON, below); answers its id.
//! - `GET /api/live`: the live sessions; `GET /api/live/ID`: one, with the seat's pending prompt.
//! - `GET /api/live/ID/events[?from=N]`: Server-Sent Events, every message from `N` on (a page
//!   that connects late gets the backlog first). Each event's data is a JSON array of the
//!   messages ready at that moment, its id the last one's number (`Last-Event-ID` resumes).
//! - `POST /api/live/ID/reply`: the person's move in the seat.
//!
//! Every `/api/live` route but `options` needs the server's token (`x-medsim-token` header or
//! `?token=`; EventSource cannot send headers). Runs use the server's models and keys; the page
//! names neither. Messages never carry the ground truth before the episode's verdict: leak
//! events lose their matched words, and the diagnosis appears only in the verdict and in
//! `episode_finished`.

// Early returns of the handlers are the responses themselves; boxing them would gain nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use medsim_agents::{ChannelSeat, DoctorView, PatientView, PolicySeat, Reply};
use medsim_core::Dataset;
use medsim_core::action::{Diagnosis, Differential, DoctorAction};
use medsim_core::case::Case;
use medsim_core::transcript::{Event, EventKind};
use medsim_engine::assemble::{Assembler, Outside};
use medsim_engine::manifest::RunKind;
use medsim_engine::run::{Observer, RunPlan, RunStart, execute};
use medsim_engine::runlog::{EpisodeRecord, Outcome};
use medsim_engine::setup::{ProtocolChoice, Setup};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use crate::web::{WebConfig, problem};

/// Builds the actors' assembler for a setup (the server's models and keys).
pub type AssemblerFactory = dyn Fn(&Setup) -> Result<Assembler, String> + Send + Sync;
/// Loads a dataset by name or path.
pub type DatasetLoader = dyn Fn(&str) -> Result<Dataset, String> + Send + Sync;

/// What live runs need from whoever starts the server.
pub struct LiveConfig {
    /// The setup the page's choices modify (models, measurement, biases …).
    pub base: Setup,
    /// The model of each role, as shown on the page (names only).
    pub models: BTreeMap<String, String>,
    /// The models the page may give any role (loaded by the server; names only).
    pub choices: Vec<String>,
    /// Assemblers for a setup.
    pub assembler: Arc<AssemblerFactory>,
    /// Datasets.
    pub datasets: Arc<DatasetLoader>,
    /// Dataset names the page offers.
    pub dataset_names: Vec<String>,
    /// The most episodes one run may have in flight.
    pub max_concurrency: usize,
    /// The most live sessions running at once.
    pub max_sessions: usize,
}

/// The models of an assembler for `setup`: the server's, with the roles the page chose.
pub fn role_models(
    server: &BTreeMap<medsim_core::transcript::RoleName, String>,
    setup: &Setup,
) -> BTreeMap<medsim_core::transcript::RoleName, String> {
    use medsim_core::transcript::RoleName;
    let mut models = server.clone();
    for (role, chosen) in [
        (RoleName::Doctor, &setup.roles.doctor_model),
        (RoleName::Patient, &setup.roles.patient_model),
        (RoleName::Judge, &setup.roles.judge_model),
    ] {
        if let Some(model) = chosen {
            models.insert(role, model.clone());
        }
    }
    models
}

/// The live sessions of a server.
pub struct Live {
    /// How to start them.
    pub config: LiveConfig,
    sessions: Mutex<BTreeMap<String, Arc<Session>>>,
    counter: AtomicU64,
}

impl Live {
    /// No sessions yet.
    pub fn new(config: LiveConfig) -> Live {
        Live { config, sessions: Mutex::new(BTreeMap::new()), counter: AtomicU64::new(0) }
    }
}

/// The person's seat: the view waiting for a move, and where the move goes.
enum Pending {
    Doctor(DoctorView, oneshot::Sender<Reply>),
    Patient(PatientView, oneshot::Sender<String>),
}

/// One live run or consultation.
pub struct Session {
    id: String,
    kind: &'static str,
    /// The run directory, relative to `--runs`.
    directory: String,
    seat: Option<&'static str>,
    total: usize,
    log: Mutex<Vec<Arc<str>>>,
    sender: broadcast::Sender<(usize, Arc<str>)>,
    pending: Mutex<Option<Pending>>,
    /// `running`, `done` or `failed`; episodes finished; the run's wall time once it ended.
    state: Mutex<(&'static str, usize, Option<f64>)>,
}

impl Session {
    /// Appends a message to the log and sends it to every page watching. Never waits: a page
    /// that falls behind reads what it missed from the log.
    fn publish(&self, mut message: Value) {
        let mut log = self.log.lock().expect("live log");
        let seq = log.len();
        message["seq"] = json!(seq);
        let text: Arc<str> = Arc::from(message.to_string());
        log.push(text.clone());
        let _ = self.sender.send((seq, text));
    }

    fn summary(&self) -> Value {
        let (state, finished, elapsed_ms) = *self.state.lock().expect("live state");
        json!({"id": self.id, "kind": self.kind, "directory": self.directory, "seat": self.seat, "total": self.total, "finished": finished, "state": state, "elapsed_ms": elapsed_ms})
    }
}

/// Passes the engine's progress to the pages watching.
struct Watch(Arc<Session>);

/// An event as the page may see it while the episode runs: model calls are left out (their
/// counts are in the record), a leak's matched words are withheld until the verdict.
fn visible(event: &Event) -> Option<Value> {
    match &event.kind {
        EventKind::ModelCall { .. } => None,
        EventKind::Leak { role, turn, .. } => Some(
            json!({"type": "leak", "role": role, "turn": turn, "matched": "(withheld until the verdict)", "t_ms": event.t_ms}),
        ),
        _ => serde_json::to_value(event).ok(),
    }
}

impl Observer for Watch {
    fn run_started(&self, start: &RunStart<'_>) {
        self.0.publish(json!({"kind": "run_started", "total": start.total, "existing": start.existing.episodes}));
    }

    fn episode_started(&self, case: &str, repeat: u32) {
        self.0.publish(json!({"kind": "episode_started", "case": case, "repeat": repeat}));
    }

    fn episode_event(&self, case: &str, repeat: u32, event: &Event) {
        if let Some(event) = visible(event) {
            self.0.publish(json!({"kind": "event", "case": case, "repeat": repeat, "event": event}));
        }
    }

    fn episode_finished(&self, record: &EpisodeRecord) {
        self.0.state.lock().expect("live state").1 += 1;
        let outcome = match record.outcome {
            Outcome::Correct => "correct",
            Outcome::Incorrect => "incorrect",
            Outcome::Error => "error",
        };
        let verdict = record.episode.verdict.as_ref();
        self.0.publish(json!({
            "kind": "episode_finished",
            "case": record.case_id,
            "repeat": record.repeat,
            "outcome": outcome,
            "diagnosis": verdict.map(|verdict| verdict.diagnosis.clone()),
            "ground_truth": verdict.map(|verdict| verdict.ground_truth.clone()),
            "turns": record.episode.turns,
            "care_cost": record.episode.care_cost,
        }));
    }
}

/// What the page asks for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    #[serde(default = "builtin")]
    dataset: String,
    /// Case ids; empty for every case of the dataset.
    #[serde(default)]
    cases: Vec<String>,
    /// Only the first N cases.
    #[serde(default)]
    limit: Option<usize>,
    /// `doctor` or `patient`: a person plays it (one case).
    #[serde(default)]
    seat: Option<String>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    max_turns: Option<u32>,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    budget: Option<f64>,
    #[serde(default)]
    show_prices: bool,
    #[serde(default)]
    seed: Option<u64>,
    /// Episodes per case (1 to 100; 1 with a seat).
    #[serde(default)]
    repeats: Option<u32>,
    /// Models for the roles, among those the server offers (`options.choices`).
    #[serde(default)]
    doctor_model: Option<String>,
    #[serde(default)]
    patient_model: Option<String>,
    #[serde(default)]
    judge_model: Option<String>,
}

fn builtin() -> String {
    "builtin".into()
}

/// The person's move.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum Move {
    Ask {
        question: String,
    },
    Order {
        tests: Vec<String>,
    },
    Images {},
    Diagnose {
        primary: String,
        #[serde(default)]
        differential: Vec<String>,
    },
    Answer {
        text: String,
    },
}

fn bad(message: impl Into<String>) -> Response {
    problem(StatusCode::BAD_REQUEST, message)
}

/// The token check: the header or `?token=`.
fn authorised(config: &WebConfig, headers: &HeaderMap, query: &BTreeMap<String, String>) -> Result<(), Response> {
    let Some(expected) = &config.token else {
        return Err(problem(StatusCode::FORBIDDEN, "this server was started without a token: live runs are off"));
    };
    let given =
        headers.get("x-medsim-token").and_then(|value| value.to_str().ok()).or(query.get("token").map(String::as_str));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(problem(StatusCode::UNAUTHORIZED, "wrong token: use the one `medsim serve` printed")),
        None => Err(problem(
            StatusCode::UNAUTHORIZED,
            "missing token: open the address `medsim serve` printed (it carries ?token=…), or send x-medsim-token",
        )),
    }
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn live_of(config: &WebConfig) -> Result<&Live, Response> {
    config.live.as_ref().ok_or_else(|| {
        problem(StatusCode::NOT_FOUND, "live runs are off on this server (it was started without models)")
    })
}

/// What every `/api/live` route but `options` starts with: the token, then live runs.
fn guard<'a>(
    config: &'a WebConfig,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> Result<&'a Live, Response> {
    authorised(config, headers, query)?;
    live_of(config)
}

/// [`guard`], then the session the route names.
fn guard_session(
    config: &WebConfig,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
    id: &str,
) -> Result<Arc<Session>, Response> {
    session_of(guard(config, headers, query)?, id)
}

fn session_of(live: &Live, id: &str) -> Result<Arc<Session>, Response> {
    live.sessions.lock().expect("live sessions").get(id).cloned().ok_or_else(|| {
        problem(StatusCode::NOT_FOUND, format!("no live session {id:?} (it belongs to another server start?)"))
    })
}

/// `GET /api/live/options`.
pub async fn options(State(config): State<Arc<WebConfig>>) -> Response {
    match &config.live {
        None => Json(json!({"available": false})).into_response(),
        Some(live) => Json(json!({
            "available": true,
            "models": live.config.models,
            "choices": live.config.choices,
            "datasets": live.config.dataset_names,
            "protocols": ["agentclinic", "tools"],
            "strategies": ["baseline", "cot", "panel", "self-consistency", "best-of", "dxo"],
            "max_concurrency": live.config.max_concurrency,
            "max_turns": live.config.base.max_turns,
        }))
        .into_response(),
    }
}

/// `GET /api/live/cases?dataset=NAME`.
pub async fn cases(
    State(config): State<Arc<WebConfig>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let live = match guard(&config, &headers, &query) {
        Ok(live) => live,
        Err(response) => return response,
    };
    let name = query.get("dataset").cloned().unwrap_or_else(builtin);
    match load(live, name).await {
        Ok(dataset) => Json(json!({"dataset": dataset.name, "cases": dataset.cases.iter().map(|case| json!({"id": case.id, "objective": case.objective, "tags": case.specialty.iter().chain(&case.tags).collect::<Vec<_>>()})).collect::<Vec<_>>()})).into_response(),
        Err(response) => response,
    }
}

/// A dataset, loaded off the async threads (it may be read from disk or downloaded).
async fn load(live: &Live, name: String) -> Result<Dataset, Response> {
    let loader = live.config.datasets.clone();
    match tokio::task::spawn_blocking(move || loader(&name)).await {
        Ok(Ok(dataset)) => Ok(dataset),
        Ok(Err(error)) => Err(bad(error)),
        Err(error) => Err(problem(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())),
    }
}

/// `GET /api/lexicon?q=TEXT`: up to 20 test names containing the text.
pub async fn lexicon(Query(query): Query<BTreeMap<String, String>>) -> Response {
    let wanted = query.get("q").map(|text| text.trim().to_lowercase()).unwrap_or_default();
    let names: Vec<String> = medsim_core::lexicon::Lexicon::get()
        .test_names()
        .iter()
        .filter(|name| wanted.is_empty() || name.to_lowercase().contains(&wanted))
        .take(20)
        .cloned()
        .collect();
    Json(json!({"tests": names})).into_response()
}

/// `GET /api/live`.
pub async fn list(
    State(config): State<Arc<WebConfig>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let live = match guard(&config, &headers, &query) {
        Ok(live) => live,
        Err(response) => return response,
    };
    let sessions: Vec<Value> =
        live.sessions.lock().expect("live sessions").values().map(|session| session.summary()).collect();
    Json(json!({"sessions": sessions})).into_response()
}

/// `GET /api/live/ID`: the session and the seat's pending prompt.
pub async fn status(
    State(config): State<Arc<WebConfig>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let session = match guard_session(&config, &headers, &query, &id) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let prompt = session.pending.lock().expect("seat").as_ref().map(prompt_of);
    let mut body = session.summary();
    body["prompt"] = prompt.unwrap_or(Value::Null);
    Json(body).into_response()
}

/// Each view the engine sends the person's seat becomes the session's pending move, announced
/// to the pages.
fn offer_seat<View: Send + 'static, Answer: Send + 'static>(
    session: Arc<Session>,
    mut requests: tokio::sync::mpsc::Receiver<(View, oneshot::Sender<Answer>)>,
    pending: fn(View, oneshot::Sender<Answer>) -> Pending,
) {
    tokio::spawn(async move {
        while let Some((view, reply)) = requests.recv().await {
            let waiting = pending(view, reply);
            let prompt = prompt_of(&waiting);
            // Awaited before it is announced, so a page's quick answer is never refused.
            *session.pending.lock().expect("seat") = Some(waiting);
            session.publish(json!({"kind": "seat", "prompt": prompt}));
        }
    });
}

/// What the person in the seat is shown: what the role would see, nothing more.
fn prompt_of(pending: &Pending) -> Value {
    match pending {
        Pending::Doctor(view, _) => json!({
            "role": "doctor",
            "turn": view.turn,
            "max_turns": view.max_turns,
            "presentation": view.presentation,
            "response": view.response,
            "must_diagnose": view.must_diagnose,
            "final_turn": view.final_turn,
            "images_available": view.images_available,
            // Images the doctor asked for, as data URLs (or their addresses).
            "images": view.images.iter().filter_map(|image| image.to_url().ok()).collect::<Vec<_>>(),
            "spending": view.cost.as_ref().map(|cost| cost.spending()),
        }),
        Pending::Patient(view, _) => json!({"role": "patient", "question": view.question}),
    }
}

/// `POST /api/live/start`.
pub async fn start(
    State(config): State<Arc<WebConfig>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let live = match guard(&config, &headers, &query) {
        Ok(live) => live,
        Err(response) => return response,
    };
    let request: Start = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return bad(format!(
                "the request body: {error}; expected JSON such as {{\"dataset\": \"builtin\", \"cases\": [\"endo-01\"], \"seat\": \"doctor\"}}"
            ));
        }
    };
    let running = live
        .sessions
        .lock()
        .expect("live sessions")
        .values()
        .filter(|session| session.state.lock().expect("live state").0 == "running")
        .count();
    if running >= live.config.max_sessions {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{running} live sessions are running (the most is {}); wait for one to finish",
                live.config.max_sessions
            ),
        );
    }
    // The setup: the server's, with the page's choices.
    let mut setup = live.config.base.clone();
    match request.protocol.as_deref() {
        None => {}
        Some("agentclinic") => setup.protocol = ProtocolChoice::Agentclinic,
        Some("tools") => setup.protocol = ProtocolChoice::Tools,
        Some(other) => return bad(format!("protocol {other:?}: expected agentclinic or tools")),
    }
    if let Some(strategy) = &request.strategy {
        match medsim_agents::strategy::Strategies::parse(strategy) {
            Ok(parsed) if parsed.memory.is_some() || parsed.reflection => {
                return bad(format!(
                    "strategy {strategy:?}: memory and reflection need a memory file; run them with `medsim run --memory`"
                ));
            }
            Ok(_) => setup.strategy = strategy.clone(),
            Err(error) => return bad(error.to_string()),
        }
    }
    if let Some(turns) = request.max_turns {
        if !(1..=40).contains(&turns) {
            return bad(format!("max_turns {turns}: expected 1 to 40"));
        }
        setup.max_turns = turns;
    }
    for (role, chosen, slot) in [
        ("doctor", &request.doctor_model, &mut setup.roles.doctor_model),
        ("patient", &request.patient_model, &mut setup.roles.patient_model),
        ("judge", &request.judge_model, &mut setup.roles.judge_model),
    ] {
        if let Some(model) = chosen.as_ref().filter(|model| !model.is_empty()) {
            if !live.config.choices.contains(model) {
                return bad(format!(
                    "{role}_model {model:?}: this server offers {}; start `medsim serve` with --{role}-model to offer another",
                    live.config.choices.join(", ")
                ));
            }
            *slot = Some(model.clone());
        }
    }
    setup.budget = request.budget.or(setup.budget);
    setup.show_prices |= request.show_prices;
    if let Err(error) = setup.episode_config() {
        return bad(error);
    }
    let concurrency = request.concurrency.unwrap_or(4);
    if concurrency == 0 || concurrency > live.config.max_concurrency {
        return bad(format!("concurrency {concurrency}: expected 1 to {}", live.config.max_concurrency));
    }
    let seat = match request.seat.as_deref() {
        None | Some("") | Some("none") => None,
        Some("doctor") => Some("doctor"),
        Some("patient") => Some("patient"),
        Some(other) => return bad(format!("seat {other:?}: expected doctor, patient or none")),
    };
    // The cases.
    let dataset = match load(live, request.dataset.clone()).await {
        Ok(dataset) => dataset,
        Err(response) => return response,
    };
    let mut cases: Vec<Case> = if request.cases.is_empty() {
        dataset.cases.clone()
    } else {
        let mut picked = Vec::new();
        for id in &request.cases {
            match dataset.case(id) {
                Some(case) => picked.push(case.clone()),
                None => return bad(format!("case {id:?}: not in {}", dataset.name)),
            }
        }
        picked
    };
    if let Some(limit) = request.limit {
        cases.truncate(limit);
    }
    if cases.is_empty() {
        return bad("no cases: name some, or leave `cases` empty for the whole dataset");
    }
    let repeats = request.repeats.unwrap_or(1);
    if !(1..=100).contains(&repeats) || (seat.is_some() && repeats != 1) {
        return bad(format!("repeats {repeats}: expected 1 to 100 (1 with a seat)"));
    }
    if seat.is_some() && cases.len() != 1 {
        return bad(format!("a person takes a seat in one consultation at a time: name one case, not {}", cases.len()));
    }
    let mut assembler = match (live.config.assembler)(&setup) {
        Ok(assembler) => assembler,
        Err(error) => return bad(error),
    };
    // The session.
    let number = live.counter.fetch_add(1, Ordering::Relaxed);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let kind = if seat.is_some() { "consultation" } else { "run" };
    let id = format!("{stamp}-{number}");
    let directory = format!("live/{id}-{kind}");
    let (sender, _) = broadcast::channel(4096);
    let session = Arc::new(Session {
        id: id.clone(),
        kind,
        directory: directory.clone(),
        seat,
        total: cases.len() * repeats as usize,
        log: Mutex::new(Vec::new()),
        sender,
        pending: Mutex::new(None),
        state: Mutex::new(("running", 0, None)),
    });
    session.publish(json!({"kind": "started", "id": id, "session": kind, "seat": seat, "directory": directory, "cases": cases.iter().map(|case| json!({"id": case.id, "objective": case.objective})).collect::<Vec<_>>(), "models": {"doctor": setup.roles.doctor_model.clone().or_else(|| live.config.models.get("doctor").cloned()), "patient": setup.roles.patient_model.clone().or_else(|| live.config.models.get("patient").cloned()), "judge": setup.roles.judge_model.clone().or_else(|| live.config.models.get("judge").cloned())}, "strategy": setup.strategy, "protocol": setup.protocol}));
    match seat {
        Some("doctor") => {
            let (doctor, requests) = PolicySeat::new("person (browser)");
            assembler.outside = Some(Outside::Doctor(Arc::new(doctor)));
            offer_seat(session.clone(), requests, Pending::Doctor);
        }
        Some(_) => {
            let (patient, requests) = ChannelSeat::<PatientView>::new("person (browser)", 1);
            assembler.outside = Some(Outside::Patient(Arc::new(patient)));
            // The patient's facts: what the patient model would be given, never the diagnosis.
            session.publish(json!({"kind": "patient_facts", "facts": cases[0].patient.render()}));
            offer_seat(session.clone(), requests, Pending::Patient);
        }
        None => {}
    }
    {
        // Finished sessions stay for pages that open them later, the oldest dropped past 32 (their
        // runs stay on disk).
        let mut sessions = live.sessions.lock().expect("live sessions");
        let finished: Vec<String> = sessions
            .iter()
            .filter(|(_, session)| session.state.lock().expect("live state").0 != "running")
            .map(|(id, _)| id.clone())
            .collect();
        for old in finished.iter().take(finished.len().saturating_sub(31)) {
            sessions.remove(old);
        }
        sessions.insert(id.clone(), session.clone());
    }
    let plan = RunPlan {
        directory: config.runs.join(&directory),
        dataset_spec: request.dataset.clone(),
        cases,
        repeats,
        seed: request.seed.unwrap_or(0),
        concurrency,
        resume: false,
        retry_errors: false,
        kind: RunKind::Run,
        arm: None,
        memory_size: None,
        strategies: Some(json!(assembler.strategy.strategies)),
        split: None,
        memory: None,
        learner: None,
    };
    let watched = session.clone();
    tokio::spawn(async move {
        let observer: Arc<dyn Observer> = Arc::new(Watch(watched.clone()));
        let began = std::time::Instant::now();
        let outcome = execute(&plan, &dataset, &assembler, observer).await;
        let elapsed_ms = began.elapsed().as_secs_f64() * 1000.0;
        // Whatever happened, the seat is no longer waiting.
        watched.pending.lock().expect("seat").take();
        watched.state.lock().expect("live state").2 = Some(elapsed_ms);
        match outcome {
            Ok(outcome) => {
                watched.state.lock().expect("live state").0 = "done";
                watched.publish(json!({"kind": "finished", "directory": watched.directory, "elapsed_ms": elapsed_ms, "summary": {"episodes": outcome.summary.episodes, "accuracy": outcome.summary.accuracy, "errors": outcome.summary.errors, "care_cost": outcome.summary.care_cost}}));
            }
            Err(error) => {
                watched.state.lock().expect("live state").0 = "failed";
                watched.publish(json!({"kind": "failed", "error": error.to_string()}));
            }
        }
    });
    (StatusCode::CREATED, Json(session.summary())).into_response()
}

/// `POST /api/live/ID/reply`.
pub async fn reply(
    State(config): State<Arc<WebConfig>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let session = match guard_session(&config, &headers, &query, &id) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let action: Move = match serde_json::from_slice(&body) {
        Ok(action) => action,
        Err(error) => {
            return bad(format!(
                "the move: {error}; expected {{\"action\": \"ask\", \"question\": \"…\"}}, {{\"action\": \"order\", \"tests\": [\"…\"]}}, {{\"action\": \"images\"}}, {{\"action\": \"diagnose\", \"primary\": \"…\", \"differential\": [\"…\"]}} or, as the patient, {{\"action\": \"answer\", \"text\": \"…\"}}"
            ));
        }
    };
    let text_ok = |text: &str, field: &str, limit: usize| -> Result<String, Response> {
        let text = text.trim();
        if text.is_empty() {
            return Err(bad(format!("{field}: empty")));
        }
        if text.chars().count() > limit {
            return Err(bad(format!("{field}: longer than {limit} characters")));
        }
        Ok(text.to_owned())
    };
    let mut pending = session.pending.lock().expect("seat");
    let Some(waiting) = pending.take() else {
        return problem(StatusCode::CONFLICT, "no move is awaited now: wait for the seat's turn");
    };
    let sent = match (waiting, action) {
        (Pending::Doctor(view, answer), action) => {
            let made = match action {
                Move::Ask { question } => text_ok(&question, "question", 1000).map(|question| Reply {
                    text: question.clone(),
                    calls: Vec::new(),
                    action: Some(DoctorAction { question: Some(question), ..DoctorAction::default() }),
                }),
                Move::Order { tests } => {
                    let tests: Result<Vec<String>, Response> =
                        tests.iter().map(|test| text_ok(test, "tests", 120)).collect();
                    tests.and_then(|tests| match tests.len() {
                        1..=6 => Ok(Reply {
                            text: format!("REQUEST TEST: {}", tests.join(", ")),
                            calls: Vec::new(),
                            action: Some(DoctorAction { tests, ..DoctorAction::default() }),
                        }),
                        count => Err(bad(format!("tests: expected 1 to 6, found {count}"))),
                    })
                }
                Move::Images {} => Ok(Reply {
                    text: "REQUEST IMAGES".into(),
                    calls: Vec::new(),
                    action: Some(DoctorAction { images: true, ..DoctorAction::default() }),
                }),
                Move::Diagnose { primary, differential } => text_ok(&primary, "primary", 200).and_then(|primary| {
                    if differential.len() > 5 {
                        return Err(bad("differential: at most 5 diagnoses"));
                    }
                    let differential = differential
                        .iter()
                        .map(|entry| entry.trim())
                        .filter(|entry| !entry.is_empty())
                        .map(|entry| Differential { diagnosis: entry.to_owned(), probability: None })
                        .collect();
                    Ok(Reply {
                        text: format!("DIAGNOSIS READY: {primary}"),
                        calls: Vec::new(),
                        action: Some(DoctorAction {
                            diagnosis: Some(Diagnosis { primary, differential }),
                            ..DoctorAction::default()
                        }),
                    })
                }),
                Move::Answer { .. } => Err(bad("you are the doctor: ask, order, images or diagnose")),
            };
            match made {
                Ok(reply) => answer.send(reply).is_ok(),
                Err(response) => {
                    *pending = Some(Pending::Doctor(view, answer));
                    return response;
                }
            }
        }
        (Pending::Patient(view, answer), Move::Answer { text }) => match text_ok(&text, "text", 1000) {
            Ok(text) => answer.send(text).is_ok(),
            Err(response) => {
                *pending = Some(Pending::Patient(view, answer));
                return response;
            }
        },
        (Pending::Patient(view, answer), _) => {
            *pending = Some(Pending::Patient(view, answer));
            return bad("you are the patient: answer with {\"action\": \"answer\", \"text\": \"…\"}");
        }
    };
    drop(pending);
    if !sent {
        return problem(StatusCode::GONE, "the consultation ended before this move arrived");
    }
    session.publish(json!({"kind": "seat_done"}));
    Json(json!({"accepted": true})).into_response()
}

/// `GET /api/live/ID/events`: Server-Sent Events from `?from=N` (default 0).
pub async fn events(
    State(config): State<Arc<WebConfig>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let session = match guard_session(&config, &headers, &query, &id) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let from = match query.get("from").map(|text| text.parse::<usize>()) {
        None => headers
            .get("last-event-id")
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<usize>().ok())
            .map_or(0, |last| last + 1),
        Some(Ok(from)) => from,
        Some(Err(_)) => return bad("from: expected a message number"),
    };
    // Subscribe first, then read the backlog: nothing published in between is lost, and
    // what arrives twice is skipped by its number.
    let receiver = session.sender.subscribe();
    let backlog: Vec<Arc<str>> = session.log.lock().expect("live log").iter().skip(from).cloned().collect();
    let next = from + backlog.len();
    let state = (
        backlog
            .into_iter()
            .enumerate()
            .map(move |(index, text)| (from + index, text))
            .collect::<std::collections::VecDeque<_>>(),
        receiver,
        next,
        session,
    );
    // Each SSE event carries every message ready at that moment, as a JSON array (one write
    // instead of hundreds when a busy run streams thousands of messages a second); its id is
    // the last message's number.
    let stream = futures::stream::unfold(state, |(mut backlog, mut receiver, mut next, session)| async move {
        loop {
            if backlog.is_empty() {
                match receiver.recv().await {
                    Ok((seq, _)) if seq < next => continue,
                    Ok((seq, text)) => {
                        next = seq + 1;
                        backlog.push_back((seq, text));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // This page fell behind: read what it missed from the log.
                        let missed: Vec<Arc<str>> =
                            session.log.lock().expect("live log").iter().skip(next).cloned().collect();
                        backlog.extend(missed.into_iter().enumerate().map(|(index, text)| (next + index, text)));
                        next += backlog.len();
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
            // Whatever else is ready joins this event.
            while backlog.len() < 512 {
                match receiver.try_recv() {
                    Ok((seq, _)) if seq < next => {}
                    Ok((seq, text)) => {
                        next = seq + 1;
                        backlog.push_back((seq, text));
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        let missed: Vec<Arc<str>> =
                            session.log.lock().expect("live log").iter().skip(next).cloned().collect();
                        backlog.extend(missed.into_iter().enumerate().map(|(index, text)| (next + index, text)));
                        next = backlog.back().map_or(next, |(seq, _)| seq + 1);
                    }
                    Err(_) => break,
                }
            }
            let take = backlog.len().min(512);
            let batch: Vec<(usize, Arc<str>)> = backlog.drain(..take).collect();
            let last = batch.last().map(|(seq, _)| *seq).unwrap_or_default();
            let mut data = String::with_capacity(batch.iter().map(|(_, text)| text.len() + 1).sum::<usize>() + 2);
            data.push('[');
            for (index, (_, text)) in batch.iter().enumerate() {
                if index > 0 {
                    data.push(',');
                }
                data.push_str(text);
            }
            data.push(']');
            let event = SseEvent::default().id(last.to_string()).data(data);
            return Some((Ok::<_, std::convert::Infallible>(event), (backlog, receiver, next, session)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// The path of a live session's run directory, for tests.
pub fn directory_of(config: &WebConfig, id: &str) -> Option<PathBuf> {
    let live = config.live.as_ref()?;
    let session = live.sessions.lock().ok()?.get(id).cloned()?;
    Some(config.runs.join(&session.directory))
}
