// The supervisor dashboard: the desk right now (live), reassignment, and trends with
// charts (Apache ECharts, vendored), filters and a CSV export. Numbers come from
// /api/v1/reports, computed by the database; this page only draws them.
import {
  api, applyStaticText, clockTime, currentLang, debounce, duration, ensureLoggedIn, h,
  liveEvents, logOut, slaChip, t, term, tickClocks, toast, toggleLang,
} from "/staff/desk.js";

const CHANNELS = ["rest", "web", "wechat", "voice", "email", "phone", "api"];
const PERIODS = { "24h": 1, "7d": 7, "30d": 30 };
const COLORS = ["#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8250df", "#0a7ea4", "#bf3989"];

const state = { queues: [], now: null, trends: null, charts: {} };
const $ = (id) => document.getElementById(id);

function queueName(key) {
  const queue = state.queues.find((q) => q.key === key);
  return queue ? queue.names[currentLang()] : key;
}

function card(label, value, { sub, kind, testid } = {}) {
  return h("div", { class: `card${kind ? ` ${kind}` : ""}` },
    h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid }, value),
    sub ? h("div", { class: "sub" }, sub) : null);
}

function percent(part, whole) {
  return whole ? `${Math.round((100 * part) / whole)}%` : "—";
}

// ---- Right now -------------------------------------------------------------------

async function loadNow() {
  state.now = await api("/reports/now");
  renderNow();
}

function renderNow() {
  const now = state.now;
  if (!now) return;
  const waiting = now.queues.reduce((sum, q) => sum + q.waiting, 0);
  const oldest = Math.max(0, ...now.queues.map((q) => q.oldest_waiting_seconds || 0));
  const online = now.agents.filter((a) => a.presence === "online" && a.role !== "admin");
  $("now-cards").replaceChildren(
    card(t("waiting"), waiting, { testid: "total-waiting" }),
    card(t("oldest_waiting"), oldest ? duration(oldest) : "—"),
    card(t("at_risk"), now.at_risk.length, { kind: now.at_risk.length ? "warn" : "", testid: "at-risk-count" }),
    card(t("breached"), now.breached.length, { kind: now.breached.length ? "bad" : "", testid: "breached-count" }),
    card(t("agents_online"), online.length, { sub: online.map((a) => a.display_name).join(" · ") }),
  );

  $("queues-table").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, t("queue")), h("th", { class: "num" }, t("waiting")),
      h("th", { class: "num" }, t("active")), h("th", { class: "num" }, t("oldest_waiting")))),
    h("tbody", {}, now.queues.map((q) => h("tr", { dataset: { queue: q.key } },
      h("td", {}, q.names[currentLang()]),
      h("td", { class: "num", "data-testid": `waiting-${q.key}` }, q.waiting),
      h("td", { class: "num", "data-testid": `active-${q.key}` }, q.active),
      h("td", { class: "num" }, q.oldest_waiting_seconds ? duration(q.oldest_waiting_seconds) : "—")))),
  );

  $("agents-table").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, t("agent")), h("th", {}, t("presence")), h("th", {}, t("load")))),
    h("tbody", {}, now.agents.filter((a) => a.role !== "admin").map((a) => h("tr", { dataset: { agent: a.username } },
      h("td", {}, `${a.display_name} `, h("span", { class: "muted" }, a.username)),
      h("td", {}, h("span", { class: `presence ${a.presence}` }), t(a.presence)),
      h("td", { "data-testid": `load-${a.username}` },
        h("span", { class: `bar${a.load >= a.capacity ? " full" : ""}` },
          h("span", { style: `width: ${a.capacity ? Math.min(100, (100 * a.load) / a.capacity) : 100}%` })),
        `${a.load} / ${a.capacity}`)))),
  );

  const rows = [...now.breached, ...now.at_risk];
  $("risk-table").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, t("number")), h("th", {}, t("subject")), h("th", {}, t("queue")),
      h("th", {}, t("priority")), h("th", {}, t("assignee")), h("th", {}, t("due")), h("th", {}, t("reassign")))),
    h("tbody", {}, rows.length ? rows.map((ticket) => riskRow(ticket, now.agents))
      : [h("tr", {}, h("td", { colspan: 7, class: "empty" }, t("no_data")))]),
  );
  tickClocks($("risk-table"));
}

function riskRow(ticket, agents) {
  const candidates = agents.filter((a) => a.queues.includes(ticket.queue) && a.username !== ticket.assignee);
  const picker = h("select", { "aria-label": `${t("reassign")} ${ticket.number}` },
    candidates.map((a) => h("option", { value: a.username }, `${a.display_name} (${a.load}/${a.capacity})`)));
  return h("tr", { dataset: { number: ticket.number } },
    h("td", {}, h("a", { href: `/console/#${ticket.number}` }, ticket.number)),
    h("td", {}, ticket.subject),
    h("td", {}, queueName(ticket.queue)),
    h("td", {}, h("span", { class: `chip priority-${ticket.priority}` }, term(ticket.priority))),
    h("td", {}, ticket.assignee || t("unassigned")),
    h("td", {}, slaChip(ticket)),
    h("td", {}, candidates.length
      ? h("span", { class: "reassign" }, picker,
          h("button", { type: "button", onclick: () => reassign(ticket.number, picker.value) }, t("reassign")))
      : "—"),
  );
}

