// Staff administration: supervisors and admins create, edit and deactivate accounts and
// reset passwords. Every rule is the API's (/api/v1/admin/staff): who may grant admin,
// the last admin, versions; the page shows the API's answer.
import {
  api, applyStaticText, ensureLoggedIn, h, logOut, t, term, toast, toggleLang,
} from "/staff/desk.js";
import { STRINGS, TERMS } from "/staff/i18n.js";

// This page's words (the shared ones come from i18n.js).
Object.assign(STRINGS.zh, {
  admin_title: "员工管理",
  admin_staff: "员工",
  admin_name: "姓名",
  admin_role: "角色",
  admin_languages: "语言",
  admin_queues: "队列（技能）",
  admin_capacity: "容量",
  admin_state: "状态",
  admin_new: "新建账号",
  admin_create: "创建",
  admin_created: "账号已创建，首次登录须修改密码",
  admin_temporary_password: "临时密码（至少 10 个字符）",
  admin_first_login: "新账号和重置密码后的账号，登录后必须先修改密码。",
  admin_edit: "编辑",
  admin_save: "保存",
  admin_saved: "已保存",
  admin_deactivate: "停用",
  admin_deactivate_confirm: "停用 {user}？其未完成的工单将转给其他坐席（或回到等待队列）。",
  admin_deactivated: "已停用，转出工单 {n} 张",
  admin_reactivate: "启用",
  admin_reactivated: "已启用",
  admin_reset: "重置密码",
  admin_reset_prompt: "{user} 的临时密码（至少 10 个字符），对方下次登录须修改：",
  admin_reset_done: "密码已重置",
  admin_active: "在岗",
  admin_inactive: "已停用",
  admin_must_change_tag: "须改密码",
  admin_conflict: "该账号刚被别人修改过，已重新加载，请再操作一次",
  admin_forbidden: "只有主管和管理员可以管理员工。",
  admin_must_change: "你的密码已被重置，请先设置新密码",
  admin_current_password: "当前密码",
  admin_new_password: "新密码（至少 10 个字符）",
  admin_change_password: "修改密码",
  admin_password_changed: "密码已修改",
  role_agent: "坐席",
  role_supervisor: "主管",
  role_admin: "管理员",
  lang_zh: "中文",
  lang_en: "英文",
  admin_routing: "路由规则与 SLA",
  admin_routing_explain: "队列、各类别的队列和初始优先级、SLA 时限（分钟）、工作时间、升级层级。保存前整体校验；保存后所有 API 进程从下一张工单起使用，无需重启。",
  admin_routing_version: "版本 {v}，{by}",
  admin_routing_packaged: "版本 0：随软件发布的 routing.yml",
  admin_routing_saved: "路由规则已保存，立即生效",
  admin_routing_json: "不是有效的 JSON",
  admin_canned: "快捷回复",
  admin_canned_explain: "坐席工作台里可选的快捷回复，中英文各一组，每条有标题和内容。保存后坐席刷新页面即可使用。",
  admin_canned_saved: "快捷回复已保存",
});
Object.assign(STRINGS.en, {
  admin_title: "Staff administration",
  admin_staff: "Staff",
  admin_name: "Name",
  admin_role: "Role",
  admin_languages: "Languages",
  admin_queues: "Queues (skills)",
  admin_capacity: "Capacity",
  admin_state: "State",
  admin_new: "New account",
  admin_create: "Create",
  admin_created: "Account created; it must change its password at first log-in",
  admin_temporary_password: "Temporary password (10+ characters)",
  admin_first_login: "New accounts, and accounts whose password was reset, must change it at their next log-in.",
  admin_edit: "Edit",
  admin_save: "Save",
  admin_saved: "Saved",
  admin_deactivate: "Deactivate",
  admin_deactivate_confirm: "Deactivate {user}? Their unfinished tickets go to other agents (or back to the waiting line).",
  admin_deactivated: "Deactivated; {n} ticket(s) handed over",
  admin_reactivate: "Reactivate",
  admin_reactivated: "Reactivated",
  admin_reset: "Reset password",
  admin_reset_prompt: "Temporary password for {user} (10+ characters); they must change it at their next log-in:",
  admin_reset_done: "Password reset",
  admin_active: "Active",
  admin_inactive: "Deactivated",
  admin_must_change_tag: "Must change password",
  admin_conflict: "Someone changed this account meanwhile; reloaded, please try again",
  admin_forbidden: "Only supervisors and admins manage staff.",
  admin_must_change: "Your password was reset: choose a new one first",
  admin_current_password: "Current password",
  admin_new_password: "New password (10+ characters)",
  admin_change_password: "Change password",
  admin_password_changed: "Password changed",
  role_agent: "Agent",
  role_supervisor: "Supervisor",
  role_admin: "Admin",
  lang_zh: "Chinese",
  lang_en: "English",
  admin_routing: "Routing rules and SLA",
  admin_routing_explain: "Queues, each category's queue and starting priority, SLA targets (minutes), business hours, escalation tiers. Checked whole before saving; every API worker applies it from the next ticket, without a restart.",
  admin_routing_version: "Version {v}, by {by}",
  admin_routing_packaged: "Version 0: the packaged routing.yml",
  admin_routing_saved: "Routing saved: in force now",
  admin_routing_json: "Not valid JSON",
  admin_canned: "Canned replies",
  admin_canned_explain: "The replies agents pick from in the console, one list per language, each with a title and a body. Agents get them when they next open the console.",
  admin_canned_saved: "Canned replies saved",
});

