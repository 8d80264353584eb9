//! The scripted server: a real OpenAI-compatible (and Anthropic-compatible) HTTP server on
//! loopback whose replies follow a [`Script`](super::Script), with injected latency and faults,
//! recording every request it receives.
//!
//! Routes: `POST /v1/chat/completions`, `POST /v1/messages`, `GET /v1/models`, `GET /health`,
//! and for tests `GET|DELETE /_script/requests` and `GET /_script/stats`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Answer, CompiledScript, Fault, ScriptRequest};
use crate::provider::estimate_tokens;
use crate::rng::SplitMix64;

/// One request as the server received it. The `Authorization` / `x-api-key` header is recorded
/// only as present or absent, never its value.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// Arrival order, from 0.
    pub index: u64,
    /// `openai` or `anthropic`.
    pub api: &'static str,
    /// The caller's role header.
    pub role: Option<String>,
    /// Whether a key was sent.
    pub authorized: bool,
    /// The JSON body.
    pub body: Value,
    /// The fault injected, if any.
    pub fault: Option<Fault>,
    /// Index of the rule that answered, if any.
    pub rule: Option<usize>,
}

/// Counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerStats {
    /// Chat requests received.
    pub requests: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
}

/// Shared server state.
pub struct ServerState {
    script: CompiledScript,
    rng: Mutex<SplitMix64>,
    requests: Mutex<Vec<RecordedRequest>>,
    record_file: Option<Mutex<std::fs::File>>,
    stats: Mutex<ServerStats>,
    next_index: AtomicU64,
}

impl ServerState {
    /// State for a script; requests are also appended as JSON Lines to `record` if given.
    pub fn new(script: CompiledScript, record: Option<PathBuf>) -> std::io::Result<ServerState> {
        let record_file = record
            .map(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).map(Mutex::new))
            .transpose()?;
        Ok(ServerState {
            rng: Mutex::new(SplitMix64::new(script.script.seed)),
            script,
            requests: Mutex::new(Vec::new()),
            record_file,
            stats: Mutex::new(ServerStats::default()),
            next_index: AtomicU64::new(0),
        })
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> ServerStats {
        self.stats.lock().expect("stats lock").clone()
    }
}

/// The router (tests may drive it without a socket).
pub fn app(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai_chat))
        .route("/chat/completions", post(openai_chat))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .route("/_script/requests", get(list_requests).delete(clear_requests))
        .route("/_script/stats", get(stats))
        .with_state(state)
}

/// A running server.
pub struct ServerHandle {
    /// Where it listens.
    pub address: SocketAddr,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// `http://ADDRESS/v1`, the base URL for OpenAI-compatible clients.
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// `http://ADDRESS`, the base URL for Anthropic clients.
    pub fn anthropic_base(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        self.state.stats()
    }

    /// Stops accepting requests and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
    }
}

/// Starts a server on `address` (port 0 picks a free port) in the current tokio runtime.
pub async fn start(
    script: CompiledScript,
    address: SocketAddr,
    record: Option<PathBuf>,
) -> std::io::Result<ServerHandle> {
    let state = Arc::new(ServerState::new(script, record)?);
    let listener = tokio::net::TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = receiver.await;
            })
            .await;
    });
    Ok(ServerHandle { address, state, shutdown: Some(sender), task: Some(task) })
}

async fn models(State(state): State<Arc<ServerState>>) -> Response {
    let id = state.script.script.model.clone().unwrap_or_else(|| "scripted".to_owned());
    axum::Json(json!({"object": "list", "data": [{"id": id, "object": "model", "owned_by": "medsim"}]})).into_response()
}

async fn list_requests(State(state): State<Arc<ServerState>>) -> Response {
    axum::Json(state.requests()).into_response()
}

async fn clear_requests(State(state): State<Arc<ServerState>>) -> StatusCode {
    state.requests.lock().expect("requests lock").clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(state): State<Arc<ServerState>>) -> Response {
    axum::Json(state.stats()).into_response()
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => part.get("text").and_then(Value::as_str).map(str::to_owned),
                Some("tool_result") => part.get("content").map(text_of),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn stop_strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"message": message, "type": "invalid_request_error"}})))
        .into_response()
}

/// What every chat route shares: record, pick a fault, wait, answer.
struct Handled {
    answer: Answer,
    fault: Option<Fault>,
    index: u64,
    prompt_tokens: u64,
}

