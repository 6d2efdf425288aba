// What the agent console and the supervisor dashboard share: words, the API client,
// log-in, live events, safe DOM building and SLA clocks. Plain ES module, no build step.
//
// Safety rules: every value from the API reaches the page through textContent or an
// attribute set by h(), never parsed as HTML; the staff token lives in sessionStorage
// (gone when the tab closes) and never in a URL.
import { STRINGS, TERMS } from "./i18n.js";

const TOKEN_KEY = "desk.staff.token";
const STAFF_KEY = "desk.staff.account";
const LANG_KEY = "desk.staff.lang";

let lang = localStorage.getItem(LANG_KEY) || (navigator.language || "zh").slice(0, 2);
if (!STRINGS[lang]) lang = "zh";

export function currentLang() {
  return lang;
}

export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

export function term(value) {
  if (value === null || value === undefined) return "";
  return TERMS[lang][value] ?? String(value);
}

export function toggleLang() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem(LANG_KEY, lang);
  applyStaticText();
}

// Elements with data-i18n="key" (text) or data-i18n-placeholder="key".
export function applyStaticText(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

// h("button", {class: "x", onclick: fn, dataset: {n: 1}}, "text", child) -> element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name in el) el[name] = value; // a property: value, checked, selected, href...
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function staff() {
  const raw = sessionStorage.getItem(STAFF_KEY);
  return raw ? JSON.parse(raw) : null;
}

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: raw ? "text/csv" : "application/json" };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && path !== "/auth/login") {
    logOut();
    throw new ApiError(401, null);
  }
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    throw new ApiError(response.status, parsed);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export async function logIn(username, password) {
  const result = await api("/auth/login", { method: "POST", body: { username, password } });
  sessionStorage.setItem(TOKEN_KEY, result.access_token);
  sessionStorage.setItem(STAFF_KEY, JSON.stringify(result.staff));
  return result.staff;
}

export function logOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(STAFF_KEY);
  location.reload();
}

// Show the log-in form until someone logs in; resolves with the staff account.
export function ensureLoggedIn() {
  const form = document.getElementById("login");
  const app = document.getElementById("app");
  if (token() && staff()) {
    form.hidden = true;
    app.hidden = false;
    return Promise.resolve(staff());
  }
  form.hidden = false;
  app.hidden = true;
  form.querySelector("input[name=username]").focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".login-error");
      error.textContent = "";
      const data = new FormData(form);
      try {
        const account = await logIn(String(data.get("username")), String(data.get("password")));
        form.hidden = true;
        app.hidden = false;
        resolve(account);
      } catch (problem) {
        error.textContent = problem.status === 401 ? t("login_failed") : t("error");
      }
    });
  });
}

// The #live badge in the page header: live, or reconnecting.
export function showLiveState(live) {
  const badge = document.getElementById("live");
  const key = live === "live" ? "live" : "reconnecting";
  badge.dataset.state = live;
  badge.textContent = t(key);
  badge.dataset.i18n = key;
}

