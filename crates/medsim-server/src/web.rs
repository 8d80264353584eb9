//! `medsim serve`: the run viewer in the browser. The page (HTML, CSS, JavaScript) is compiled
//! into the binary and fetches JSON from `/api`; it needs no network.
//!
//! - `GET /api/runs`: every run directory under `--runs` (up to three levels deep, so the
//!   `train/`, `curve-N/` and arm directories of `learn` and `ablate` are listed too).
//! - `GET /api/run?run=PATH`: run.json and the summary (computed from the log).
//! - `GET /api/episodes?run=PATH[&outcome=correct|incorrect|error][&tag=T][&case=TEXT]`: one
//!   row per episode.
//! - `GET /api/episode?run=PATH&case=ID&repeat=N`: one episode's record, every event.
//! - `GET /api/compare?a=PATH&b=PATH`: two runs side by side, paired by case and repeat, with
//!   McNemar's exact test.
//! - `/api/live…`, `/api/lexicon`: the live clinic (see [`crate::live`]).
//!
//! `PATH` is relative to `--runs`, made of plain names: nothing outside `--runs` is readable.
//! A missing or damaged run answers with a JSON `{"error"}` the page shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use medsim_engine::run::summarise_log;
use medsim_engine::runlog::{Outcome, RunDir};
use serde_json::{Value, json};

/// What the viewer serves.
pub struct WebConfig {
    /// The directory of run directories.
    pub runs: PathBuf,
    /// The token every state-changing request and the event stream must carry; without one,
    /// live runs are off.
    pub token: Option<String>,
    /// Live runs and consultations, when the server has models.
    pub live: Option<crate::live::Live>,
}

impl WebConfig {
    /// A viewer of the runs under `runs`, read-only.
    pub fn viewer(runs: PathBuf) -> WebConfig {
        WebConfig { runs, token: None, live: None }
    }
}

const INDEX: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");

/// The router (tests drive it without a socket).
pub fn app(config: Arc<WebConfig>) -> Router {
    let asset = |kind: &'static str, body: &'static str| {
        move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() }
    };
    Router::new()
        .route("/", get(asset("text/html; charset=utf-8", INDEX)))
        .route("/app.js", get(asset("text/javascript; charset=utf-8", SCRIPT)))
        .route("/app.css", get(asset("text/css; charset=utf-8", STYLE)))
        .route("/api/runs", get(runs))
        .route("/api/run", get(run))
        .route("/api/episodes", get(episodes))
        .route("/api/episode", get(episode))
        .route("/api/compare", get(compare))
        .route("/api/lexicon", get(crate::live::lexicon))
        .route("/api/live/options", get(crate::live::options))
        .route("/api/live/cases", get(crate::live::cases))
        .route("/api/live", get(crate::live::list))
        .route("/api/live/start", post(crate::live::start))
        .route("/api/live/{id}", get(crate::live::status))
        .route("/api/live/{id}/events", get(crate::live::events))
        .route("/api/live/{id}/reply", post(crate::live::reply))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(config)
}

