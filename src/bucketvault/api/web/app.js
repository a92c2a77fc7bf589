// bucketvault's web view: polls /v1/overview and drives plans through the plan API.
// Everything shown is set with textContent (keys and messages are user data, never HTML).
"use strict";

const REFRESH_MS = 1000;
const RUNNING = new Set(["IN_PROGRESS", "PENDING", "PREPARED", "STARTING", "STARTED", "DELAYED"]);
let token = sessionStorage.getItem("bv-token") || "";
let startTarget = null;
let timer = null;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function bytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function duration(s) {
  if (s === null || s === undefined) return "";
  s = Math.round(s);
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60), rest = s % 60;
  if (m < 60) return m + "m " + String(rest).padStart(2, "0") + "s";
  return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
}

function when(value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

async function api(method, path, body) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store", credentials: "omit",
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data };
}

function show(id, visible) { $(id).hidden = !visible; }

function notice(text, isError) {
  const target = isError ? "problem" : "notice";
  const other = isError ? "notice" : "problem";
  $(target).textContent = text;
  show(target, Boolean(text));
  show(other, false);
}

function progressText(p) {
  if (!p) return "";
  const parts = [];
  const done = p.objects_done || 0;
  parts.push(p.objects_total !== null && p.objects_total !== undefined
    ? done.toLocaleString("en") + "/" + p.objects_total.toLocaleString("en") + " objects"
    : done.toLocaleString("en") + " objects");
  if (p.bytes_done || p.bytes_total) {
    parts.push(p.bytes_total ? bytes(p.bytes_done) + "/" + bytes(p.bytes_total) : bytes(p.bytes_done));
  }
  if (p.rate_bytes_per_s) parts.push(bytes(p.rate_bytes_per_s) + "/s");
  if (p.eta_s !== null && p.eta_s !== undefined) parts.push("ETA " + duration(p.eta_s));
  if (p.failed) parts.push(p.failed + " failed");
  return parts.join(", ");
}

function progressBar(p) {
  if (!p || !p.objects_total) return null;
  const pct = Math.max(0, Math.min(100, 100 * (p.objects_done || 0) / p.objects_total));
  const bar = el("span");
  bar.style.width = pct.toFixed(1) + "%";
  return el("span", { class: "progress", title: pct.toFixed(0) + "%" }, bar);
}

async function command(service, plan, verb, body) {
  const path = "/v1/service/" + encodeURIComponent(service) + "/plans/" + encodeURIComponent(plan) + "/" + verb;
  const result = await api("POST", path, body);
  if (result.status === 401) { needToken(); return; }
  const message = result.data && result.data.message ? result.data.message : "HTTP " + result.status;
  if (result.status === 200) notice(plan + " (" + service + "): " + message, false);
  else notice(plan + " (" + service + "): " + message, true);
  refresh();
}

function openStart(service, plan) {
  startTarget = { service, plan };
  $("start-title").textContent = "Start " + plan + " of " + service;
  show("start-panel", true);
  $("start-key").focus();
}

function renderPlan(service, plan) {
  const status = plan.status;
  const id = service + "/" + plan.name;
  const running = RUNNING.has(status);
  const head = el("div", { class: "plan-head" },
    el("strong", { text: plan.name }),
    el("span", { class: "badge " + status, "data-role": "plan-status", text: status }),
    el("span", { class: "muted", text: "(" + plan.strategy + ")" }),
    el("span", { class: "actions" },
      el("button", { type: "button", "data-action": "start", onclick: () => openStart(service, plan.name) }, "Start"),
      el("button", { type: "button", "data-action": "pause", disabled: !running, onclick: () => command(service, plan.name, "interrupt") }, "Pause"),
      el("button", { type: "button", "data-action": "resume", disabled: status !== "WAITING", onclick: () => command(service, plan.name, "continue") }, "Resume"),
      el("button", { type: "button", "data-action": "stop", disabled: status === "COMPLETE", onclick: () => command(service, plan.name, "stop") }, "Stop")));
  const phases = el("ul", { class: "tree" });
  for (const phase of plan.phases || []) {
    const steps = el("ul", { class: "tree" });
    for (const step of phase.steps || []) {
      const text = RUNNING.has(step.status) ? progressText(step.progress) : (step.message || "");
      steps.append(el("li", { "data-step": step.name },
        step.name + " ",
        el("span", { class: "badge " + step.status, "data-role": "step-status", text: step.status }),
        RUNNING.has(step.status) ? progressBar(step.progress) : null,
        el("span", { class: "step-text", text: " " + text })));
    }
    phases.append(el("li", {},
      phase.name + " ",
      el("span", { class: "badge " + phase.status, text: phase.status }),
      el("span", { class: "muted", text: " (" + phase.strategy + ")" }),
      steps));
  }
  const node = el("div", { class: "plan", "data-plan": id }, head, phases);
  if (plan.errors && plan.errors.length) {
    const list = el("ul", { class: "plan-errors", "data-role": "plan-errors" });
    for (const line of plan.errors.slice(0, 20)) list.append(el("li", { text: line }));
    if (plan.errors.length > 20) list.append(el("li", { text: "… and " + (plan.errors.length - 20) + " more" }));
    node.append(list);
  }
  return node;
}

