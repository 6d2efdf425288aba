// The agent console: my tickets and the queues I work, live; a ticket's whole thread;
// claim, reply, note, edit, transfer, resolve; the customer's 360° view, masked.
import {
  ApiError, api, applyStaticText, askReason, clockTime, currentLang, debounce, ensureLoggedIn,
  h, liveEvents, logOut, slaChip, t, term, tickClocks, toast, toggleLang,
} from "/staff/desk.js";

const ACTIVE = ["new", "open", "pending", "escalated"];
const STATUSES = ["new", "open", "pending", "escalated", "resolved", "closed"];
// Channels where a live conversation can be handed back to the assistant.
const CONVERSATION_CHANNELS = ["web", "wechat", "voice", "rest"];
const PRIORITIES = ["low", "normal", "high", "urgent"];

const state = {
  me: null,
  list: "mine",
  lists: { mine: [], queue: [] },
  seen: new Set(),
  selected: null, // ticket number
  ticket: null, // the open ticket (full)
  queues: [],
  agents: [],
  canned: { zh: [], en: [] },
  composeMode: "public",
  draft: "",
  notice: null, // a message shown on the open ticket (e.g. a lost claim)
};

const $ = (id) => document.getElementById(id);

function isSupervisor() {
  return state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of [].concat(value)) search.append(key, item);
  }
  return search.toString();
}

async function loadLists() {
  const [mine, waiting] = await Promise.all([
    api(`/tickets?${query({ assignee: "me", status: ACTIVE, sort: "resolution_due_at", limit: 100 })}`),
    api(`/tickets?${query({ assignee: "none", status: ACTIVE, sort: "-priority", limit: 100 })}`),
  ]);
  state.lists.mine = mine.items;
  state.lists.queue = waiting.items;
  renderLists();
}

function renderLists() {
  $("count-mine").textContent = String(state.lists.mine.length);
  $("count-queue").textContent = String(state.lists.queue.length);
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.list === state.list));
  }
  const list = $("ticket-list");
  const items = state.lists[state.list];
  const firstRender = state.seen.size === 0;
  list.replaceChildren(
    ...(items.length
      ? items.map((ticket) => {
          const fresh = !firstRender && !state.seen.has(`${ticket.number}:${ticket.version}`);
          return h(
            "li",
            {
              role: "option",
              class: fresh ? "fresh" : "",
              "aria-selected": String(ticket.number === state.selected),
              dataset: { number: ticket.number },
              onclick: () => openTicket(ticket.number),
            },
            h("div", { class: "row1" },
              h("span", { class: "number" }, ticket.number),
              h("span", { class: `chip status-${ticket.status}` }, term(ticket.status)),
              h("span", { class: `chip priority-${ticket.priority}` }, term(ticket.priority)),
            ),
            h("div", { class: "subject" }, ticket.subject),
            h("div", { class: "row3" },
              slaChip(ticket),
              h("span", { class: "chip" }, `${queueName(ticket.queue)} · ${term(ticket.channel)}`),
            ),
          );
        })
      : [h("li", { class: "empty" }, t("no_tickets"))]),
  );
  for (const lists of Object.values(state.lists)) {
    for (const ticket of lists) state.seen.add(`${ticket.number}:${ticket.version}`);
  }
  if (firstRender && !state.seen.size) state.seen.add("(none)");
  tickClocks(list);
}

function queueName(key) {
  const queue = state.queues.find((q) => q.key === key);
  return queue ? queue.names[currentLang()] : key;
}

async function openTicket(number, { keepNotice = false } = {}) {
  if (number !== state.selected) {
    state.draft = "";
    if (!keepNotice) state.notice = null;
  }
  state.selected = number;
  for (const li of document.querySelectorAll("#ticket-list li[data-number]")) {
    li.setAttribute("aria-selected", String(li.dataset.number === number));
  }
  try {
    state.ticket = await api(`/tickets/${encodeURIComponent(number)}`);
  } catch (problem) {
    state.ticket = null;
    $("detail").replaceChildren(h("p", { class: "empty" }, problem.message));
    return;
  }
  renderDetail();
  loadCustomer(state.ticket.customer_id);
}