/// One run's view as a single self-contained HTML file (`medsim report`): the page, its script
/// and style inline, and the run's summary, episode list and every transcript embedded as data.
pub fn report(directory: &Path) -> Result<String, String> {
    let run_dir = RunDir::new(directory);
    let run = run_dir.read_run().map_err(|error| format!("run.json cannot be read: {error}"))?;
    let (summary, repeated) =
        summarise_log(&run_dir).map_err(|error| format!("the episode log cannot be read: {error}"))?;
    let name = directory.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    let mut rows = Vec::new();
    let mut records = Vec::new();
    run_dir
        .visit_episodes(|record| {
            rows.push(episode_row(&record));
            records.push(serde_json::to_value(&record).unwrap_or(Value::Null));
        })
        .map_err(|error| format!("the episode log cannot be read: {error}"))?;
    let planned = run["cases"].as_array().map(Vec::len).unwrap_or(0) as u64 * run["repeats"].as_u64().unwrap_or(1);
    let data = json!({
        "row": {"run": name, "kind": run["kind"], "dataset": run["dataset"]["name"], "doctor": run["roles"]["doctor"]["model"], "strategy": run["setup"]["strategy"], "planned": planned, "episodes": summary.episodes, "accuracy": summary.accuracy, "errors": summary.errors, "cost_usd": summary.cost_usd},
        "detail": {"run": run, "summary": summary, "repeated": repeated, "curve": std::fs::read_to_string(directory.join("curve.md")).ok(), "ablation": std::fs::read_to_string(directory.join("ablation.md")).ok(), "arm_of": arm_of(directory)},
        "rows": rows,
        "records": records,
    });
    // JSON inside a script element: "</" would end it.
    let data = data.to_string().replace("</", "<\\/");
    let page =
        INDEX.replace("<link rel=\"stylesheet\" href=\"/app.css\">", &format!("<style>\n{STYLE}</style>")).replace(
            "<script src=\"/app.js\"></script>",
            &format!("<script>window.MEDSIM_DATA = {data};</script>\n<script>\n{SCRIPT}</script>"),
        );
    Ok(page)
}

/// For an arm of `medsim ablate`: the ablation's table and its accuracy–cost Pareto chart (the
/// SVG as text; the page shows it as an image, so nothing in it runs).
fn arm_of(directory: &Path) -> Option<Value> {
    let parent = directory.parent()?;
    let table = std::fs::read_to_string(parent.join("ablation.md")).ok()?;
    let pareto = std::fs::read_to_string(parent.join("pareto.svg")).ok();
    Some(json!({"ablation": table, "pareto": pareto}))
}

/// Serves until the listener fails.
pub async fn serve(config: Arc<WebConfig>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, app(config)).await
}

pub(crate) fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// The run directory a request names, if it is a plain relative path inside `--runs` that
/// holds a run.
fn resolve(config: &WebConfig, query: &HashMap<String, String>) -> Result<PathBuf, (StatusCode, String)> {
    let Some(relative) = query.get("run") else {
        return Err((
            StatusCode::BAD_REQUEST,
            "run: expected the run's path under --runs, e.g. ?run=1764000000-builtin".into(),
        ));
    };
    let plain = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.chars().all(|c| c.is_alphanumeric() || "._-".contains(c))
    };
    if !relative.split('/').all(plain) {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("run {relative:?}: expected names of letters, digits, '.', '_' or '-' separated by '/'"),
        ));
    }
    let path = config.runs.join(relative);
    if !RunDir::new(&path).run_json().is_file() {
        return Err((
            StatusCode::NOT_FOUND,
            format!("run {relative:?}: no run.json there (not a run directory, or it was moved)"),
        ));
    }
    Ok(path)
}

/// Run directories under `root`, at most `depth` levels down, as paths relative to it.
fn find_runs(root: &Path, relative: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(relative)) else { return };
    let mut children: Vec<PathBuf> =
        entries.flatten().filter(|entry| entry.path().is_dir()).map(|entry| relative.join(entry.file_name())).collect();
    children.sort();
    for child in children {
        if root.join(&child).join("run.json").is_file() {
            out.push(child.clone());
        }
        if depth > 1 {
            find_runs(root, &child, depth - 1, out);
        }
    }
}

async fn runs(State(config): State<Arc<WebConfig>>) -> Response {
    let mut found = Vec::new();
    find_runs(&config.runs, Path::new(""), 3, &mut found);
    let rows: Vec<Value> = found
        .iter()
        .map(|relative| {
            let directory = config.runs.join(relative);
            let run_dir = RunDir::new(&directory);
            let path = relative.to_string_lossy().replace('\\', "/");
            match (run_dir.read_run().map_err(|error| error.to_string()), summarise_log(&run_dir).map_err(|error| error.to_string())) {
                (Ok(run), Ok((summary, _))) => json!({
                    "run": path,
                    "kind": run["kind"],
                    "dataset": run["dataset"]["name"],
                    "doctor": run["roles"]["doctor"]["model"],
                    "strategy": run["setup"]["strategy"],
                    "planned": run["cases"].as_array().map(Vec::len).unwrap_or(0) as u64 * run["repeats"].as_u64().unwrap_or(1),
                    "episodes": summary.episodes,
                    "accuracy": summary.accuracy,
                    "errors": summary.errors,
                    "cost_usd": summary.cost_usd,
                }),
                (Err(error), _) | (_, Err(error)) => json!({"run": path, "error": error}),
            }
        })
        .collect();
    Json(json!({"root": config.runs, "runs": rows})).into_response()
}

