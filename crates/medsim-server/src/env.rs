//! `medsim env serve`: the OpenEnv protocol over the engine's environment sessions.
//!
//! - WebSocket `/ws`, one session per connection: `{"type":"reset","data":{…}}`,
//!   `{"type":"step","data":{action}}`, `{"type":"state"}`, `{"type":"close"}`; one reply frame
//!   per request, `{"type":"observation","data":{"observation","reward","done"}}`,
//!   `{"type":"state","data":{…}}` or `{"type":"error","data":{"message","code"}}`.
//! - HTTP `POST /reset` (answers with a `session_id`), `POST /step` `{"session_id","action"}`,
//!   `GET /state?session_id=…`, `GET /health`, `GET /metadata`, `GET /schema`.
//! - `POST /mcp`: JSON-RPC `tools/list` and `tools/call` (`{"name","arguments","session_id"}`).
//!
//! The observation carries `metadata` (flags; at the end the reward's breakdown and the
//! verdict) inside it, because OpenEnv's client keeps only the observation, reward and done.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use medsim_core::case::Case;
use medsim_engine::assemble::Assembler;
use medsim_engine::env::{EnvError, EnvOptions, Session, StepResult, TOOLS, schemas};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// What the server serves and its limits.
pub struct EnvConfig {
    /// The cases a session may get (the serving part of the split).
    pub cases: Vec<Case>,
    /// Case ids of the dataset that are not served (the other part): asking for one is refused
    /// as such.
    pub withheld: std::collections::HashSet<String>,
    /// The part served: `train`, `test`, or `all`.
    pub split: String,
    /// The dataset's directory, for case images.
    pub base_dir: Option<std::path::PathBuf>,
    /// Patient, measurement and judge (the doctor is the client).
    pub assembler: Arc<Assembler>,
    /// Reward terms.
    pub options: EnvOptions,
    /// Sessions at once (WebSocket connections with an episode, and HTTP sessions).
    pub max_sessions: usize,
    /// A session idle this long is closed.
    pub idle: Duration,
    /// The largest request accepted, bytes.
    pub max_message_bytes: usize,
    /// Required as `Authorization: Bearer …` when set.
    pub token: Option<String>,
}

struct Slot {
    session: Arc<Mutex<Session>>,
    used: Instant,
    _permit: Permit,
}

/// The server's state.
pub struct EnvServer {
    config: EnvConfig,
    http: std::sync::Mutex<HashMap<String, Slot>>,
    active: Arc<AtomicUsize>,
    counter: AtomicU64,
}

/// An error as the protocol returns it.
fn error_body(error: &EnvError) -> Value {
    json!({"message": error.message, "code": error.code})
}

/// The reply to a reset or step.
fn observation_body(result: &StepResult) -> Value {
    let mut observation = serde_json::to_value(&result.observation).unwrap_or(Value::Null);
    observation["metadata"] = result.metadata.clone();
    json!({"observation": observation, "reward": result.reward, "done": result.done})
}

/// A counted session: released when dropped.
struct Permit(Arc<AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EnvServer {
    /// A server for `config`.
    pub fn new(config: EnvConfig) -> Arc<EnvServer> {
        Arc::new(EnvServer {
            config,
            http: std::sync::Mutex::new(HashMap::new()),
            active: Arc::new(AtomicUsize::new(0)),
            counter: AtomicU64::new(0),
        })
    }

    fn permit(&self) -> Result<Permit, EnvError> {
        let max = self.config.max_sessions;
        if self.active.fetch_add(1, Ordering::SeqCst) >= max {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return Err(EnvError::new(
                "CAPACITY_REACHED",
                format!("{max} session(s) are open, the most this server allows; close one or raise --max-sessions"),
            ));
        }
        Ok(Permit(self.active.clone()))
    }

    /// Picks the case a reset asks for: by id (it must be served), else by seed, else in turn.
    fn choose(&self, data: &Value) -> Result<(Case, u64), EnvError> {
        if let Some(split) = data.get("split").and_then(Value::as_str)
            && split != self.config.split
            && self.config.split != "all"
        {
            return Err(EnvError::new(
                "case_not_in_split",
                format!("split {split:?}: this server serves only the {} part", self.config.split),
            ));
        }
        let seed = data.get("seed").and_then(Value::as_u64);
        if let Some(id) = data.get("case_id").and_then(Value::as_str) {
            if let Some(case) = self.config.cases.iter().find(|case| case.id == id) {
                return Ok((case.clone(), seed.unwrap_or(0)));
            }
            let code = if self.config.withheld.contains(id) { "case_not_in_split" } else { "unknown_case" };
            let why = if code == "case_not_in_split" {
                "is not in the part this server serves"
            } else {
                "is not in the dataset"
            };
            return Err(EnvError::new(code, format!("reset.case_id: case {id:?} {why}")));
        }
        let cases = &self.config.cases;
        let index = match seed {
            Some(seed) => medsim_core::hash::fnv1a(seed, b"case".iter().copied()) as usize % cases.len(),
            None => self.counter.fetch_add(1, Ordering::SeqCst) as usize % cases.len(),
        };
        Ok((cases[index].clone(), seed.unwrap_or(index as u64)))
    }

    /// Starts a session as a reset asks.
    async fn reset(self: &Arc<Self>, data: &Value) -> Result<(Session, StepResult), EnvError> {
        if !data.is_object() && !data.is_null() {
            return Err(EnvError::new(
                "invalid_request",
                "reset.data: expected an object {\"seed\", \"episode_id\", \"case_id\"}",
            ));
        }
        let (case, seed) = self.choose(data)?;
        let episode_id = data
            .get("episode_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("episode-{}", self.counter.fetch_add(1, Ordering::SeqCst)));
        let config = &self.config;
        Session::start(case, config.base_dir.clone(), &config.assembler, config.options.clone(), episode_id, seed).await
    }

    /// The router.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/health", get(|| async { Json(json!({"status": "healthy"})) }))
            .route("/metadata", get(metadata))
            .route("/schema", get(|| async { Json(schemas()) }))
            .route("/reset", post(http_reset))
            .route("/step", post(http_step))
            .route("/state", get(http_state))
            .route("/mcp", post(mcp))
            .route("/ws", get(ws))
            .layer(axum::middleware::from_fn_with_state(self.clone(), authorize))
            .layer(DefaultBodyLimit::max(self.config.max_message_bytes))
            .with_state(self.clone())
    }

    /// Closes HTTP sessions idle longer than the limit; runs until the server stops.
    pub async fn reap(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.config.idle.min(Duration::from_secs(10)).max(Duration::from_millis(50))).await;
            let idle = self.config.idle;
            self.http.lock().expect("sessions").retain(|_, slot| slot.used.elapsed() < idle);
        }
    }

    fn http_session(&self, id: &str) -> Result<Arc<Mutex<Session>>, EnvError> {
        let mut sessions = self.http.lock().expect("sessions");
        let slot = sessions.get_mut(id).ok_or_else(|| {
            EnvError::new(
                "no_session",
                format!(
                    "session_id {id:?}: no such session (closed, idle too long, or never opened); POST /reset opens one"
                ),
            )
        })?;
        slot.used = Instant::now();
        Ok(slot.session.clone())
    }
}

