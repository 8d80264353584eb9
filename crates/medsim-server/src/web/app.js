// medsim's run viewer and live clinic: run list, run summary with charts, episode list with
// filters, transcript, comparison of two runs; runs and consultations started from the page and
// watched as they happen, with a seat for a person. Plain JavaScript, no dependencies; routes are
// the URL's hash (#/, #/run/PATH, #/episode/PATH/CASE/REPEAT, #/compare?a=PATH&b=PATH, #/live,
// #/live/ID).
"use strict";

const main = document.getElementById("main");
const where = document.getElementById("where");

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node[key] = value;
    else if (value !== false && value !== undefined && value !== null) node.setAttribute(key, value === true ? "" : value);
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
  if (url.pathname.startsWith("/api/live") || url.pathname === "/api/compare") throw new Error("This report is a file: the live clinic and comparisons need `medsim serve`.");
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

// The token `medsim serve` printed arrives in the address (?token=…); the page keeps it for the
// tab and sends it with every live request.
const token = (() => {
  const given = new URLSearchParams(location.search).get("token");
  if (given) sessionStorage.setItem("medsim-token", given);
  return given || sessionStorage.getItem("medsim-token") || "";
})();

async function live(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: { "x-medsim-token": token, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({ error: `the server answered ${response.status} without JSON` }));
  if (!response.ok || answer.error) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

function showError(error) {
  main.replaceChildren(el("p", { class: "error", id: "error" }, error.message || String(error)), el("p", {}, el("a", { href: "#/" }, "Back to the runs")));
}

async function runList() {
  where.textContent = "runs";
  const data = await api("/api/runs");
  const table = el("table", { id: "runs" },
    el("tr", {}, ...["", "run", "kind", "dataset", "doctor", "strategy", "episodes", "accuracy (95% CI)", "errors", "cost"].map((h) => el("th", {}, h))));
  const chosen = [];
  const compare = el("button", { id: "compare", disabled: true, onclick: () => (location.hash = `#/compare?a=${encodeURIComponent(chosen[0])}&b=${encodeURIComponent(chosen[1])}`) }, "Compare the two selected runs");
  for (const run of data.runs) {
    if (run.error) {
      table.append(el("tr", {}, el("td", {}), el("td", {}, run.run), el("td", { colspan: 8, class: "error" }, run.error)));
      continue;
    }
    const accuracy = run.accuracy.judged ? `${percent(run.accuracy.accuracy)} (${percent(run.accuracy.ci_low)}–${percent(run.accuracy.ci_high)})` : "n/a";
    const pick = el("input", { type: "checkbox", class: "pick", "data-run": run.run, onclick: (event) => {
      event.stopPropagation();
      if (pick.checked) chosen.push(run.run); else chosen.splice(chosen.indexOf(run.run), 1);
      compare.disabled = chosen.length !== 2;
    } });
    table.append(el("tr", { class: "link", onclick: () => (location.hash = `#/run/${run.run}`) },
      el("td", {}, pick), el("td", {}, run.run), el("td", {}, run.kind ?? "run"), el("td", {}, run.dataset), el("td", {}, run.doctor ?? "-"),
      el("td", {}, run.strategy ?? "baseline"), el("td", {}, `${run.episodes}/${run.planned}`), el("td", {}, accuracy),
      el("td", {}, run.errors), el("td", {}, "$" + run.cost_usd.toFixed(4))));
  }
  main.replaceChildren(el("h2", {}, `Runs in ${data.root}`), data.runs.length ? table : el("p", { class: "muted" }, "No run directories here yet."),
    ...(window.MEDSIM_DATA ? [] : [el("p", {}, compare)]));
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
  if (data.arm_of) {
    // An arm of an ablation: the whole ablation's table, and its accuracy–cost chart as an image.
    parts.push(el("h3", {}, "The ablation this run is an arm of"), el("pre", { id: "ablation" }, data.arm_of.ablation));
    if (data.arm_of.pareto) parts.push(el("img", { id: "pareto", alt: "accuracy against care cost per case", src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(data.arm_of.pareto) }));
  }
  if (summary.care_cost_by_tag && Object.keys(summary.care_cost_by_tag).length) {
    parts.push(el("p", { class: "muted", id: "cost-by-tag" }, "Care cost per case by tag: " + Object.entries(summary.care_cost_by_tag).map(([tag, cost]) => `${tag} $${cost.toFixed(0)}`).join(", ")));
  }
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

// ---- Comparing two runs ----

async function compareView(a, b) {
  where.textContent = "compare";
  const data = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const describeSide = (side) => `${side.run}: ${side.doctor ?? "-"}, ${side.strategy ?? "baseline"} — ` +
    (side.accuracy.judged ? `${percent(side.accuracy.accuracy)} (${percent(side.accuracy.ci_low)}–${percent(side.accuracy.ci_high)}), ${side.accuracy.correct}/${side.accuracy.judged}` : "n/a") +
    (side.care_cost ? `, care cost $${side.care_cost.mean.toFixed(0)} per case` : "");
  const table = el("table", { id: "pairs" },
    el("tr", {}, el("th", {}, ""), el("th", {}, "B correct"), el("th", {}, "B wrong")),
    el("tr", {}, el("th", {}, "A correct"), el("td", {}, data.both_correct), el("td", {}, data.only_a)),
    el("tr", {}, el("th", {}, "A wrong"), el("td", {}, data.only_b), el("td", {}, data.neither)));
  const rows = el("table", { id: "compare-rows" }, el("tr", {}, ...["case", "repeat", "A", "A's diagnosis", "B", "B's diagnosis"].map((h) => el("th", {}, h))));
  for (const row of data.rows) {
    rows.append(el("tr", {}, el("td", {}, row.case_id), el("td", {}, row.repeat),
      el("td", { class: row.a ? "correct" : "incorrect" }, row.a ? "correct" : "wrong"), el("td", {}, row.a_diagnosis ?? ""),
      el("td", { class: row.b ? "correct" : "incorrect" }, row.b ? "correct" : "wrong"), el("td", {}, row.b_diagnosis ?? "")));
  }
  main.replaceChildren(el("h2", {}, "Two runs, case by case"),
    el("p", { id: "side-a" }, "A = " + describeSide(data.a)), el("p", { id: "side-b" }, "B = " + describeSide(data.b)),
    el("p", { id: "mcnemar" }, `${data.paired} paired episodes (${data.errors_left_out} with an error left out). McNemar's exact test on the ${data.only_a + data.only_b} discordant pairs: p = ${data.mcnemar_p.toPrecision(3)}.`),
    table, el("h3", {}, "Episodes"), rows);
}

// ---- The live clinic ----

async function liveForm() {
  where.textContent = "live clinic";
  const options = await api("/api/live/options");
  if (!options.available) {
    main.replaceChildren(el("p", { class: "error", id: "error" }, "Live runs are off: this server was started with --no-live (or without models). Start `medsim serve` with models to run consultations here."));
    return;
  }
  if (!token) {
    main.replaceChildren(el("p", { class: "error", id: "error" }, "No token: open the address `medsim serve` printed (it ends in ?token=…)."));
    return;
  }
  const select = (id, values, chosen) => el("select", { id }, ...values.map((value) => el("option", { value, selected: value === chosen }, value)));
  const dataset = select("live-dataset", options.datasets, "builtin");
  const cases = el("select", { id: "live-cases", multiple: true, size: 8 });
  const loadCases = async () => {
    const listed = await live(`/api/live/cases?dataset=${encodeURIComponent(dataset.value)}`);
    cases.replaceChildren(...listed.cases.map((item) => el("option", { value: item.id }, `${item.id} — ${item.objective.slice(0, 70)}`)));
  };
  dataset.onchange = () => loadCases().catch(showError);
  await loadCases();
  const seat = select("live-seat", ["none", "doctor", "patient"], "none");
  const protocol = select("live-protocol", options.protocols, "tools");
  const strategy = el("input", { id: "live-strategy", value: "baseline", list: "strategies" });
  const strategies = el("datalist", { id: "strategies" }, ...options.strategies.map((name) => el("option", { value: name })));
  const turns = el("input", { id: "live-turns", type: "number", min: 1, max: 40, value: Math.min(options.max_turns, 10) });
  const limit = el("input", { id: "live-limit", type: "number", min: 1, placeholder: "all" });
  const concurrency = el("input", { id: "live-concurrency", type: "number", min: 1, max: options.max_concurrency, value: 4 });
  const budget = el("input", { id: "live-budget", type: "number", min: 0, placeholder: "none" });
  const prices = el("input", { id: "live-prices", type: "checkbox" });
  const modelChoice = (role) => el("select", { id: `live-${role}-model` }, el("option", { value: "" }, `server default (${options.models[role] ?? "-"})`),
    ...options.choices.map((model) => el("option", { value: model }, model)));
  const roleModels = Object.fromEntries(["doctor", "patient", "judge"].map((role) => [role, modelChoice(role)]));
  const message = el("p", { class: "muted", id: "live-message" });
  const start = el("button", { id: "live-start", onclick: async () => {
    const picked = [...cases.selectedOptions].map((option) => option.value);
    const body = { dataset: dataset.value, cases: seat.value === "none" ? picked : picked.slice(0, 1), protocol: protocol.value,
      strategy: strategy.value, max_turns: Number(turns.value), concurrency: Number(concurrency.value), show_prices: prices.checked };
    if (seat.value !== "none") body.seat = seat.value;
    if (limit.value) body.limit = Number(limit.value);
    if (budget.value) body.budget = Number(budget.value);
    for (const [role, choice] of Object.entries(roleModels)) if (choice.value) body[`${role}_model`] = choice.value;
    try {
      const session = await live("/api/live/start", body);
      location.hash = `#/live/${session.id}`;
    } catch (error) {
      message.textContent = error.message;
      message.className = "error";
    }
  } }, "Start");
  const row = (label, input) => el("label", { class: "field" }, el("span", {}, label), input);
  const models = Object.entries(options.models).map(([role, model]) => `${role}: ${model}`).join(" · ");
  const sessions = await live("/api/live").catch(() => ({ sessions: [] }));
  main.replaceChildren(el("h2", {}, "Live clinic"),
    el("p", { class: "muted" }, `This server's models — ${models}. Keys stay on the server. A person may take the doctor's or the patient's seat in one consultation; models play the other roles.`),
    el("div", { class: "form" }, row("dataset", dataset), row("cases (none selected: all)", cases), row("first N cases", limit), row("your seat", seat),
      row("protocol", protocol), row("strategy", strategy), strategies, row("turns", turns), row("episodes at once", concurrency),
      row("budget per case (USD)", budget), row("show the doctor prices", prices),
      row("doctor's model", roleModels.doctor), row("patient's model", roleModels.patient), row("judge's model", roleModels.judge), start, message),
    ...(sessions.sessions.length ? [el("h3", {}, "Sessions"), el("ul", {}, ...sessions.sessions.map((item) =>
      el("li", {}, el("a", { href: `#/live/${item.id}` }, `${item.id}: ${item.kind}, ${item.finished}/${item.total} finished, ${item.state}`))))] : []));
}

// Rooms of the drawn clinic, and where an agent stands in each.
const ROOMS = {
  waiting: { x: 5, y: 5, w: 140, h: 95, label: "Waiting room" },
  consulting: { x: 150, y: 5, w: 170, h: 95, label: "Consulting room" },
  lab: { x: 5, y: 105, w: 100, h: 80, label: "Lab" },
  imaging: { x: 110, y: 105, w: 100, h: 80, label: "Imaging" },
  meeting: { x: 215, y: 105, w: 105, h: 80, label: "Meeting room" },
};
const SPOTS = { patient: [0.35, 0.6], doctor: [0.7, 0.6], lab: [0.5, 0.62], imaging: [0.5, 0.62], member: [0.5, 0.62] };
const IMAGING = /x-?ray|radiograph|\bct\b|mri|ultrasound|sonograph|echo|scan|imaging|angiogra|mammogra|pet\b|film/i;

function place(agent, room, spot, offset = 0) {
  const box = ROOMS[room];
  const x = box.x + box.w * spot[0] + offset, y = box.y + box.h * spot[1];
  agent.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
  agent.dataset.room = room;
}

function agent(letter, colour, title) {
  const group = svg("g", { class: "agent", "data-agent": title });
  group.append(svg("circle", { r: 11, fill: colour }), svg("text", { "text-anchor": "middle", y: 4, fill: "white", "font-weight": "bold" }, letter), svg("title", {}, title));
  return group;
}

// One episode's clinic: rooms, the patient, the doctor, the lab and imaging staff, the panel.
function clinic(caseId, repeat) {
  const key = `${caseId}#${repeat}`;
  const drawing = svg("svg", { viewBox: "0 0 325 190", class: "clinic-map", role: "img" });
  for (const [name, box] of Object.entries(ROOMS)) {
    drawing.append(svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: 6, class: `room room-${name}` }),
      svg("text", { x: box.x + 5, y: box.y + 13, class: "room-label" }, box.label));
  }
  const agents = { patient: agent("P", "#e67e22", "patient"), doctor: agent("D", "#1f77b4", "doctor"), lab: agent("L", "#6a51a3", "lab"), imaging: agent("R", "#6a51a3", "imaging") };
  place(agents.patient, "waiting", SPOTS.patient);
  place(agents.doctor, "consulting", SPOTS.doctor);
  place(agents.lab, "lab", SPOTS.lab);
  place(agents.imaging, "imaging", SPOTS.imaging);
  const members = svg("g", { class: "members" });
  drawing.append(members, ...Object.values(agents));
  const badge = el("span", { class: "badge" }, "waiting");
  const node = el("div", { class: "clinic", id: `clinic-${caseId}-${repeat}`, "data-case": caseId }, el("div", { class: "clinic-title" }, `${caseId}${repeat ? " #" + repeat : ""} `, badge), drawing);
  return { key, node, agents, members, badge, events: [] };
}