async fn run(State(config): State<Arc<WebConfig>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let directory = match resolve(&config, &query) {
        Ok(directory) => directory,
        Err((status, message)) => return problem(status, message),
    };
    let run_dir = RunDir::new(&directory);
    let run = match run_dir.read_run() {
        Ok(run) => run,
        Err(error) => return problem(StatusCode::UNPROCESSABLE_ENTITY, format!("run.json cannot be read: {error}")),
    };
    match summarise_log(&run_dir) {
        Ok((summary, repeated)) => {
            let extra = |name: &str| std::fs::read_to_string(directory.join(name)).ok();
            Json(json!({"run": run, "summary": summary, "repeated": repeated, "curve": extra("curve.md"), "ablation": extra("ablation.md"), "arm_of": arm_of(&directory)}))
                .into_response()
        }
        Err(error) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("the episode log cannot be read: {error}")),
    }
}

/// One row of the episode list.
fn episode_row(record: &medsim_engine::runlog::EpisodeRecord) -> Value {
    let outcome = match record.outcome {
        Outcome::Correct => "correct",
        Outcome::Incorrect => "incorrect",
        Outcome::Error => "error",
    };
    json!({
        "case_id": record.case_id,
        "repeat": record.repeat,
        "outcome": outcome,
        "tags": record.tags,
        "turns": record.episode.turns,
        "tests_ordered": record.episode.tests_ordered,
        "cost_usd": record.episode.cost_usd,
        "diagnosis": record.episode.verdict.as_ref().map(|verdict| verdict.diagnosis.clone()),
    })
}

async fn episodes(State(config): State<Arc<WebConfig>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let directory = match resolve(&config, &query) {
        Ok(directory) => directory,
        Err((status, message)) => return problem(status, message),
    };
    let outcome = query.get("outcome").filter(|text| !text.is_empty()).cloned();
    let tag = query.get("tag").filter(|text| !text.is_empty()).cloned();
    let case = query.get("case").map(|text| text.to_lowercase()).filter(|text| !text.is_empty());
    let mut rows = Vec::new();
    let visited = RunDir::new(&directory).visit_episodes(|record| {
        let row = episode_row(&record);
        let keep = outcome.as_deref().is_none_or(|wanted| row["outcome"] == wanted)
            && tag.as_ref().is_none_or(|wanted| record.tags.contains(wanted))
            && case.as_ref().is_none_or(|wanted| record.case_id.to_lowercase().contains(wanted));
        if keep {
            rows.push(row);
        }
    });
    match visited {
        Ok(()) => Json(json!({"episodes": rows})).into_response(),
        Err(error) => problem(StatusCode::UNPROCESSABLE_ENTITY, format!("the episode log cannot be read: {error}")),
    }
}

async fn episode(State(config): State<Arc<WebConfig>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let directory = match resolve(&config, &query) {
        Ok(directory) => directory,
        Err((status, message)) => return problem(status, message),
    };
    let (Some(case), Some(repeat)) = (query.get("case"), query.get("repeat").and_then(|text| text.parse::<u32>().ok()))
    else {
        return problem(StatusCode::BAD_REQUEST, "case and repeat: expected ?case=ID&repeat=N");
    };
    let mut found = None;
    let visited = RunDir::new(&directory).visit_episodes(|record| {
        if found.is_none() && record.case_id == *case && record.repeat == repeat {
            found = Some(record);
        }
    });
    match (visited, found) {
        (Err(error), _) => {
            problem(StatusCode::UNPROCESSABLE_ENTITY, format!("the episode log cannot be read: {error}"))
        }
        (Ok(()), None) => {
            problem(StatusCode::NOT_FOUND, format!("no episode of case {case:?}, repeat {repeat} in this run"))
        }
        (Ok(()), Some(record)) => Json(serde_json::to_value(&record).unwrap_or(Value::Null)).into_response(),
    }
}

