// medsim's run viewer: run list, run summary with charts, episode list with filters, transcript.
// Plain JavaScript, no dependencies; routes are the URL's hash (#/, #/run/PATH, #/episode/PATH/CASE/REPEAT).
"use strict";

const main = document.getElementById("main");
const where = document.getElementById("where");

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "onclick") node.onclick = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const percent = (value) => (value * 100).toFixed(1) + "%";

// A report written by `medsim report` carries its data: the same answers as the server's API.
function embedded(path) {
  const data = window.MEDSIM_DATA;
  const url = new URL(path, "http://report.invalid/");
  const query = url.searchParams;
  if (url.pathname === "/api/runs") return { root: "this report", runs: [data.row] };
  if (query.get("run") !== data.row.run) throw new Error(`run ${query.get("run")}: this report holds only ${data.row.run}`);
  if (url.pathname === "/api/run") return data.detail;
  if (url.pathname === "/api/episodes") {
    const outcome = query.get("outcome"), tag = query.get("tag"), text = (query.get("case") || "").toLowerCase();
    return { episodes: data.rows.filter((row) => (!outcome || row.outcome === outcome) && (!tag || row.tags.includes(tag)) && row.case_id.toLowerCase().includes(text)) };
  }
  const record = data.records.find((record) => record.case_id === query.get("case") && String(record.repeat) === query.get("repeat"));
  if (!record) throw new Error(`no episode of case ${query.get("case")}, repeat ${query.get("repeat")} in this report`);
  return record;
}

async function api(path) {
  if (window.MEDSIM_DATA) return embedded(path);
  const response = await fetch(path);
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status} without JSON` }));
  if (!response.ok || body.error) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

function showError(error) {
  main.replaceChildren(el("p", { class: "error", id: "error" }, error.message || String(error)), el("p", {}, el("a", { href: "#/" }, "Back to the runs")));
}

async function runList() {
  where.textContent = "runs";
  const data = await api("/api/runs");
  const table = el("table", { id: "runs" },
    el("tr", {}, ...["run", "kind", "dataset", "doctor", "strategy", "episodes", "accuracy (95% CI)", "errors", "cost"].map((h) => el("th", {}, h))));
  for (const run of data.runs) {
    if (run.error) {
      table.append(el("tr", {}, el("td", {}, run.run), el("td", { colspan: 8, class: "error" }, run.error)));
      continue;
    }
    const accuracy = run.accuracy.judged ? `${percent(run.accuracy.accuracy)} (${percent(run.accuracy.ci_low)}–${percent(run.accuracy.ci_high)})` : "n/a";
    table.append(el("tr", { class: "link", onclick: () => (location.hash = `#/run/${run.run}`) },
      el("td", {}, run.run), el("td", {}, run.kind ?? "run"), el("td", {}, run.dataset), el("td", {}, run.doctor ?? "-"),
      el("td", {}, run.strategy ?? "baseline"), el("td", {}, `${run.episodes}/${run.planned}`), el("td", {}, accuracy),
      el("td", {}, run.errors), el("td", {}, "$" + run.cost_usd.toFixed(4))));
  }
  main.replaceChildren(el("h2", {}, `Runs in ${data.root}`), data.runs.length ? table : el("p", { class: "muted" }, "No run directories here yet."));
}

// Accuracy per group with its Wilson interval, as horizontal bars with whiskers.
function accuracyChart(title, groups, id) {
  const entries = Object.entries(groups);
  const width = 640, row = 24, left = 180, top = 26, scale = width - left - 40;
  const chart = svg("svg", { id, width, height: top + row * entries.length + 24, role: "img" });
  chart.append(svg("text", { x: 0, y: 14, "font-weight": "bold" }, title));
  entries.forEach(([name, accuracy], index) => {
    const y = top + index * row;
    chart.append(svg("text", { x: 0, y: y + 14 }, `${name} (${accuracy.correct}/${accuracy.judged})`));
    chart.append(svg("rect", { x: left, y: y + 3, width: Math.max(1, accuracy.accuracy * scale), height: row - 8, fill: "#4a7ab5", class: "bar" }));
    chart.append(svg("line", { x1: left + accuracy.ci_low * scale, x2: left + accuracy.ci_high * scale, y1: y + row / 2, y2: y + row / 2, stroke: "#1d2330", "stroke-width": 2 }));
    chart.append(svg("text", { x: left + scale + 4, y: y + 14 }, percent(accuracy.accuracy)));
  });
  return chart;
}