function select(name, values, current, label) {
  return h("label", {},
    h("span", {}, t(label)),
    h("select", { name, "aria-label": t(label) },
      values.map((value) => h("option", { value: value.key ?? value, selected: (value.key ?? value) === current },
        value.names ? value.names[currentLang()] : term(value))),
    ),
  );
}

function renderDetail() {
  const ticket = state.ticket;
  const detail = $("detail");
  if (!ticket) {
    detail.replaceChildren(h("p", { class: "empty" }, t("pick_ticket")));
    return;
  }
  const mine = state.me && ticket.assignee === state.me.username;
  const claimable = !ticket.assignee && ["new", "open", "escalated"].includes(ticket.status);
  const active = ACTIVE.includes(ticket.status);

  const controls = h("form", { class: "controls", onsubmit: (e) => { e.preventDefault(); saveFields(e.target); } },
    select("status", STATUSES, ticket.status, "status"),
    select("priority", PRIORITIES, ticket.priority, "priority"),
    select("queue", state.queues, ticket.queue, "queue"),
    h("button", { type: "submit", id: "save" }, t("save")),
    h("span", { class: "sep" }),
    claimable ? h("button", { type: "button", class: "primary", id: "claim", onclick: claim }, t("claim")) : null,
    active ? h("button", { type: "button", id: "resolve", onclick: resolve }, t("resolve")) : null,
    active && CONVERSATION_CHANNELS.includes(ticket.channel)
      ? h("button", { type: "button", id: "handback", title: t("hand_back_hint"), onclick: handBack }, t("hand_back"))
      : null,
    isSupervisor() && active
      ? h("span", { class: "controls" },
          h("select", { id: "transfer-agent", "aria-label": t("transfer_agent") },
            state.agents
              .filter((a) => a.queues.includes(ticket.queue) && a.username !== ticket.assignee)
              .map((a) => h("option", { value: a.username }, `${a.display_name} (${a.load}/${a.capacity})`))),
          h("button", { type: "button", id: "transfer", onclick: transfer }, t("transfer")))
      : null,
  );

  const head = h("div", { class: "detail-head" },
    h("h2", {}, h("span", { id: "detail-number" }, ticket.number),
      h("span", { class: "subject", id: "detail-subject" }, maskedText(ticket.subject)),
      (ticket.masked_texts || []).includes("subject")
        ? revealButton("subject", null, "detail-subject")
        : null),
    h("div", { class: "meta" },
      h("span", { class: `chip status-${ticket.status}`, id: "detail-status" }, term(ticket.status)),
      h("span", { class: `chip priority-${ticket.priority}` }, term(ticket.priority)),
      h("span", { class: "chip" }, `${t("channel")}: ${term(ticket.channel)}`),
      h("span", { class: "chip" }, queueName(ticket.queue)),
      h("span", { class: "chip", id: "detail-assignee" }, `${t("assignee")}: ${ticket.assignee || t("unassigned")}`),
      slaChip(ticket),
    ),
    state.notice ? h("p", { class: "notice", role: "alert", id: "notice" }, state.notice) : null,
    controls,
  );

  const messages = [...ticket.messages].sort(
    (a, b) => new Date(a.created_at) - new Date(b.created_at) || a.id - b.id,
  );
  const thread = h("div", { class: "thread", id: "thread" },
    messages.map((m) => {
      const transcript = m.author_name === "transcript";
      return h("div", {
        class: `msg from-${m.author_type}${m.public || transcript ? "" : " internal"}`,
        dataset: { author: m.author_type, public: String(m.public) },
      },
        h("div", { class: "by" },
          h("strong", {}, m.author_type === "agent" ? (m.author_name || t("agent")) : t(m.author_type)),
          m.author_type === "customer" ? h("span", {}, `${t("via")} ${term(ticket.channel)}`) : null,
          transcript ? h("span", { class: "chip" }, t("transcript")) : null,
          !m.public && !transcript ? h("span", { class: "chip" }, t("internal")) : null,
          m.delivery
            ? h("span", {
              class: `chip delivery is-${m.delivery.status}`,
              dataset: { delivery: m.delivery.status },
              title: m.delivery.at ? clockTime(m.delivery.at) : "",
            }, `${t(`delivery_${m.delivery.status}`)} · ${term(m.delivery.channel)}`)
            : null,
          h("span", {}, clockTime(m.created_at)),
        ),
        h("div", { class: "body", id: `body-${m.id}` }, maskedText(m.body)),
        m.masked ? revealButton("message", m.id, `body-${m.id}`) : null,
      );
    }),
  );

  const canned = state.canned[ticket.language] || state.canned.en;
  const textarea = h("textarea", {
    id: "compose",
    "aria-label": t(state.composeMode === "public" ? "reply" : "note"),
    placeholder: t(state.composeMode === "public" ? "reply_placeholder" : "note_placeholder"),
    value: state.draft,
    oninput: (e) => { state.draft = e.target.value; },
    onkeydown: (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
    },
  });
  const composer = h("div", { class: `composer${state.composeMode === "note" ? " is-note" : ""}` },
    h("div", { class: "modes", role: "radiogroup" },
      ["public", "note"].map((mode) => h("label", {},
        h("input", {
          type: "radio", name: "mode", value: mode, checked: state.composeMode === mode,
          onchange: () => { state.composeMode = mode; renderDetail(); $("compose").focus(); },
        }),
        ` ${t(mode === "public" ? "reply" : "note")}`)),
      h("select", {
        id: "canned", "aria-label": t("canned"),
        onchange: (e) => {
          const chosen = canned[Number(e.target.value)];
          if (chosen) {
            state.draft = state.draft ? `${state.draft}\n${chosen.body}` : chosen.body;
            $("compose").value = state.draft;
            $("compose").focus();
          }
          e.target.value = "";
        },
      },
        h("option", { value: "" }, t("canned")),
        canned.map((c, i) => h("option", { value: String(i) }, c.title))),
    ),
    textarea,
    h("div", { class: "send-row" },
      h("button", { type: "button", class: "primary", id: "send", onclick: send }, t("send"))),
  );

  detail.replaceChildren(head, thread, ticket.status === "closed" ? null : composer);
  thread.scrollTop = thread.scrollHeight;
  tickClocks(detail);
}