/// One run of a comparison: its path, each episode's outcome, care cost and diagnosis, its
/// summary and run.json.
type Side = (String, HashMap<(String, u32), (Outcome, f64, Option<String>)>, medsim_engine::summary::Summary, Value);

/// `GET /api/compare?a=PATH&b=PATH`: two runs paired by (case, repeat).
async fn compare(State(config): State<Arc<WebConfig>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut sides: Vec<Side> = Vec::new();
    for key in ["a", "b"] {
        let Some(path) = query.get(key) else {
            return problem(StatusCode::BAD_REQUEST, format!("{key}: expected two runs, ?a=PATH&b=PATH"));
        };
        let directory = match resolve(&config, &HashMap::from([("run".to_owned(), path.clone())])) {
            Ok(directory) => directory,
            Err((status, message)) => return problem(status, format!("{key}: {message}")),
        };
        let run_dir = RunDir::new(&directory);
        let mut outcomes: HashMap<(String, u32), (Outcome, f64, Option<String>)> = HashMap::new();
        if let Err(error) = run_dir.visit_episodes(|record| {
            let diagnosis = record.episode.verdict.as_ref().map(|verdict| verdict.diagnosis.clone());
            outcomes.entry(record.key()).or_insert((record.outcome, record.episode.care_cost, diagnosis));
        }) {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{key}: the episode log cannot be read: {error}"),
            );
        }
        let summary = match summarise_log(&run_dir) {
            Ok((summary, _)) => summary,
            Err(error) => return problem(StatusCode::UNPROCESSABLE_ENTITY, format!("{key}: {error}")),
        };
        let manifest = run_dir.read_run().unwrap_or(Value::Null);
        sides.push((path.clone(), outcomes, summary, manifest));
    }
    let (a, b) = (&sides[0], &sides[1]);
    // Pairs judged in both runs; an error on either side leaves the pair out.
    let mut keys: Vec<&(String, u32)> = a.1.keys().filter(|key| b.1.contains_key(*key)).collect();
    keys.sort();
    let (mut both, mut only_a, mut only_b, mut neither, mut errors) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut rows = Vec::new();
    for key in keys {
        let (left, right) = (&a.1[key], &b.1[key]);
        if left.0 == Outcome::Error || right.0 == Outcome::Error {
            errors += 1;
            continue;
        }
        let (x, y) = (left.0 == Outcome::Correct, right.0 == Outcome::Correct);
        match (x, y) {
            (true, true) => both += 1,
            (true, false) => only_a += 1,
            (false, true) => only_b += 1,
            (false, false) => neither += 1,
        }
        rows.push(json!({"case_id": key.0, "repeat": key.1, "a": x, "b": y, "a_diagnosis": left.2, "b_diagnosis": right.2, "a_cost": left.1, "b_cost": right.1}));
    }
    let paired = both + only_a + only_b + neither;
    let side = |side: &Side| json!({"run": side.0, "strategy": side.3["setup"]["strategy"], "doctor": side.3["roles"]["doctor"]["model"], "accuracy": side.2.accuracy, "care_cost": side.2.care_cost, "episodes": side.2.episodes});
    Json(json!({
        "a": side(a),
        "b": side(b),
        "paired": paired,
        "both_correct": both,
        "only_a": only_a,
        "only_b": only_b,
        "neither": neither,
        "errors_left_out": errors,
        "mcnemar_p": medsim_engine::summary::mcnemar_exact(only_a, only_b),
        "rows": rows,
    }))
    .into_response()
}