async function runView(path) {
  where.textContent = path;
  const [data, list] = await Promise.all([api(`/api/run?run=${encodeURIComponent(path)}`), api(`/api/episodes?run=${encodeURIComponent(path)}`)]);
  const summary = data.summary, accuracy = summary.accuracy;
  const card = (label, value) => el("div", { class: "card" }, label, el("b", {}, value));
  const cards = el("div", { class: "cards", id: "summary" },
    card("accuracy", accuracy.judged ? `${percent(accuracy.accuracy)}` : "n/a"),
    card("95% interval", accuracy.judged ? `${percent(accuracy.ci_low)}–${percent(accuracy.ci_high)}` : "n/a"),
    card("episodes", `${summary.episodes}`), card("errors", `${summary.errors}`),
    card("mean turns", summary.mean_turns.toFixed(1)), card("tests / episode", summary.tests_per_episode.toFixed(1)),
    card("tokens", `${summary.prompt_tokens + summary.completion_tokens}`), card("model cost", "$" + summary.cost_usd.toFixed(4)),
    ...(summary.care_cost ? [card("care cost / case", `$${summary.care_cost.mean.toFixed(0)} ($${summary.care_cost.ci_low.toFixed(0)}–$${summary.care_cost.ci_high.toFixed(0)})`)] : []));
  const parts = [el("h2", {}, path), el("p", { class: "muted" }, `${data.run.dataset?.name ?? ""} · doctor ${data.run.roles?.doctor?.model ?? "-"} · strategy ${data.run.setup?.strategy ?? "baseline"}`), cards];
  if (Object.keys(summary.by_tag).length) parts.push(accuracyChart("Accuracy by tag (bars) with 95% intervals", summary.by_tag, "by-tag"));
  if (Object.keys(summary.by_bias).length) parts.push(accuracyChart("Accuracy by bias", summary.by_bias, "by-bias"));
  for (const extra of ["curve", "ablation"]) if (data[extra]) parts.push(el("pre", { id: extra }, data[extra]));
  const outcome = el("select", { id: "outcome" }, ...["", "correct", "incorrect", "error"].map((value) => el("option", { value }, value || "every outcome")));
  const caseFilter = el("input", { id: "case-filter", placeholder: "case id contains…" });
  const table = el("table", { id: "episodes" });
  const render = (rows) => {
    table.replaceChildren(el("tr", {}, ...["case", "repeat", "outcome", "diagnosis", "turns", "tests", "cost"].map((h) => el("th", {}, h))));
    for (const row of rows) {
      table.append(el("tr", { class: "link", onclick: () => (location.hash = `#/episode/${path}/${row.case_id}/${row.repeat}`) },
        el("td", {}, row.case_id), el("td", {}, row.repeat), el("td", { class: row.outcome }, row.outcome), el("td", {}, row.diagnosis ?? ""),
        el("td", {}, row.turns), el("td", {}, row.tests_ordered), el("td", {}, "$" + row.cost_usd.toFixed(4))));
    }
  };
  const refilter = async () => {
    const query = new URLSearchParams({ run: path, outcome: outcome.value, case: caseFilter.value });
    render((await api(`/api/episodes?${query}`)).episodes);
  };
  outcome.onchange = refilter;
  caseFilter.oninput = refilter;
  render(list.episodes);
  parts.push(el("h3", {}, "Episodes"), el("div", { class: "filters" }, outcome, caseFilter), table);
  main.replaceChildren(...parts);
}