async function reassign(number, agent, force = false) {
  try {
    await api(`/tickets/${encodeURIComponent(number)}/assign`, { method: "POST", body: { agent, force } });
    toast(`${number} → ${agent}: ${t("reassigned")}`, "ok");
  } catch (problem) {
    if (problem.code === "agent_at_capacity" && !force) {
      return reassign(number, agent, true); // a supervisor's decision overrides capacity
    }
    toast(`${t("error")}: ${problem.message}`, "error");
  }
  await loadNow();
}

// ---- Trends ----------------------------------------------------------------------

function filterParams() {
  const form = new FormData($("filters"));
  const days = PERIODS[form.get("period")] || 7;
  const end = new Date();
  const start = new Date(end.getTime() - days * 86400 * 1000);
  const params = new URLSearchParams({ from: start.toISOString(), to: end.toISOString() });
  if (form.get("queue")) params.set("queue", form.get("queue"));
  if (form.get("channel")) params.set("channel", form.get("channel"));
  return params;
}

async function loadTrends() {
  state.trends = await api(`/reports/trends?${filterParams()}`);
  renderTrends();
}

function chart(id) {
  if (!state.charts[id]) state.charts[id] = window.echarts.init($(id), null, { renderer: "canvas" });
  return state.charts[id];
}

const AXIS = { axisLabel: { color: "#5b6b7c" }, axisLine: { lineStyle: { color: "#dde3ea" } } };
const GRID = { left: 44, right: 16, top: 30, bottom: 30 };

function renderTrends() {
  const tr = state.trends;
  if (!tr) return;
  const sum = (key) => tr.sla.reduce((total, day) => total + day[key], 0);
  const ratings = tr.csat.reduce((total, d) => total + d.ratings, 0);
  const meanScore = ratings ? tr.csat.reduce((total, d) => total + d.mean_score * d.ratings, 0) / ratings : null;
  const c = tr.containment;
  $("trend-cards").replaceChildren(
    card(t("tickets"), tr.tickets, { testid: "trend-tickets" }),
    card(t("sla_first"), percent(sum("first_response_met"), sum("first_response_decided")),
      { sub: `${sum("first_response_met")} / ${sum("first_response_decided")}`, testid: "sla-first" }),
    card(t("sla_resolution"), percent(sum("resolution_met"), sum("resolution_decided")),
      { sub: `${sum("resolution_met")} / ${sum("resolution_decided")}`, testid: "sla-resolution" }),
    card(t("csat"), meanScore === null ? "—" : meanScore.toFixed(2),
      { sub: `${t("ratings_count")}: ${ratings}`, testid: "csat" }),
    card(t("containment"), c.rate === null ? "—" : `${Math.round(c.rate * 100)}%`,
      { sub: `${c.contained} / ${c.bot_opened}`, testid: "containment" }),
  );

  // Tickets per hour, one stacked series per channel, every hour of the period on the axis.
  const hours = [];
  const first = new Date(tr.start);
  first.setUTCMinutes(0, 0, 0);
  for (let at = first.getTime(); at < new Date(tr.end).getTime(); at += 3600 * 1000) {
    hours.push(new Date(at).toISOString().slice(0, 13) + ":00");
  }
  const channels = [...new Set(tr.per_hour.map((p) => p.channel))];
  const counts = new Map(tr.per_hour.map((p) => [`${p.hour}|${p.channel}`, p.tickets]));
  chart("chart-hour").setOption({
    animation: false,
    color: COLORS, tooltip: { trigger: "axis" }, legend: { top: 0, data: channels.map(term) },
    grid: GRID,
    xAxis: { type: "category", data: hours.map((hour) => clockTime(`${hour}:00Z`)), ...AXIS },
    yAxis: { type: "value", minInterval: 1, ...AXIS },
    series: channels.map((ch) => ({
      name: term(ch), type: "bar", stack: "all", barCategoryGap: "10%",
      data: hours.map((hour) => counts.get(`${hour}|${ch}`) || 0),
    })),
  }, true);

  const histogram = (id, data, color) => chart(id).setOption({
    animation: false,
    color: [color], tooltip: { trigger: "axis" }, grid: GRID,
    xAxis: { type: "category", data: data.labels, ...AXIS },
    yAxis: { type: "value", minInterval: 1, ...AXIS },
    series: [{ type: "bar", data: data.counts, barWidth: "55%", label: { show: true, position: "top" } }],
    title: data.mean_seconds === null ? undefined : {
      text: `${currentLang() === "zh" ? "平均" : "mean"} ${duration(data.mean_seconds)}`,
      right: 10, top: 0, textStyle: { fontSize: 12, color: "#5b6b7c", fontWeight: "normal" },
    },
  }, true);
  histogram("chart-frt", tr.first_response, COLORS[0]);
  histogram("chart-resolution", tr.resolution, COLORS[1]);

  const pct = (met, decided) => (decided ? Math.round((1000 * met) / decided) / 10 : null);
  chart("chart-sla").setOption({
    animation: false,
    color: [COLORS[0], COLORS[1]], tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "—" : `${v}%`) },
    legend: { top: 0, data: [t("sla_first"), t("sla_resolution")] }, grid: GRID,
    xAxis: { type: "category", data: tr.sla.map((d) => d.day.slice(5)), ...AXIS },
    yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%", color: "#5b6b7c" } },
    series: [
      { name: t("sla_first"), type: "line", connectNulls: true, data: tr.sla.map((d) => pct(d.first_response_met, d.first_response_decided)) },
      { name: t("sla_resolution"), type: "line", connectNulls: true, data: tr.sla.map((d) => pct(d.resolution_met, d.resolution_decided)) },
    ],
  }, true);

  chart("chart-csat").setOption({
    animation: false,
    color: [COLORS[2], "#c9d3de"], tooltip: { trigger: "axis" },
    legend: { top: 0, data: [t("mean_score"), t("ratings_count")] }, grid: { ...GRID, right: 36 },
    xAxis: { type: "category", data: tr.csat.map((d) => d.day.slice(5)), ...AXIS },
    yAxis: [
      { type: "value", min: 0, max: 5, ...AXIS },
      { type: "value", minInterval: 1, splitLine: { show: false }, ...AXIS },
    ],
    series: [
      { name: t("mean_score"), type: "line", data: tr.csat.map((d) => Math.round(d.mean_score * 100) / 100), z: 3 },
      { name: t("ratings_count"), type: "bar", yAxisIndex: 1, data: tr.csat.map((d) => d.ratings), barWidth: "40%" },
    ],
  }, true);

  const categories = [...tr.top_categories].reverse();
  chart("chart-categories").setOption({
    animation: false,
    color: [COLORS[4]], tooltip: { trigger: "axis" }, grid: { ...GRID, left: 96, right: 36 },
    xAxis: { type: "value", minInterval: 1, ...AXIS },
    yAxis: { type: "category", data: categories.map((cat) => term(cat.category)), ...AXIS },
    series: [{ type: "bar", data: categories.map((cat) => cat.tickets), label: { show: true, position: "right" } }],
  }, true);

  const open = Math.max(0, c.bot_opened - c.contained - c.handled_by_staff);
  chart("chart-containment").setOption({
    animation: false,
    color: [COLORS[1], COLORS[0], "#c9d3de"], tooltip: { trigger: "item" },
    legend: { bottom: 0 },
    series: [{
      type: "pie", radius: ["40%", "68%"], center: ["50%", "45%"], label: { formatter: "{c}" },
      data: [
        { name: t("contained"), value: c.contained },
        { name: t("handled_by_staff"), value: c.handled_by_staff },
        { name: t("still_open"), value: open },
      ],
    }],
  }, true);
}

