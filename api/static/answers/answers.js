// FAQ answers: supervisors rewrite what the bot answers, live on the next customer turn
// (Rasa reads the current text from /api/v1/faq; no retraining). Agents may read them.
import {
  api, applyStaticText, currentLang, ensureLoggedIn, h, logOut, t, toast, toggleLang,
} from "/staff/desk.js";
import { STRINGS } from "/staff/i18n.js";

// This page's words (the shared ones come from i18n.js).
Object.assign(STRINGS.zh, {
  answers_title: "常见问题答案",
  answers_explain: "这里改的是机器人对常见问题的回答，保存后下一位客户就会收到新答案，无需重新训练。新的问题或新的问法仍需要补充训练数据并重新训练模型。",
  answers_readonly: "只有主管和管理员可以修改答案。",
  answers_filter: "筛选主题或内容",
  answer_zh: "中文",
  answer_en: "英文",
  answer_edited: "已修改",
  answer_trained: "训练时的答案",
  answer_save: "保存",
  answer_reset: "恢复训练答案",
  answer_saved: "已保存，下一轮对话即生效",
  answer_reset_done: "已恢复训练时的答案",
  answer_conflict: "这条答案刚被别人修改过，已重新加载，请再改一次",
  answer_by: "修改人",
});
Object.assign(STRINGS.en, {
  answers_title: "FAQ answers",
  answers_explain: "Change what the bot answers to frequently asked questions. A saved answer is what the next customer gets, without retraining. New questions or new ways of asking still need training examples and a new model.",
  answers_readonly: "Only supervisors and admins can change answers.",
  answers_filter: "Filter by topic or text",
  answer_zh: "Chinese",
  answer_en: "English",
  answer_edited: "Edited",
  answer_trained: "Trained answer",
  answer_save: "Save",
  answer_reset: "Back to the trained answer",
  answer_saved: "Saved: live from the next turn",
  answer_reset_done: "Back to the trained answer",
  answer_conflict: "Someone changed this answer meanwhile; reloaded it, please edit again",
  answer_by: "by",
});

const state = { answers: [], canEdit: false };
const $ = (id) => document.getElementById(id);

async function load() {
  state.answers = await api("/faq");
  render();
}

function topics() {
  const byTopic = new Map();
  for (const answer of state.answers) {
    if (!byTopic.has(answer.topic)) byTopic.set(answer.topic, {});
    byTopic.get(answer.topic)[answer.language] = answer;
  }
  return byTopic;
}

function matches(topic, answers, filter) {
  if (!filter) return true;
  const needle = filter.toLowerCase();
  return topic.includes(needle) || Object.values(answers).some((a) => a.text.toLowerCase().includes(needle));
}

function languageBox(answer) {
  const box = h("textarea", {
    value: answer.text,
    disabled: !state.canEdit,
    dataset: { testid: `answer-${answer.topic}-${answer.language}` },
    "aria-label": `${answer.topic} ${t(`answer_${answer.language}`)}`,
  });
  const save = h("button", { class: "primary", type: "button", disabled: !state.canEdit,
    dataset: { testid: `save-${answer.topic}-${answer.language}` },
    onclick: () => saveAnswer(answer, box.value) }, t("answer_save"));
  const reset = h("button", { type: "button", disabled: !state.canEdit || !answer.edited,
    onclick: () => resetAnswer(answer) }, t("answer_reset"));
  const meta = h("div", { class: "meta" },
    h("span", { class: `badge${answer.edited ? " edited" : ""}` },
      answer.edited ? t("answer_edited") : t("answer_trained")),
    answer.edited ? h("span", {}, `${t("answer_by")} ${answer.updated_by.replace(/^staff:/, "")}`) : null,
    h("span", { class: "spacer" }), reset, save);
  return h("div", { class: "lang" }, h("strong", {}, t(`answer_${answer.language}`)), box, meta);
}

function render() {
  const filter = $("filter").value.trim();
  const blocks = [];
  for (const [topic, answers] of topics()) {
    if (!matches(topic, answers, filter)) continue;
    blocks.push(h("section", { class: "topic", dataset: { topic } },
      h("h2", {}, topic),
      h("div", { class: "langs" }, ["zh", "en"].filter((l) => answers[l]).map((l) => languageBox(answers[l])))));
  }
  $("topics").replaceChildren(...blocks);
}

async function saveAnswer(answer, text) {
  try {
    await api(`/faq/${answer.topic}/${answer.language}`, {
      method: "PUT", body: { version: answer.version, text },
    });
    toast(t("answer_saved"));
  } catch (problem) {
    toast(problem.status === 409 ? t("answer_conflict") : `${t("error")}: ${problem.message}`, "error");
  }
  await load();
}

async function resetAnswer(answer) {
  try {
    await api(`/faq/${answer.topic}/${answer.language}`, { method: "DELETE" });
    toast(t("answer_reset_done"));
  } catch (problem) {
    toast(`${t("error")}: ${problem.message}`, "error");
  }
  await load();
}

async function main() {
  applyStaticText();
  for (const button of document.querySelectorAll("[data-action=lang]")) {
    button.addEventListener("click", () => {
      toggleLang();
      render();
    });
  }
  const me = await ensureLoggedIn();
  document.querySelector("[data-action=logout]").addEventListener("click", logOut);
  $("who").textContent = `${me.display_name} · ${me.username}`;
  state.canEdit = me.role === "supervisor" || me.role === "admin";
  $("readonly").hidden = state.canEdit;
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  $("filter").addEventListener("input", render);
  await load();
}

main();