// The supervisors' own queue, which only this page lists.
Object.assign(TERMS.zh, { supervisors: "主管队列" });
Object.assign(TERMS.en, { supervisors: "Supervisors" });

const LANGUAGES = ["zh", "en"];
const state = { me: null, staff: [], queues: [] };
const $ = (id) => document.getElementById(id);
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));

function roles() {
  // Only an admin may grant admin; the API refuses it anyway.
  return state.me.role === "admin" ? ["agent", "supervisor", "admin"] : ["agent", "supervisor"];
}

function roleOptions(select, selected) {
  select.replaceChildren(...roles().map((role) => h("option", { value: role, selected: role === selected }, t(`role_${role}`))));
}

function choices(container, name, values, labels, selected) {
  container.replaceChildren(...values.map((value) => h("label", {},
    h("input", { type: "checkbox", name, value, checked: selected.includes(value) }), labels(value))));
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name=${name}]:checked`)].map((input) => input.value);
}

function fillChoices(form, languages, queues) {
  choices(form.querySelector("[data-choices=languages]"), "languages", LANGUAGES, (l) => t(`lang_${l}`), languages);
  choices(form.querySelector("[data-choices=queues]"), "queues", state.queues.map((q) => q.key),
    (key) => term(key), queues);
}

function problemText(problem) {
  if (problem.status === 409 && problem.code === "version_conflict") return t("admin_conflict");
  const field = problem.details && problem.details[0] && problem.details[0].field;
  return `${t("error")}: ${problem.message}${field ? ` (${field})` : ""}`;
}

async function act(work, done) {
  try {
    const result = await work();
    if (done) toast(done(result));
  } catch (problem) {
    toast(problemText(problem), "error");
  }
  await load();
}

function row(account) {
  const mayTouch = state.me.role === "admin" || account.role !== "admin";
  const tags = [h("span", { class: "tag" }, account.active ? t("admin_active") : t("admin_inactive"))];
  if (account.must_change_password) tags.push(h("span", { class: "tag warn" }, t("admin_must_change_tag")));
  const buttons = [];
  if (mayTouch && account.active) {
    buttons.push(h("button", { type: "button", dataset: { testid: `edit-${account.username}` },
      onclick: () => edit(account) }, t("admin_edit")));
    buttons.push(h("button", { type: "button", dataset: { testid: `reset-${account.username}` },
      onclick: () => resetPassword(account) }, t("admin_reset")));
    if (account.username !== state.me.username) {
      buttons.push(h("button", { type: "button", dataset: { testid: `deactivate-${account.username}` },
        onclick: () => deactivate(account) }, t("admin_deactivate")));
    }
  } else if (mayTouch) {
    buttons.push(h("button", { type: "button", dataset: { testid: `reactivate-${account.username}` },
      onclick: () => act(() => api(`/admin/staff/${account.username}/reactivate`,
        { method: "POST", body: { version: account.version } }), () => t("admin_reactivated")) },
    t("admin_reactivate")));
  }
  return h("tr", { class: account.active ? "" : "inactive", dataset: { username: account.username } },
    h("td", {}, account.username), h("td", {}, account.display_name),
    h("td", {}, t(`role_${account.role}`)),
    h("td", {}, LANGUAGES.filter((l) => account.languages.includes(l)).map((l) => t(`lang_${l}`)).join(", ")),
    h("td", {}, account.queues.map((q) => term(q)).join(", ")),
    h("td", {}, `${account.load} / ${account.capacity}`),
    h("td", {}, ...tags), h("td", { class: "actions" }, ...buttons));
}

function render() {
  $("staff").querySelector("tbody").replaceChildren(...state.staff.map(row));
  const create = $("create");
  roleOptions(create.querySelector("select[name=role]"), create.role.value || "agent");
  fillChoices(create, checked(create, "languages").length ? checked(create, "languages") : ["zh"],
    checked(create, "queues"));
}

async function load() {
  [state.staff, state.queues] = await Promise.all([api("/admin/staff"), api("/queues")]);
  render();
}

function edit(account) {
  const dialog = $("edit-dialog");
  const form = $("edit");
  form.querySelector("h2").textContent = `${t("admin_edit")} · ${account.username}`;
  form.display_name.value = account.display_name;
  form.capacity.value = account.capacity;
  roleOptions(form.role, account.role);
  fillChoices(form, account.languages, account.queues);
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    act(() => api(`/admin/staff/${account.username}`, { method: "PATCH", body: {
      version: account.version,
      display_name: form.display_name.value,
      role: form.role.value,
      capacity: Number(form.capacity.value),
      languages: checked(form, "languages"),
      queues: checked(form, "queues"),
    } }), () => t("admin_saved"));
  };
  dialog.showModal();
}

function deactivate(account) {
  if (!window.confirm(fill(t("admin_deactivate_confirm"), { user: account.username }))) return;
  act(() => api(`/admin/staff/${account.username}/deactivate`,
    { method: "POST", body: { version: account.version } }),
  (result) => fill(t("admin_deactivated"), { n: Object.keys(result.reassigned).length }));
}

function resetPassword(account) {
  const password = window.prompt(fill(t("admin_reset_prompt"), { user: account.username }));
  if (!password) return;
  act(() => api(`/admin/staff/${account.username}/password`,
    { method: "POST", body: { version: account.version, password } }), () => t("admin_reset_done"));
}

async function loadRouting() {
  const current = await api("/admin/routing");
  state.routing = current;
  const form = $("routing");
  form.policy.value = JSON.stringify(current.policy, null, 2);
  $("routing-version").textContent = current.version
    ? fill(t("admin_routing_version"), { v: current.version, by: current.updated_by.replace(/^staff:/, "") })
    : t("admin_routing_packaged");
}

async function saveRouting(event) {
  event.preventDefault();
  const error = $("routing-error");
  error.textContent = "";
  let policy;
  try {
    policy = JSON.parse($("routing").policy.value);
  } catch {
    error.textContent = t("admin_routing_json");
    return;
  }
  try {
    await api("/admin/routing", { method: "PUT", body: { version: state.routing.version, policy } });
    toast(t("admin_routing_saved"));
    await loadRouting();
  } catch (problem) {
    // The edit stays in the box so it can be corrected; a stale version reloads.
    error.textContent = problemText(problem);
    if (problem.status === 409) await loadRouting();
  }
}

// A JSON document edited whole (canned replies, routing): load, save with its version.
function documentEditor({ form, path, key, versionEl, errorEl, saved }) {
  let version = 0;
  async function reload() {
    const current = await api(path);
    version = current.version;
    form.querySelector("textarea").value = JSON.stringify(current[key], null, 2);
    versionEl.textContent = current.version
      ? fill(t("admin_routing_version"), { v: current.version, by: current.updated_by.replace(/^staff:/, "") })
      : "";
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorEl.textContent = "";
    let value;
    try {
      value = JSON.parse(form.querySelector("textarea").value);
    } catch {
      errorEl.textContent = t("admin_routing_json");
      return;
    }
    try {
      await api(path.replace("/canned", "/admin/canned"), { method: "PUT", body: { version, [key]: value } });
      toast(t(saved));
      await reload();
    } catch (problem) {
      errorEl.textContent = problemText(problem);
      if (problem.status === 409) await reload();
    }
  });
  return reload;
}

async function createAccount(event) {
  event.preventDefault();
  const form = $("create");
  const body = {
    username: form.username.value.trim(),
    display_name: form.display_name.value.trim(),
    role: form.role.value,
    capacity: Number(form.capacity.value),
    password: form.password.value,
    languages: checked(form, "languages"),
    queues: checked(form, "queues"),
  };
  try {
    await api("/admin/staff", { method: "POST", body });
    toast(t("admin_created"));
    form.reset();
  } catch (problem) {
    toast(problemText(problem), "error");
  }
  await load();
}

function askNewPassword() {
  const form = $("password-form");
  form.hidden = false;
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".form-error");
      error.textContent = "";
      try {
        const me = await api("/auth/password", { method: "POST", body: {
          current_password: form.current_password.value, new_password: form.new_password.value,
        } });
        form.hidden = true;
        toast(t("admin_password_changed"));
        resolve(me);
      } catch (problem) {
        error.textContent = problemText(problem);
      }
    });
  });
}

async function main() {
  applyStaticText();
  for (const button of document.querySelectorAll("[data-action=lang]")) {
    button.addEventListener("click", () => {
      toggleLang();
      if (state.me && !$("admin").hidden) render();
    });
  }
  await ensureLoggedIn();
  document.querySelector("[data-action=logout]").addEventListener("click", logOut);
  let me = await api("/auth/me");
  if (me.must_change_password) me = await askNewPassword();
  state.me = me;
  $("who").textContent = `${me.display_name} · ${me.username}`;
  if (me.role !== "supervisor" && me.role !== "admin") {
    $("forbidden").hidden = false;
    return;
  }
  $("admin").hidden = false;
  $("create").addEventListener("submit", createAccount);
  await documentEditor({
    form: $("canned"), path: "/canned", key: "replies",
    versionEl: $("canned-version"), errorEl: $("canned-error"), saved: "admin_canned_saved",
  })();
  if (me.role === "admin") {
    $("routing").hidden = false;
    $("routing").addEventListener("submit", saveRouting);
    await loadRouting();
  }
  await load();
}

main();