// Moves a clinic's agents for one engine event.
function animate(room, event) {
  const { agents, members, badge } = room;
  switch (event.type) {
    case "utterance":
      if (event.role === "doctor") { place(agents.patient, "consulting", SPOTS.patient); place(agents.doctor, "consulting", SPOTS.doctor); badge.textContent = `turn ${event.turn}`; }
      break;
    case "test_order": {
      const where = event.tests.some((test) => IMAGING.test(test)) ? "imaging" : "lab";
      place(agents.patient, where, SPOTS.patient, -22);
      agents[where].classList.add("busy");
      badge.textContent = `${where}: ${event.tests.join(", ").slice(0, 40)}`;
      break;
    }
    case "test_results":
      agents.lab.classList.remove("busy"); agents.imaging.classList.remove("busy");
      place(agents.patient, "consulting", SPOTS.patient);
      break;
    case "opinion": case "vote": case "deliberation": {
      place(agents.doctor, "meeting", SPOTS.member, -25);
      if (event.type === "opinion" && !members.querySelector(`[data-member="${event.member}"]`)) {
        const member = agent(String(event.member + 1), "#2a9d8f", event.stance);
        member.dataset.member = event.member;
        members.append(member);
        place(member, "meeting", SPOTS.member, -5 + 16 * (event.member % 4));
      }
      badge.textContent = event.type === "deliberation" ? `team: ${event.decision}` : "panel meets";
      break;
    }
    case "diagnosis":
      place(agents.doctor, "consulting", SPOTS.doctor);
      members.replaceChildren();
      badge.textContent = `diagnosis: ${event.diagnosis.primary}`.slice(0, 48);
      break;
    case "verdict":
      badge.textContent = event.verdict.correct ? "CORRECT" : "INCORRECT";
      badge.className = `badge done ${event.verdict.correct ? "correct" : "incorrect"}`;
      place(agents.patient, "waiting", SPOTS.patient);
      break;
    case "error":
      badge.textContent = "ERROR"; badge.className = "badge done incorrect";
      break;
  }
}