/// Serves until the listener fails.
pub async fn serve(server: Arc<EnvServer>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    tokio::spawn(server.clone().reap());
    axum::serve(listener, server.router().into_make_service_with_connect_info::<SocketAddr>()).await
}

async fn authorize(State(server): State<Arc<EnvServer>>, headers: HeaderMap, request: Request, next: Next) -> Response {
    if let Some(token) = &server.config.token {
        let given = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(json!({"message": "a bearer token is required: Authorization: Bearer <token>", "code": "unauthorized"}))).into_response();
        }
    }
    next.run(request).await
}

async fn metadata(State(server): State<Arc<EnvServer>>) -> Json<Value> {
    Json(json!({
        "name": "medsim",
        "description": "A simulated clinic: the policy is the doctor, interviewing a simulated patient, ordering tests and images, and committing to a diagnosis judged against the case.",
        "readme_content": null,
        "version": env!("CARGO_PKG_VERSION"),
        "author": "medsim",
        "documentation_url": null,
        "tools": TOOLS,
        "split": server.config.split,
        "cases": server.config.cases.len(),
        "options": server.config.options,
    }))
}

fn reject(status: StatusCode, error: &EnvError) -> Response {
    (status, Json(error_body(error))).into_response()
}

async fn http_reset(State(server): State<Arc<EnvServer>>, body: Option<Json<Value>>) -> Response {
    let data = body.map(|Json(value)| value).unwrap_or(Value::Null);
    let permit = match server.permit() {
        Ok(permit) => permit,
        Err(error) => return reject(StatusCode::SERVICE_UNAVAILABLE, &error),
    };
    match server.reset(&data).await {
        Ok((session, first)) => {
            let number = server.counter.fetch_add(1, Ordering::SeqCst);
            let id = format!("s{:016x}", medsim_core::hash::fnv1a(number, std::process::id().to_le_bytes()));
            let slot = Slot { session: Arc::new(Mutex::new(session)), used: Instant::now(), _permit: permit };
            server.http.lock().expect("sessions").insert(id.clone(), slot);
            let mut body = observation_body(&first);
            body["session_id"] = json!(id);
            Json(body).into_response()
        }
        Err(error) => reject(StatusCode::UNPROCESSABLE_ENTITY, &error),
    }
}

/// The session a request names.
fn session_id(body: &Value) -> Result<&str, EnvError> {
    body.get("session_id").and_then(Value::as_str).ok_or_else(|| {
        EnvError::new(
            "no_session",
            "session_id: expected the id POST /reset returned (episodes over HTTP are addressed by it)",
        )
    })
}

async fn http_step(State(server): State<Arc<EnvServer>>, Json(body): Json<Value>) -> Response {
    let result = async {
        let session = server.http_session(session_id(&body)?)?;
        let action = body
            .get("action")
            .ok_or_else(|| EnvError::new("invalid_action", "action: expected {\"tool\", \"arguments\"}"))?;
        let mut session = session.lock().await;
        session.step(action).await
    }
    .await;
    match result {
        Ok(result) => Json(observation_body(&result)).into_response(),
        Err(error) if error.code == "no_session" => reject(StatusCode::NOT_FOUND, &error),
        Err(error) => reject(StatusCode::UNPROCESSABLE_ENTITY, &error),
    }
}