async function act(action, doneMessage) {
  try {
    await action();
    if (doneMessage) toast(t(doneMessage), "ok");
  } catch (problem) {
    if (problem instanceof ApiError && problem.code === "version_conflict") {
      toast(t("version_conflict"), "error");
    } else if (problem instanceof ApiError && problem.code === "already_claimed") {
      const holder = problem.details && problem.details.holder;
      state.notice = holder ? `${t("already_claimed")}: ${holder}` : `${t("already_claimed")}: ${problem.message}`;
      toast(state.notice, "error");
    } else {
      toast(`${t("error")}: ${problem.message}`, "error");
    }
  }
  await Promise.all([loadLists(), state.selected ? openTicket(state.selected, { keepNotice: true }) : null]);
}

function claim() {
  return act(async () => {
    await api(`/tickets/${state.ticket.number}/claim`, { method: "POST" });
    state.notice = null;
    state.list = "mine";
  }, "claimed");
}

function resolve() {
  return act(() => api(`/tickets/${state.ticket.number}`, {
    method: "PATCH", body: { version: state.ticket.version, status: "resolved" },
  }), "resolved_done");
}

// The customer's chat, WeChat or call goes back to the assistant; the ticket stays as it is.
function handBack() {
  return act(() => api(`/tickets/${state.ticket.number}/handback`, { method: "POST" }), "handed_back_done");
}

function saveFields(form) {
  const data = new FormData(form);
  const body = { version: state.ticket.version };
  for (const field of ["status", "priority", "queue"]) {
    if (data.get(field) !== state.ticket[field]) body[field] = data.get(field);
  }
  if (Object.keys(body).length === 1) return Promise.resolve();
  return act(() => api(`/tickets/${state.ticket.number}`, { method: "PATCH", body }), "saved");
}