async fn handle(
    state: &ServerState,
    api: &'static str,
    headers: &HeaderMap,
    body: Value,
    request: ScriptRequest,
) -> Handled {
    let index = state.next_index.fetch_add(1, Ordering::SeqCst);
    let answer = state.script.answer(&request);
    let (fault, latency_ms) = {
        let mut rng = state.rng.lock().expect("rng lock");
        (state.script.script.faults.draw(&mut rng), state.script.script.latency.draw(&mut rng))
    };
    let authorized = headers.contains_key("authorization") || headers.contains_key("x-api-key");
    let recorded =
        RecordedRequest { index, api, role: request.role.clone(), authorized, body, fault, rule: answer.rule };
    if let Some(file) = &state.record_file {
        let mut file = file.lock().expect("record lock");
        let _ = writeln!(file, "{}", serde_json::to_string(&recorded).unwrap_or_default());
    }
    if !state.script.script.forget_requests {
        state.requests.lock().expect("requests lock").push(recorded);
    }
    {
        let mut stats = state.stats.lock().expect("stats lock");
        stats.requests += 1;
        if let Some(fault) = fault {
            let name = serde_json::to_value(fault).ok().and_then(|value| value.as_str().map(str::to_owned));
            *stats.faults.entry(name.unwrap_or_default()).or_default() += 1;
        }
    }
    let prompt_tokens =
        estimate_tokens(&request.system) + request.messages.iter().map(|(_, text)| estimate_tokens(text)).sum::<u64>();
    if fault == Some(Fault::Hang) {
        tokio::time::sleep(Duration::from_millis(state.script.script.faults.hang_ms)).await;
    } else if latency_ms > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(latency_ms / 1000.0)).await;
    }
    Handled { answer, fault, index, prompt_tokens }
}

/// Turns a fault into its response, or `None` when the normal body should be sent (possibly
/// altered by the caller for empty-content).
fn fault_response(state: &ServerState, fault: Option<Fault>, body: &Value, answer: &Answer) -> Option<Response> {
    let error = |status: StatusCode, kind: &str| {
        (status, axum::Json(json!({"error": {"message": format!("scripted {kind}"), "type": kind}}))).into_response()
    };
    if let (None, Some(status)) = (fault, answer.status) {
        // A scripted error reply: the status, with the reply's text as the error message.
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"message": answer.text, "type": "scripted_error"}});
        return Some((status, axum::Json(body)).into_response());
    }
    match fault? {
        Fault::RateLimit => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error");
            let millis = state.script.script.faults.retry_after_ms;
            let headers = response.headers_mut();
            headers.insert("retry-after-ms", HeaderValue::from(millis));
            headers.insert("retry-after", HeaderValue::from(millis.div_ceil(1000)));
            Some(response)
        }
        Fault::ServerError => Some(error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")),
        Fault::Unavailable => Some(error(StatusCode::SERVICE_UNAVAILABLE, "overloaded_error")),
        Fault::MalformedJson => Some(
            (StatusCode::OK, [("content-type", "application/json")], "{\"choices\": [ {\"message\": this is not json")
                .into_response(),
        ),
        Fault::Truncated => {
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            let half = Bytes::from(bytes[..bytes.len() / 2].to_vec());
            let stream = futures::stream::iter(vec![
                Ok::<Bytes, std::io::Error>(half),
                Err(std::io::Error::other("scripted truncation")),
            ]);
            Some((StatusCode::OK, [("content-type", "application/json")], Body::from_stream(stream)).into_response())
        }
        Fault::Hang | Fault::EmptyContent => None,
    }
}