let liveStream = null;

async function liveView(id) {
  where.textContent = `live ${id}`;
  if (liveStream) liveStream.close();
  const status = await live(`/api/live/${encodeURIComponent(id)}`);
  const progress = el("progress", { id: "live-progress", max: status.total, value: 0 });
  const counts = el("span", { id: "live-counts" }, `0/${status.total} finished`);
  const grid = el("div", { class: "clinics", id: "clinics" });
  const transcript = el("div", { id: "live-transcript" });
  const heading = el("h3", { id: "transcript-title" }, "Transcript");
  const seatPanel = el("div", { id: "seat", class: "seat" });
  const done = el("p", { id: "live-done", class: "muted" });
  main.replaceChildren(el("h2", {}, `Live ${status.kind} ${id}`), el("p", {}, progress, " ", counts), seatPanel,
    el("div", { class: "live" }, grid, el("div", { class: "live-side" }, heading, transcript)), done);
  const rooms = new Map();
  let selected = null, finished = 0, correct = 0;
  const show = (room) => {
    selected = room.key;
    heading.textContent = `Transcript — ${room.key}`;
    transcript.replaceChildren(...room.events.map(line));
    for (const other of rooms.values()) other.node.classList.toggle("selected", other.key === selected);
  };
  const line = (event) => {
    const shown = describe(event);
    return shown ? el("div", { class: `event ${shown[0]}`, "data-type": event.type }, shown[1]) : document.createTextNode("");
  };
  const roomOf = (caseId, repeat) => {
    const key = `${caseId}#${repeat}`;
    if (!rooms.has(key)) {
      const room = clinic(caseId, repeat);
      room.node.onclick = () => show(room);
      rooms.set(key, room);
      grid.append(room.node);
      if (!selected) show(room);
    }
    return rooms.get(key);
  };
  const stream = new EventSource(`/api/live/${encodeURIComponent(id)}/events?token=${encodeURIComponent(token)}`);
  liveStream = stream;
  stream.onmessage = (event) => { for (const data of JSON.parse(event.data)) handle(data); };
  const handle = (data) => {
    switch (data.kind) {
      case "episode_started": roomOf(data.case, data.repeat); break;
      case "event": {
        const room = roomOf(data.case, data.repeat);
        room.events.push(data.event);
        animate(room, data.event);
        if (room.key === selected) transcript.append(line(data.event));
        break;
      }
      case "episode_finished":
        finished += 1; correct += data.outcome === "correct" ? 1 : 0;
        progress.value = finished;
        counts.textContent = `${finished}/${status.total} finished · ${correct} correct`;
        break;
      case "patient_facts":
        seatPanel.dataset.facts = data.facts;
        break;
      case "seat": seatControls(id, seatPanel, data.prompt); break;
      case "seat_done": seatPanel.replaceChildren(el("p", { class: "muted" }, "Waiting for the others…")); break;
      case "finished":
        seatPanel.replaceChildren();
        done.replaceChildren("Finished. ", el("a", { href: `#/run/${data.directory}`, id: "recorded" }, `The recorded run: ${data.directory}`));
        stream.close();
        break;
      case "failed":
        done.className = "error"; done.textContent = `The run failed: ${data.error}`;
        stream.close();
        break;
    }
  };
}