async fn http_state(State(server): State<Arc<EnvServer>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let id = query.get("session_id").map(String::as_str).unwrap_or_default();
    match server.http_session(id) {
        Ok(session) => Json(serde_json::to_value(session.lock().await.state()).unwrap_or(Value::Null)).into_response(),
        Err(error) => reject(StatusCode::NOT_FOUND, &error),
    }
}

/// The doctor's tools as MCP lists them.
fn mcp_tools() -> Value {
    let tools: Vec<Value> = medsim_agents::doctor_tools()
        .into_iter()
        .map(|tool| json!({"name": tool.name, "description": tool.description, "inputSchema": tool.parameters}))
        .collect();
    json!({"tools": tools})
}

async fn mcp(State(server): State<Arc<EnvServer>>, body: axum::body::Bytes) -> Json<Value> {
    let reply = |id: &Value, outcome: Result<Value, (i64, String)>| match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": null}})
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Json(reply(&Value::Null, Err((-32700, "parse error: expected a JSON-RPC request".into()))));
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(json!({}));
    let outcome = match request.get("method").and_then(Value::as_str) {
        Some("tools/list") => Ok(mcp_tools()),
        Some("tools/call") => {
            let name = params.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            if !TOOLS.contains(&name.as_str()) {
                Err((-32602, format!("Tool not found: {name} (tools: {})", TOOLS.join(", "))))
            } else {
                let action = json!({"tool": name, "arguments": params.get("arguments").cloned().unwrap_or(json!({}))});
                let stepped = async {
                    let session = server.http_session(session_id(&params)?)?;
                    let mut session = session.lock().await;
                    session.step(&action).await
                }
                .await;
                match stepped {
                    Ok(result) => {
                        let body = observation_body(&result);
                        Ok(
                            json!({"content": [{"type": "text", "text": body.to_string()}], "structuredContent": body, "isError": false}),
                        )
                    }
                    Err(error) => Ok(
                        json!({"content": [{"type": "text", "text": error.message}], "structuredContent": error_body(&error), "isError": true}),
                    ),
                }
            }
        }
        Some(other) => Err((-32601, format!("method not found: {other} (methods: tools/list, tools/call)"))),
        None => Err((-32600, "invalid request: expected a \"method\"".into())),
    };
    Json(reply(&id, outcome))
}

async fn ws(State(server): State<Arc<EnvServer>>, upgrade: WebSocketUpgrade) -> Response {
    let limit = server.config.max_message_bytes;
    upgrade.max_message_size(limit).on_upgrade(move |socket| play(server, socket))
}

/// One connection, one session: requests answered in order, one frame each.
async fn play(server: Arc<EnvServer>, mut socket: WebSocket) {
    let mut session: Option<(Session, Permit)> = None;
    let idle = server.config.idle;
    loop {
        let message = match tokio::time::timeout(idle, socket.recv()).await {
            Ok(Some(Ok(message))) => message,
            // Idle too long, gone, or broken: the session ends with the connection.
            _ => break,
        };
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        let request: Value = match serde_json::from_str(&text) {
            Ok(request) => request,
            Err(error) => {
                let error = EnvError::new("INVALID_JSON", format!("expected a JSON message: {error}"));
                if send(&mut socket, "error", error_body(&error)).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let data = request.get("data").cloned().unwrap_or(Value::Null);
        let reply = match request.get("type").and_then(Value::as_str) {
            Some("reset") => {
                // A reset ends the connection's previous episode and frees its slot first.
                session = None;
                match server.permit() {
                    Err(error) => Err(error),
                    Ok(permit) => server.reset(&data).await.map(|(started, first)| {
                        session = Some((started, permit));
                        ("observation", observation_body(&first))
                    }),
                }
            }
            Some("step") => match session.as_mut() {
                None => Err(EnvError::new("not_reset", "step before reset: send {\"type\": \"reset\"} first")),
                Some((current, _)) => {
                    current.step(&data).await.map(|result| ("observation", observation_body(&result)))
                }
            },
            Some("state") => match session.as_ref() {
                None => Err(EnvError::new("not_reset", "no episode yet: send {\"type\": \"reset\"} first")),
                Some((current, _)) => Ok(("state", serde_json::to_value(current.state()).unwrap_or(Value::Null))),
            },
            Some("close") => break,
            other => Err(EnvError::new(
                "UNKNOWN_TYPE",
                format!("type {:?}: expected reset, step, state or close", other.unwrap_or("(none)")),
            )),
        };
        let sent = match reply {
            Ok((kind, body)) => send(&mut socket, kind, body).await,
            Err(error) => send(&mut socket, "error", error_body(&error)).await,
        };
        if sent.is_err() {
            break;
        }
    }
}

async fn send(socket: &mut WebSocket, kind: &str, data: Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(json!({"type": kind, "data": data}).to_string().into())).await
}