function transfer() {
  const agent = $("transfer-agent").value;
  return act(() => api(`/tickets/${state.ticket.number}/assign`, {
    method: "POST", body: { agent, force: true },
  }), "transferred");
}

function send() {
  const body = ($("compose").value || "").trim();
  if (!body) return Promise.resolve();
  const isPublic = state.composeMode === "public";
  return act(async () => {
    await api(`/tickets/${state.ticket.number}/messages`, { method: "POST", body: { body, public: isPublic } });
    state.draft = "";
  }, isPublic ? "sent" : "noted");
}

async function loadCustomer(customerId) {
  const body = $("customer-body");
  let profile;
  try {
    profile = await api(`/customers/${customerId}`);
  } catch (problem) {
    body.replaceChildren(h("p", { class: "empty" }, problem.message));
    return;
  }
  const field = (name, value) => h("div", { class: "field" },
    h("dt", {}, t(name)),
    h("dd", {},
      h("span", { id: `customer-${name}` }, value || t("none")),
      value && !profile.shown_in_clear.includes(name)
        ? h("button", { type: "button", "data-reveal": name, onclick: () => reveal(customerId, name) }, t("reveal"))
        : null),
  );
  body.replaceChildren(
    h("dl", {},
      ...[
        field("name", profile.name),
        field("phone", profile.phone),
        field("email", profile.email),
        field("id_number", profile.id_number),
      ].flatMap((f) => [...f.childNodes]),
      h("dt", {}, "ID"), h("dd", {}, `#${profile.id} · ${profile.language}`),
      h("dt", {}, t("tags")), h("dd", {}, profile.tags.length ? profile.tags.join(", ") : t("none")),
    ),
    h("h3", {}, t("identities")),
    h("ul", {}, profile.identities.map((i) => h("li", {},
      h("span", { class: "chip" }, i.kind), i.value || "—", i.verified ? " ✓" : ""))),
    h("h3", {}, t("history")),
    h("ul", {}, profile.tickets.map((tk) => h("li", {},
      h("a", { href: "#", onclick: (e) => { e.preventDefault(); openTicket(tk.number); } }, tk.number),
      h("span", { class: `chip status-${tk.status}` }, term(tk.status)),
      h("span", { class: "muted", title: tk.subject }, tk.subject)))),
    h("h3", {}, t("ratings")),
    profile.ratings.length
      ? h("ul", {}, profile.ratings.map((r) => h("li", {},
          h("span", { class: "stars" }, "★".repeat(r.score) + "☆".repeat(5 - r.score)),
          h("span", { class: "muted" }, r.comment || ""))))
      : h("p", { class: "muted" }, t("none")),
  );
}

// Why staff may see a field in full: the API's fixed list (ticketing/enums.py RevealReason).
const REVEAL_REASONS = ["customer_request", "callback", "verification", "dispute", "legal"];

// Masked personal data (138****5678) is shown as such; the stars are marked so the eye
// finds them, and a reveal (with a reason, audited) shows that one text in full.
function maskedText(text) {
  return (text || "").split(/(\*{3,})/).map((part, i) => (i % 2 ? h("span", { class: "mask" }, part) : part));
}

function revealButton(part, id, targetId) {
  return h("button", {
    type: "button", class: "reveal-text", "data-reveal-text": `${part}-${id ?? ""}`,
    title: t("reveal_title"), onclick: (e) => revealText(part, id, targetId, e.target),
  }, t("reveal"));
}