fn cut_at_stop(text: &str, stops: &[String]) -> (String, bool) {
    let cut = stops.iter().filter(|stop| !stop.is_empty()).filter_map(|stop| text.find(stop.as_str())).min();
    match cut {
        Some(position) => (text[..position].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

async fn openai_chat(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return bad_request("the body is not JSON") };
    let Some(wire_messages) = body.get("messages").and_then(Value::as_array) else {
        return bad_request("\"messages\" must be a list");
    };
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for message in wire_messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("user").to_owned();
        let text = message.get("content").map(text_of).unwrap_or_default();
        if role == "system" || role == "developer" {
            system.push(text);
        } else {
            messages.push((role, text));
        }
    }
    let request = ScriptRequest {
        api: "openai",
        model: body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        role: headers.get("x-medsim-role").and_then(|value| value.to_str().ok()).map(str::to_owned),
        system: system.join("\n"),
        messages,
        has_tools: body.get("tools").and_then(Value::as_array).is_some_and(|tools| !tools.is_empty()),
        n: body.get("n").and_then(Value::as_u64).unwrap_or(1).clamp(1, 16) as u32,
    };
    let stops = stop_strings(body.get("stop"));
    let model = state.script.script.model.clone().unwrap_or_else(|| request.model.clone());
    let n = request.n;
    let handled = handle(&state, "openai", &headers, body, request).await;
    let Handled { answer, fault, index, prompt_tokens } = handled;
    let empty = fault == Some(Fault::EmptyContent);
    let (text, stopped) = if empty { (String::new(), false) } else { cut_at_stop(&answer.text, &stops) };
    let tool_calls: Vec<Value> = if empty {
        Vec::new()
    } else {
        answer
            .tool_calls
            .iter()
            .enumerate()
            .map(|(position, (name, arguments))| {
                json!({
                    "id": format!("call_{index}_{position}"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()},
                })
            })
            .collect()
    };
    let finish_reason = if !tool_calls.is_empty() {
        "tool_calls".to_owned()
    } else if stopped {
        "stop".to_owned()
    } else {
        answer.finish_reason.clone().unwrap_or_else(|| "stop".to_owned())
    };
    let completion_tokens = estimate_tokens(&text)
        + answer.tool_calls.iter().map(|(name, arguments)| estimate_tokens(&format!("{name}{arguments}"))).sum::<u64>();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { Value::String(text) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let choices: Vec<Value> = (0..n)
        .map(|choice| json!({"index": choice, "message": message, "finish_reason": finish_reason, "logprobs": null}))
        .collect();
    let response_body = json!({
        "id": format!("chatcmpl-scripted-{index}"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens * u64::from(n),
            "total_tokens": prompt_tokens + completion_tokens * u64::from(n),
        },
    });
    if let Some(response) = fault_response(&state, fault, &response_body, &answer) {
        return response;
    }
    let mut response = axum::Json(response_body).into_response();
    response
        .headers_mut()
        .insert("x-request-id", HeaderValue::from_str(&format!("req-scripted-{index}")).expect("ascii"));
    response
}

async fn anthropic_messages(State(state): State<Arc<ServerState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return bad_request("the body is not JSON") };
    let Some(wire_messages) = body.get("messages").and_then(Value::as_array) else {
        return bad_request("\"messages\" must be a list");
    };
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return bad_request("\"max_tokens\" is required");
    }
    let messages = wire_messages
        .iter()
        .map(|message| {
            let role = message.get("role").and_then(Value::as_str).unwrap_or("user").to_owned();
            (role, message.get("content").map(text_of).unwrap_or_default())
        })
        .collect();
    let forced_tool = body
        .get("tool_choice")
        .filter(|choice| choice.get("type").and_then(Value::as_str) == Some("tool"))
        .and_then(|choice| choice.get("name").and_then(Value::as_str))
        .map(str::to_owned);
    let request = ScriptRequest {
        api: "anthropic",
        model: body.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        role: headers.get("x-medsim-role").and_then(|value| value.to_str().ok()).map(str::to_owned),
        system: body.get("system").map(text_of).unwrap_or_default(),
        messages,
        has_tools: body.get("tools").and_then(Value::as_array).is_some_and(|tools| !tools.is_empty()),
        n: 1,
    };
    let stops = stop_strings(body.get("stop_sequences"));
    let model = state.script.script.model.clone().unwrap_or_else(|| request.model.clone());
    let Handled { answer, fault, index, prompt_tokens } = handle(&state, "anthropic", &headers, body, request).await;
    let empty = fault == Some(Fault::EmptyContent);
    let mut content = Vec::new();
    let mut stop_reason = answer
        .finish_reason
        .clone()
        .map(|reason| if reason == "length" { "max_tokens".to_owned() } else { reason })
        .unwrap_or_else(|| "end_turn".to_owned());
    let mut completion_tokens = 0;
    if !empty {
        match (&forced_tool, &answer.json) {
            (Some(tool), Some(json)) => {
                content.push(
                    json!({"type": "tool_use", "id": format!("toolu_{index}_json"), "name": tool, "input": json}),
                );
                stop_reason = "tool_use".to_owned();
                completion_tokens += estimate_tokens(&json.to_string());
            }
            _ => {
                let (text, stopped) = cut_at_stop(&answer.text, &stops);
                if stopped {
                    stop_reason = "stop_sequence".to_owned();
                }
                if !text.is_empty() {
                    completion_tokens += estimate_tokens(&text);
                    content.push(json!({"type": "text", "text": text}));
                }
                for (position, (name, arguments)) in answer.tool_calls.iter().enumerate() {
                    completion_tokens += estimate_tokens(&format!("{name}{arguments}"));
                    content.push(json!({"type": "tool_use", "id": format!("toolu_{index}_{position}"), "name": name, "input": arguments}));
                    stop_reason = "tool_use".to_owned();
                }
            }
        }
    }
    let response_body = json!({
        "id": format!("msg_scripted_{index}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    });
    if let Some(response) = fault_response(&state, fault, &response_body, &answer) {
        return response;
    }
    let mut response = axum::Json(response_body).into_response();
    response
        .headers_mut()
        .insert("request-id", HeaderValue::from_str(&format!("req_scripted_{index}")).expect("ascii"));
    response
}

/// Deterministic pseudo-embeddings: each word hashed into one of 64 dimensions, normalised, so
/// texts sharing words are similar. For tests of code that embeds, not of embedding quality.
async fn embeddings(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return bad_request("the body is not JSON") };
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return bad_request("\"input\" must be a string or a list of strings"),
    };
    state.stats.lock().expect("stats lock").requests += 1;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": pseudo_embedding(text)}))
        .collect();
    let tokens: u64 = inputs.iter().map(|text| estimate_tokens(text)).sum();
    axum::Json(json!({"object": "list", "data": data, "model": body.get("model"), "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
        .into_response()
}

/// The vector the scripted server returns for a text.
pub fn pseudo_embedding(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; 64];
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let hash = word
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
        vector[(hash % 64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}
