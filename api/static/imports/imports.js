// The admin page of customer imports: download the template, upload a CSV or XLSX,
// follow the import's progress (stored by the API in the database, so any API
// instance answers), read its quality report, download the rejected rows, and resume
// a paused channel (admins). Plain ES module, no build step; values reach the page
// through h() / textContent only.
import {
  api, applyStaticText, ApiError, ensureLoggedIn, h, logOut, staff, t, toast, toggleLang, token,
} from "/staff/desk.js";
import { STRINGS } from "/staff/i18n.js";
import { WORDS } from "/imports/words.js";

for (const lang of Object.keys(WORDS)) Object.assign(STRINGS[lang], WORDS[lang]);

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
const state = { current: null, channels: [] };

function pct(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)}%`;
}

function card(label, value, kind = "", testid = undefined) {
  return h("div", { class: `card ${kind}` },
    h("div", { class: "label" }, label),
    h("div", { class: "value", "data-testid": testid }, value));
}

async function download(path, fallbackName) {
  try {
    const response = await api(path, { raw: true });
    const blob = await response.blob();
    const disposition = response.headers.get("Content-Disposition") || "";
    const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallbackName;
    const link = h("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
}

async function upload(event) {
  event.preventDefault();
  const form = event.target;
  $("upload-error").textContent = "";
  const data = new FormData(form);
  if (!data.get("channel")) data.delete("channel");
  if (!data.get("encoding")) data.delete("encoding");
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  try {
    const response = await fetch("/api/v1/customers/imports", {
      method: "POST",
      headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
      body: data,
    });
    const body = await response.json().catch(() => null);
    if (response.status === 401) logOut();
    if (!response.ok) throw new ApiError(response.status, body);
    form.reset();
    follow(body);
  } catch (problem) {
    const key = { 413: "imports_too_large", 409: "imports_channel_paused" }[problem.status];
    $("upload-error").textContent = key ? `${t(key)} (${problem.message})` : problem.message;
  } finally {
    submit.disabled = false;
  }
}

function follow(record) {
  state.current = record;
  render(record);
  if (record.status === "running") {
    setTimeout(async () => {
      try {
        follow(await api(`/customers/imports/${record.id}`));
      } catch (problem) {
        $("import-error").textContent = problem.message;
      }
    }, POLL_MS);
  } else {
    loadRecent();
    loadChannels();
  }
}

function render(record) {
  $("current").hidden = false;
  $("current-id").textContent = `#${record.id}`;
  const value = Math.round(100 * (record.progress || 0));
  $("progress").value = value;
  $("progress-text").textContent = `${value}%`;
  const status = $("status");
  status.className = `chip status-${record.status}`;
  status.textContent = t(`imports_status_${record.status}`);
  status.dataset.status = record.status;
  $("import-error").textContent = record.error || "";
  const report = record.report || {};
  $("report").hidden = record.status !== "done";
  if (record.status !== "done") return;
  $("counts").replaceChildren(
    card(t("imports_created"), record.created, "ok", "count-created"),
    card(t("imports_merged"), record.merged, "", "count-merged"),
    card(t("imports_unchanged"), record.unchanged, "", "count-unchanged"),
    card(t("imports_rejected"), record.rejected, record.rejected ? "bad" : "", "count-rejected"),
  );
  $("quality").replaceChildren(
    card(t("imports_quality"), pct(report.quality), report.quality < report.quality_floor ? "bad" : "ok", "quality"),
    card(t("imports_completeness"), pct(report.completeness)),
    card(t("imports_validity"), pct(report.validity)),
    card(t("imports_duplicates"), pct(report.duplicate_rate)),
  );
  const channels = Object.entries(report.channels || {});
  $("channel-report").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, t("channel")), h("th", { class: "num" }, t("imports_rows")),
      h("th", { class: "num" }, t("imports_quality")), h("th", { class: "num" }, t("imports_completeness")),
      h("th", { class: "num" }, t("imports_duplicates")))),
    h("tbody", {}, channels.map(([key, c]) => h("tr", { dataset: { channel: key } },
      h("td", { class: c.paused ? "paused" : "" }, c.paused ? `${key} · ${t("imports_paused")}` : key),
      h("td", { class: "num" }, c.rows),
      h("td", { class: "num" }, pct(c.quality)),
      h("td", { class: "num" }, pct(c.completeness)),
      h("td", { class: "num" }, pct(c.duplicate_rate))))),
  );
  const reasons = Object.entries(report.rejection_reasons || {});
  $("reasons").replaceChildren(
    h("tbody", {}, reasons.length
      ? reasons.map(([code, count]) => h("tr", {},
        h("td", {}, t(`imports_reason_${code}`)), h("td", { class: "num" }, count)))
      : h("tr", {}, h("td", { class: "muted" }, t("imports_no_rejections")))),
  );
  $("download-rejections").disabled = !record.rejected;
}