async function revealText(part, id, targetId, button) {
  const answer = await askReason(t("reveal_title"), t("reveal_reason"), {
    choices: REVEAL_REASONS.map((code) => [code, t(`reason_${code}`)]),
  });
  if (!answer) return;
  try {
    const result = await api(`/tickets/${state.ticket.number}/reveal`, {
      method: "POST", body: { part, id, reason_code: answer.code, reason: answer.reason },
    });
    const el = $(targetId);
    el.textContent = result.text || "";
    el.classList.add("revealed");
    button.remove();
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
}

async function reveal(customerId, name) {
  const answer = await askReason(`${t("reveal_title")}: ${t(name)}`, t("reveal_reason"), {
    choices: REVEAL_REASONS.map((code) => [code, t(`reason_${code}`)]),
  });
  if (!answer) return;
  try {
    const result = await api(`/customers/${customerId}/reveal`, {
      method: "POST", body: { field: name, reason_code: answer.code, reason: answer.reason },
    });
    const el = $(`customer-${name}`);
    el.textContent = result.value || t("none");
    el.classList.add("revealed");
    const button = document.querySelector(`[data-reveal="${name}"]`);
    if (button) button.remove();
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
}

function moveSelection(step) {
  const items = state.lists[state.list];
  if (!items.length) return;
  const index = items.findIndex((tk) => tk.number === state.selected);
  const next = items[Math.min(Math.max(index + step, 0), items.length - 1)];
  state.selected = next.number;
  for (const li of document.querySelectorAll("#ticket-list li[data-number]")) {
    const on = li.dataset.number === next.number;
    li.setAttribute("aria-selected", String(on));
    if (on) li.scrollIntoView({ block: "nearest" });
  }
}

function onKey(event) {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const handlers = {
    j: () => moveSelection(1),
    k: () => moveSelection(-1),
    Enter: () => state.selected && openTicket(state.selected),
    c: () => $("claim") && $("claim").click(),
    r: () => { if (state.ticket) { state.composeMode = "public"; renderDetail(); $("compose").focus(); } },
    n: () => { if (state.ticket) { state.composeMode = "note"; renderDetail(); $("compose").focus(); } },
  };
  const handler = handlers[event.key];
  if (handler) {
    event.preventDefault();
    handler();
  }
}

function rerender() {
  applyStaticText();
  renderLists();
  renderDetail();
  if (state.ticket) loadCustomer(state.ticket.customer_id);
}

async function main() {
  applyStaticText();
  for (const button of document.querySelectorAll("[data-action=lang]")) {
    button.addEventListener("click", () => { toggleLang(); if (state.me) rerender(); });
  }
  state.me = await ensureLoggedIn();
  document.querySelector("[data-action=logout]").addEventListener("click", logOut);
  $("who").textContent = `${state.me.display_name} · ${state.me.username}`;
  $("dashboard-link").hidden = !isSupervisor();

  const [queues, canned, agents] = await Promise.all([
    api("/queues"),
    api("/canned").then((found) => found.replies),
    api("/agents"),
  ]);
  state.queues = queues;
  state.canned = canned;
  state.agents = agents;
  const mine = agents.find((a) => a.username === state.me.username);
  if (mine) $("presence").value = mine.presence;
  $("presence").addEventListener("change", async (e) => {
    try {
      await api("/agents/me/presence", { method: "PUT", body: { presence: e.target.value } });
      await loadLists();
    } catch (problem) {
      toast(`${t("error")}: ${problem.message}`, "error");
    }
  });

  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    tab.addEventListener("click", () => { state.list = tab.dataset.list; renderLists(); });
  }
  document.addEventListener("keydown", onKey);
  await loadLists();
  if (state.lists.mine.length === 0 && state.lists.queue.length > 0) {
    state.list = "queue";
    renderLists();
  }
  // /console/#SD-100001 (the dashboard links here) opens that ticket.
  const linked = decodeURIComponent(location.hash.slice(1));
  if (/^SD-\d{6,12}$/.test(linked)) openTicket(linked);

  const refresh = debounce(async () => {
    await loadLists();
    if (isSupervisor()) state.agents = await api("/agents");
  }, 250);
  liveEvents(
    (event) => {
      refresh();
      if (event.ticket_number && event.ticket_number === state.selected) {
        openTicket(state.selected, { keepNotice: true });
      }
    },
  );
  setInterval(() => tickClocks(), 1000);
}

main();