function renderServices(services) {
  const box = $("services");
  box.replaceChildren();
  if (!services.length) box.append(el("p", { class: "muted", text: "No service yet: add one with `bucketvault service add`." }));
  for (const service of services) {
    const card = el("div", { class: "service", "data-service": service.name }, el("h3", { text: service.name }));
    if (service.problem) card.append(el("p", { class: "error", text: service.problem }));
    for (const plan of service.plans) card.append(renderPlan(service.name, plan));
    box.append(card);
  }
}

function cells(row, values) {
  for (const value of values) row.append(value instanceof Node ? el("td", {}, value) : el("td", { text: String(value) }));
  return row;
}

function renderSchedules(schedules) {
  const body = $("schedules").tBodies[0];
  body.replaceChildren();
  for (const s of schedules) {
    body.append(cells(el("tr", { "data-schedule": s.service + "/" + s.id }), [
      s.service, s.id, s.plan, s.when, s.paused ? "paused" : when(s.next_run),
      s.last_fire ? when(s.last_fire) + ": " + s.last_outcome : "never", s.runs, s.skipped, s.failed,
    ]));
  }
  show("schedules-section", schedules.length > 0);
}

function renderRuns(runs) {
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  for (const r of runs) {
    const keys = el("td", { class: "keys" });
    for (const line of r.first_failed || []) keys.append(el("div", { text: line }));
    const row = cells(el("tr", { "data-run": r.service + "/" + r.plan }), [
      when(r.ended), r.service, r.plan, el("span", { class: "badge " + r.status, text: r.status }),
      duration(r.duration_seconds), r.objects_copied.toLocaleString("en") + " (" + bytes(r.bytes_copied) + ")",
      bytes(r.bytes_per_second) + "/s", r.objects_failed || r.error_count,
    ]);
    row.append(keys);
    body.append(row);
  }
  show("runs-section", runs.length > 0);
}

function needToken() {
  show("login", true);
  show("forget", false);
  for (const id of ["services-section", "schedules-section", "runs-section", "start-panel"]) show(id, false);
  $("updated").textContent = "token required";
}

async function refresh() {
  const asked = token;
  let result;
  try {
    result = await api("GET", "/v1/overview");
  } catch (e) {
    $("updated").textContent = "scheduler unreachable";
    return;
  }
  // an answer to a request made with a token since forgotten or replaced shows nothing
  if (asked !== token) return;
  if (result.status === 401) {
    if (token) { $("login-error").textContent = "That token was refused."; show("login-error", true); }
    needToken();
    return;
  }
  if (result.status !== 200 || !result.data) {
    notice("overview: HTTP " + result.status, true);
    return;
  }
  show("login", false);
  show("forget", Boolean(token));
  show("services-section", true);
  renderServices(result.data.services);
  renderSchedules(result.data.schedules);
  renderRuns(result.data.runs);
  $("updated").textContent = "updated " + when(result.data.now);
}

function parseParams(text) {
  const params = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error("write each parameter as NAME=VALUE");
    params[line.slice(0, at)] = line.slice(at + 1);
  }
  return params;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    sessionStorage.setItem("bv-token", token);
    show("login-error", false);
    refresh();
  });
  $("forget").addEventListener("click", () => {
    token = "";
    sessionStorage.removeItem("bv-token");
    needToken();
    refresh();
  });
  $("start-cancel").addEventListener("click", () => { show("start-panel", false); startTarget = null; });
  $("start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!startTarget) return;
    let params;
    try { params = parseParams($("start-params").value); } catch (e) { notice(e.message, true); return; }
    if ($("start-key").value) params.ACCESS_KEY_ID = $("start-key").value;
    if ($("start-secret").value) params.SECRET_ACCESS_KEY = $("start-secret").value;
    const target = startTarget;
    $("start-secret").value = "";
    show("start-panel", false);
    startTarget = null;
    await command(target.service, target.plan, "start", params);
  });
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
});