async function exportCsv() {
  try {
    const response = await api(`/reports/tickets.csv?${filterParams()}`, { raw: true });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "tickets.csv";
    const link = h("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
}

function fillFilters() {
  const form = $("filters");
  const keepQueue = form.queue.value;
  const keepChannel = form.channel.value;
  form.queue.replaceChildren(h("option", { value: "" }, t("all_queues")),
    ...state.queues.map((q) => h("option", { value: q.key }, q.names[currentLang()])));
  form.channel.replaceChildren(h("option", { value: "" }, t("all_channels")),
    ...CHANNELS.map((ch) => h("option", { value: ch }, term(ch))));
  form.queue.value = keepQueue;
  form.channel.value = keepChannel;
}

async function main() {
  applyStaticText();
  for (const button of document.querySelectorAll("[data-action=lang]")) {
    button.addEventListener("click", () => {
      toggleLang();
      if (state.queues.length) {
        fillFilters();
        renderNow();
        renderTrends();
      }
    });
  }
  const me = await ensureLoggedIn();
  document.querySelector("[data-action=logout]").addEventListener("click", logOut);
  $("who").textContent = `${me.display_name} · ${me.username}`;
  if (me.role !== "supervisor" && me.role !== "admin") {
    $("dashboard").hidden = true;
    $("forbidden").hidden = false;
    return;
  }
  state.queues = await api("/queues");
  fillFilters();
  $("filters").addEventListener("change", () => loadTrends());
  $("export").addEventListener("click", exportCsv);
  window.addEventListener("resize", debounce(() => Object.values(state.charts).forEach((c) => c.resize()), 150));
  await Promise.all([loadNow(), loadTrends()]);

  const refreshNow = debounce(loadNow, 300);
  const refreshTrends = debounce(loadTrends, 5000);
  liveEvents(
    () => {
      refreshNow();
      refreshTrends();
    },
  );
  setInterval(() => tickClocks(), 1000);
}

main();