function describe(event) {
  switch (event.type) {
    case "episode_started": return ["", `Case ${event.case_id}: ${event.objective}`];
    case "utterance": return [event.role, `[turn ${event.turn}] ${event.role}: ${event.text}`];
    case "test_order": return ["tests", `[turn ${event.turn}] tests ordered: ${event.tests.join(", ")}`];
    case "test_results": return ["tests", `results:\n${event.text}`];
    case "image_request": return ["tests", event.note || `${event.sent} image(s) shown`];
    case "order_refused": return ["failure", `[turn ${event.turn}] order refused: ${event.tests.join(", ")} would cost $${event.price.toFixed(0)}, $${event.remaining.toFixed(0)} of the budget left`];
    case "repeated_action": return ["failure", `[turn ${event.turn}] repeated the ${event.repeated} of turn ${event.first_turn}`];
    case "leak": return ["failure", `[turn ${event.turn}] the ${event.role} named the diagnosis (${event.matched})`];
    case "diagnosis": return ["doctor", `diagnosis: ${event.diagnosis.primary}` + (event.diagnosis.differential?.length ? `; differential: ${event.diagnosis.differential.map((d) => d.diagnosis).join(", ")}` : "")];
    case "verdict": return ["verdict", `verdict: ${event.verdict.correct ? "CORRECT" : "INCORRECT"} (${event.verdict.method}) — answer ${JSON.stringify(event.verdict.diagnosis)}, correct diagnosis ${JSON.stringify(event.verdict.ground_truth)}; ${event.verdict.reason}`];
    case "opinion":
      return ["", `[turn ${event.turn}] ${event.stance}` + (event.differential?.length ? ` (${event.differential.map((d) => d.diagnosis + (d.probability == null ? "" : ` ${Math.round(d.probability * 100)} %`)).join("; ")})` : "") + `: ${event.text}`];
    case "deliberation":
      return ["tests", `[turn ${event.turn}] decision: ${event.decision} — ${event.reason}` +
        (event.proposed?.length ? `\nproposed: ${event.proposed.join(", ")}` : "") +
        (event.removed ?? []).map((r) => `\n${r.by} took out ${r.test}${r.replacement ? ` for ${r.replacement}` : ""}: ${r.reason}`).join("") +
        (event.ordered?.length ? `\nordered: ${event.ordered.join(", ")}` : "")];
    case "retrieval": case "reasoning": case "vote": case "reflection": case "memory_write":
      return ["", `${event.type}: ${JSON.stringify(Object.fromEntries(Object.entries(event).filter(([key]) => !["type", "t_ms"].includes(key))))}`];
    case "error": return ["failure", `error (${event.role}): ${event.message}`];
    case "episode_ended": return ["", `ended: ${event.stop_reason} after ${event.turns} turn(s)`];
    default: return null;
  }
}

async function episodeView(path, caseId, repeat) {
  where.textContent = `${path} · ${caseId} #${repeat}`;
  const record = await api(`/api/episode?run=${encodeURIComponent(path)}&case=${encodeURIComponent(caseId)}&repeat=${repeat}`);
  const events = el("div", { id: "transcript" });
  for (const event of record.episode.events) {
    const shown = describe(event);
    if (shown) events.append(el("div", { class: `event ${shown[0]}`, "data-type": event.type }, shown[1]));
  }
  main.replaceChildren(el("p", {}, el("a", { href: `#/run/${path}` }, `← ${path}`)),
    el("h2", {}, `${caseId} · repeat ${repeat} · `, el("span", { class: record.outcome }, record.outcome)), events);
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "run" && parts.length > 1) await runView(parts.slice(1).join("/"));
    else if (parts[0] === "episode" && parts.length > 3) await episodeView(parts.slice(1, -2).join("/"), parts[parts.length - 2], parts[parts.length - 1]);
    else await runList();
  } catch (error) {
    showError(error);
  }
}

window.addEventListener("hashchange", route);
route();