// The person's controls: the doctor's four moves, or the patient's answer.
function seatControls(id, panel, prompt) {
  const send = async (move) => {
    try { await live(`/api/live/${encodeURIComponent(id)}/reply`, move); } catch (error) { note.textContent = error.message; note.className = "error"; }
  };
  const note = el("p", { class: "muted", id: "seat-note" });
  if (prompt.role === "patient") {
    const answer = el("input", { id: "seat-answer", placeholder: "your answer, in 1–3 sentences", size: 60 });
    panel.replaceChildren(el("h3", {}, "You are the patient"), el("pre", { class: "facts" }, panel.dataset.facts || ""),
      el("p", { id: "seat-question" }, `The doctor: ${prompt.question}`), answer,
      el("button", { id: "seat-send", onclick: () => send({ action: "answer", text: answer.value }) }, "Answer"), note);
    return;
  }
  const question = el("input", { id: "seat-question", placeholder: "a question for the patient", size: 50 });
  const tests = el("input", { id: "seat-tests", placeholder: "tests, comma-separated (suggestions as you type)", size: 50, list: "test-names" });
  const names = el("datalist", { id: "test-names" });
  tests.oninput = async () => {
    const last = tests.value.split(",").pop().trim();
    if (last.length < 2) return;
    const found = await api(`/api/lexicon?q=${encodeURIComponent(last)}`);
    const head = tests.value.includes(",") ? tests.value.slice(0, tests.value.lastIndexOf(",") + 1) + " " : "";
    names.replaceChildren(...found.tests.map((name) => el("option", { value: head + name })));
  };
  const primary = el("input", { id: "seat-diagnosis", placeholder: "your diagnosis", size: 40 });
  const differential = el("input", { id: "seat-differential", placeholder: "differential, comma-separated (optional)", size: 40 });
  const disabled = prompt.must_diagnose;
  panel.replaceChildren(el("h3", {}, `You are the doctor — turn ${prompt.turn} of ${prompt.max_turns}`),
    el("p", { class: "muted" }, prompt.presentation),
    ...(prompt.response ? [el("pre", { id: "seat-response", class: "response" }, prompt.response)] : []),
    ...(prompt.images?.length ? [el("div", { id: "seat-images-shown" }, ...prompt.images.map((url) => el("img", { src: url, alt: "case image", class: "case-image" })))] : []),
    ...(prompt.spending ? [el("p", { class: "muted" }, prompt.spending)] : []),
    ...(prompt.must_diagnose ? [el("p", { class: "error" }, "Your turns are used up: give your diagnosis.")] : []),
    el("div", { class: "moves" },
      el("div", {}, question, el("button", { id: "seat-ask", disabled, onclick: () => send({ action: "ask", question: question.value }) }, "Ask")),
      el("div", {}, tests, names, el("button", { id: "seat-order", disabled, onclick: () => send({ action: "order", tests: tests.value.split(",").map((test) => test.trim()).filter(Boolean) }) }, "Order tests")),
      el("div", {}, el("button", { id: "seat-images", disabled: disabled || !prompt.images_available, onclick: () => send({ action: "images" }) }, "Request images")),
      el("div", {}, primary, differential, el("button", { id: "seat-diagnose", onclick: () => send({ action: "diagnose", primary: primary.value, differential: differential.value.split(",").map((item) => item.trim()).filter(Boolean) }) }, "Diagnose"))),
    note);
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0].startsWith("compare")) {
      const query = new URLSearchParams(location.hash.split("?")[1] || "");
      await compareView(query.get("a"), query.get("b"));
    } else if (parts[0] === "live" && parts.length > 1) await liveView(parts[1]);
    else if (parts[0] === "live") await liveForm();
    else if (parts[0] === "run" && parts.length > 1) await runView(parts.slice(1).join("/"));
    else if (parts[0] === "episode" && parts.length > 3) await episodeView(parts.slice(1, -2).join("/"), parts[parts.length - 2], parts[parts.length - 1]);
    else await runList();
  } catch (error) {
    showError(error);
  }
}

window.addEventListener("hashchange", route);
route();