async function loadChannels() {
  state.channels = await api("/customers/import-channels");
  const select = document.querySelector("#upload select[name=channel]");
  const keep = select.value;
  select.replaceChildren(h("option", { value: "" }, t("imports_channel_from_file")),
    ...state.channels.map((c) => h("option", { value: c.key, disabled: c.paused }, c.key)));
  select.value = keep;
  const admin = staff().role === "admin";
  $("channels").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, t("channel")), h("th", {}, t("imports_kind")),
      h("th", { class: "num" }, t("imports_last_quality")), h("th", { class: "num" }, t("imports_streak")),
      h("th", {}, t("status")))),
    h("tbody", {}, state.channels.map((c) => h("tr", { dataset: { channel: c.key } },
      h("td", {}, c.key),
      h("td", {}, t(`imports_kind_${c.kind}`)),
      h("td", { class: "num" }, pct(c.last_quality)),
      h("td", { class: "num" }, c.low_quality_streak),
      h("td", {}, c.paused
        ? [h("span", { class: "paused" }, t("imports_paused")), " ",
          admin ? h("button", { type: "button", onclick: () => resume(c.key) }, t("imports_resume")) : null]
        : t("imports_active"))))),
  );
}

async function resume(key) {
  try {
    await api(`/customers/import-channels/${encodeURIComponent(key)}/resume`, { method: "POST" });
    toast(`${key}: ${t("imports_resumed")}`, "ok");
    await loadChannels();
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
}

async function loadRecent() {
  const rows = await api("/customers/imports?limit=10");
  $("recent").replaceChildren(
    h("thead", {}, h("tr", {},
      h("th", {}, "#"), h("th", {}, t("status")), h("th", { class: "num" }, t("imports_created")),
      h("th", { class: "num" }, t("imports_merged")), h("th", { class: "num" }, t("imports_rejected")),
      h("th", {}, t("imports_by")))),
    h("tbody", {}, rows.map((r) => h("tr", { onclick: () => follow(r), class: "clickable" },
      h("td", {}, r.id), h("td", {}, t(`imports_status_${r.status}`)),
      h("td", { class: "num" }, r.created), h("td", { class: "num" }, r.merged),
      h("td", { class: "num" }, r.rejected), h("td", {}, r.created_by)))),
  );
}

async function main() {
  applyStaticText();
  for (const button of document.querySelectorAll("[data-action=lang]")) {
    button.addEventListener("click", () => {
      toggleLang();
      if (state.current) render(state.current);
      if (!$("app").hidden) loadChannels().then(loadRecent);
    });
  }
  const me = await ensureLoggedIn();
  document.querySelector("[data-action=logout]").addEventListener("click", logOut);
  $("who").textContent = `${me.display_name} · ${me.username}`;
  if (me.role !== "supervisor" && me.role !== "admin") {
    $("imports").hidden = true;
    $("forbidden").hidden = false;
    return;
  }
  for (const button of document.querySelectorAll("[data-template]")) {
    button.addEventListener("click", () => download(
      `/customers/imports/template?format=${button.dataset.template}&lang=${button.dataset.lang}`,
      `customers-template.${button.dataset.template}`));
  }
  $("upload").addEventListener("submit", upload);
  $("download-rejections").addEventListener("click", () => download(
    `/customers/imports/${state.current.id}/rejections.csv`, "rejected.csv"));
  await Promise.all([loadChannels(), loadRecent()]);
}

main();