// Live events: a stream ticket first (EventSource cannot send the Bearer token), then
// an EventSource; when the stream ends or fails, a fresh ticket and resume after the
// last event seen. onEvent gets the parsed event; onState "live" or "reconnecting"
// (by default shown on the page's #live badge).
export function liveEvents(onEvent, onState = showLiveState) {
  let lastId = null;
  let source = null;
  let stopped = false;

  async function connect() {
    if (stopped) return;
    try {
      const ticket = await api("/events/ticket", { method: "POST" });
      let url = `/api/v1/events/stream?ticket=${encodeURIComponent(ticket.ticket)}`;
      if (lastId) url += `&last_event_id=${encodeURIComponent(lastId)}`;
      source = new EventSource(url);
      source.onopen = () => onState("live");
      source.onmessage = (message) => {
        lastId = message.lastEventId || lastId;
        try {
          onEvent(JSON.parse(message.data));
        } catch (problem) {
          console.warn("bad event", problem);
        }
      };
      source.onerror = () => {
        // The server ends each stream after a while; reconnect with a fresh ticket.
        source.close();
        onState("reconnecting");
        setTimeout(connect, 1500);
      };
    } catch {
      onState("reconnecting");
      setTimeout(connect, 5000);
    }
  }
  connect();
  return () => {
    stopped = true;
    if (source) source.close();
  };
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function duration(seconds) {
  const s = Math.abs(Math.round(seconds));
  if (s < 3600) return `${Math.floor(s / 60)}${t("minutes")}`;
  if (s < 86400) return `${Math.floor(s / 3600)}${t("hours")}${Math.floor((s % 3600) / 60)}${t("minutes")}`;
  return `${Math.floor(s / 86400)}${t("days")}${Math.floor((s % 86400) / 3600)}${t("hours")}`;
}

export function clockTime(iso) {
  const date = new Date(iso);
  return date.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
}

const ACTIVE = new Set(["new", "open", "pending", "escalated"]);

// The SLA clock a ticket runs against now: first response until answered, then resolution.
export function slaClock(ticket) {
  if (!ACTIVE.has(ticket.status)) return null;
  const first = !ticket.first_responded_at;
  return {
    label: first ? "first_response_due" : "resolution_due",
    due: new Date(first ? ticket.first_response_due_at : ticket.resolution_due_at),
    start: new Date(ticket.created_at),
    serverState: ticket.sla_state,
    paused: ticket.status === "pending",
  };
}

// "ok" | "warning" (80 % of the target used, as the server's scheduler counts) | "breached".
export function slaLevel(clock, now = new Date()) {
  if (!clock) return "ok";
  if (clock.serverState === "breached" || now >= clock.due) return "breached";
  const warnAt = clock.start.getTime() + 0.8 * (clock.due.getTime() - clock.start.getTime());
  if (clock.serverState === "warning" || now.getTime() >= warnAt) return "warning";
  return "ok";
}

// A countdown chip kept up to date by tickClocks().
export function slaChip(ticket) {
  const clock = slaClock(ticket);
  if (!clock) return h("span", { class: "sla sla-none" }, "—");
  return h("span", {
    class: "sla",
    dataset: {
      due: clock.due.toISOString(),
      start: clock.start.toISOString(),
      server: clock.serverState,
      label: clock.label,
    },
  });
}

export function tickClocks(root = document) {
  const now = new Date();
  for (const el of root.querySelectorAll(".sla[data-due]")) {
    const clock = {
      due: new Date(el.dataset.due),
      start: new Date(el.dataset.start),
      serverState: el.dataset.server,
    };
    const level = slaLevel(clock, now);
    el.classList.toggle("sla-ok", level === "ok");
    el.classList.toggle("sla-warning", level === "warning");
    el.classList.toggle("sla-breached", level === "breached");
    el.dataset.level = level;
    const remaining = (clock.due.getTime() - now.getTime()) / 1000;
    el.textContent =
      remaining >= 0
        ? `${t(el.dataset.label)} ${t("left")} ${duration(remaining)}`
        : `${t(el.dataset.label)} ${t("overdue")} ${duration(remaining)}`;
    el.title = `${t(el.dataset.label)}: ${clockTime(el.dataset.due)}`;
  }
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = `toast toast-${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 4000);
}

// A modal asking for a reason: optionally one of fixed `choices` ([value, label] pairs,
// the first preselected) and always a reason in words. Resolves with { code, reason }
// (code null without choices), or null when cancelled.
export function askReason(title, prompt, { minLength = 5, choices = null } = {}) {
  const dialog = document.getElementById("reason-dialog");
  dialog.querySelector("h2").textContent = title;
  dialog.querySelector(".reason-text span").textContent = prompt;
  const select = dialog.querySelector("select[name=reason_code]");
  select.replaceChildren(...(choices || []).map(([value, label]) => h("option", { value }, label)));
  select.required = Boolean(choices);
  dialog.querySelector(".reason-code").hidden = !choices;
  const input = dialog.querySelector("textarea");
  input.value = "";
  input.minLength = minLength;
  dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok"
      ? { code: choices ? select.value : null, reason: input.value.trim() }
      : null);
  });
}
