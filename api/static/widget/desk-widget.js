/*!
 * Service desk chat widget. Embed it with one script tag:
 *
 *   <script src="https://desk.example.com/widget/desk-widget.js"
 *           data-rasa-url="https://desk.example.com:5005"
 *           data-lang="auto"></script>
 *
 * Attributes: data-rasa-url (required: where Rasa's socketio channel listens),
 * data-lang ("auto", "zh" or "en"; auto follows the browser), data-title (the
 * desk's name in the header), data-open ("true" opens the chat on load),
 * data-transports (socket.io transports, default "polling"; see DEFAULT_TRANSPORTS).
 *
 * Plain JavaScript, no build step. It talks to Rasa's socketio channel
 * (session_request / session_confirm / user_uttered / bot_uttered), keeps the
 * session id and the last messages in localStorage, queues what the customer
 * types while the connection is down and sends it in order once it is back.
 * Bot text is only ever inserted with textContent: never as HTML.
 *
 * A bot message about one ticket carries the ticket as data next to its text
 * (Rasa's custom payload: {"ticket": "SD-100001", "status": "new"}, sent by the
 * actions and by the desk's progress notices); the widget draws the ticket card
 * from that data, never from the wording of the text.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.DeskWidget) {
    // Embedded twice, or loaded as a module: one widget per page is enough.
    return;
  }

  var VERSION = "1.0.0";
  var HISTORY_LIMIT = 100;
  var MAX_MESSAGE_CHARS = 2000;
  var FETCH_PAGE = 100;          // what Rasa returns at most per fetch_missed
  // Rasa acknowledges a message once its whole turn (actions included) is done.
  var ACK_TIMEOUT_MS = 60000;
  var TIME_DIVIDER_GAP_MS = 5 * 60 * 1000;
  var RECONNECTED_NOTICE_MS = 2500;
  var LOAD_RETRY_MS = 10000;
  var LANGUAGES = ["zh", "en"];
  // Long-polling only by default: Rasa 3.6 serves socket.io on Sanic 21.12, whose
  // websocket reader fails on Python 3.11 ("Passing coroutines is forbidden"), so an
  // upgrade to websocket breaks the session. data-transports="websocket,polling"
  // opts in where Rasa runs on a Python it supports (3.8-3.10).
  var DEFAULT_TRANSPORTS = ["polling"];

  // UI strings, one dictionary per language. The bot's own words come from Rasa.
  var STRINGS = {
    zh: {
      deskName: "服务台",
      botName: "服务台助手",
      you: "我",
      online: "在线",
      connecting: "连接中…",
      offline: "离线",
      openChat: "打开在线客服",
      closeChat: "关闭对话",
      chatWith: "与服务台对话",
      conversation: "对话记录",
      placeholder: "输入消息，Enter 发送",
      send: "发送",
      sending: "发送中…",
      typing: "服务台助手正在输入…",
      welcome: "您好！我是服务台助手，可以帮您报修、查询工单进度。请描述您遇到的问题。",
      bannerOffline: "网络已断开，消息会在恢复连接后发送",
      bannerReconnecting: "连接中断，正在重新连接…消息会在恢复后发送",
      bannerUnreachable: "暂时连不上服务台，正在重试…",
      bannerReconnected: "已重新连接",
      bannerUnavailable: "聊天组件加载失败，请稍后刷新页面",
      ticket: "工单",
      ticketStatus: "状态",
      unread: "条新消息",
      status: {
        new: "待受理",
        open: "处理中",
        pending: "待您回复",
        escalated: "已升级",
        resolved: "已解决",
        closed: "已关闭"
      },
      locale: "zh-CN"
    },
    en: {
      deskName: "Service Desk",
      botName: "Desk assistant",
      you: "Me",
      online: "Online",
      connecting: "Connecting…",
      offline: "Offline",
      openChat: "Chat with the service desk",
      closeChat: "Close chat",
      chatWith: "Chat with the service desk",
      conversation: "Conversation",
      placeholder: "Type a message, Enter to send",
      send: "Send",
      sending: "Sending…",
      typing: "The desk assistant is typing…",
      welcome: "Hi! I'm the service desk assistant. I can open a ticket for a problem or check the progress of one. What can I do for you?",
      bannerOffline: "You're offline. Your messages will be sent when the connection is back.",
      bannerReconnecting: "Connection lost, reconnecting… Your messages will be sent when it's back.",
      bannerUnreachable: "Can't reach the service desk right now, retrying…",
      bannerReconnected: "Reconnected",
      bannerUnavailable: "The chat couldn't load. Please reload the page later.",
      ticket: "Ticket",
      ticketStatus: "Status",
      unread: "new messages",
      status: {
        new: "Received",
        open: "In progress",
        pending: "Waiting for you",
        escalated: "Escalated",
        resolved: "Resolved",
        closed: "Closed"
      },
      locale: "en-GB"
    }
  };

  var TICKET_NUMBER = /\bSD-\d+\b/g;
  // A ticket card's number, as the desk writes it (bot/channels/pushes.py checks the same).
  var CARD_NUMBER = /^SD-\d{1,12}$/;
  // A Markdown link [text](http...) as Rasa responses often write them, or a bare URL.
  var LINK = /\[([^\]\n]{1,200})\]\((https?:\/\/[^\s)]+)\)|\b(?:https?:\/\/|www\.)[^\s<>"'，。！？、）]+/gi;

  // ---------------------------------------------------------------- configuration

  function resolveLanguage(requested) {
    var value = (requested || "auto").toLowerCase();
    if (LANGUAGES.indexOf(value) >= 0) {
      return value;
    }
    if (value !== "auto") {
      console.warn("[desk-widget] data-lang must be auto, zh or en; got " + JSON.stringify(requested) + ", using auto");
    }
    var preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < preferred.length; i++) {
      var code = String(preferred[i]).toLowerCase().split("-")[0];
      if (LANGUAGES.indexOf(code) >= 0) {
        return code;
      }
    }
    return "en";
  }

  function parseRasaUrl(raw) {
    if (!raw) {
      throw new Error("data-rasa-url is missing: set it to where Rasa's socketio channel listens, e.g. http://localhost:5005");
    }
    var url;
    try {
      url = new URL(raw, document.baseURI);
    } catch (error) {
      throw new Error("data-rasa-url " + JSON.stringify(raw) + " is not a URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error("data-rasa-url must be an http or https URL; got " + JSON.stringify(raw));
    }
    // socket.io reads a path in the URL as a namespace; behind a reverse proxy under
    // /some/prefix the engine's path is /some/prefix/socket.io instead.
    var prefix = url.pathname.replace(/\/+$/, "");
    return { origin: url.origin, path: prefix + "/socket.io", key: url.origin + prefix };
  }

  function parseTransports(raw) {
    if (!raw) {
      return DEFAULT_TRANSPORTS;
    }
    var names = raw.split(",").map(function (name) { return name.trim().toLowerCase(); }).filter(Boolean);
    var known = names.filter(function (name) { return name === "polling" || name === "websocket"; });
    if (!known.length || known.length !== names.length) {
      console.warn("[desk-widget] data-transports lists polling and/or websocket; got " + JSON.stringify(raw) + ", using " + DEFAULT_TRANSPORTS.join(","));
      return DEFAULT_TRANSPORTS;
    }
    return known;
  }

  var config;
  try {
    var language = resolveLanguage(script.dataset.lang);
    config = {
      rasa: parseRasaUrl(script.dataset.rasaUrl),
      lang: language,
      strings: STRINGS[language],
      title: (script.dataset.title || "").trim() || STRINGS[language].deskName,
      openOnLoad: script.dataset.open === "true",
      transports: parseTransports(script.dataset.transports),
      base: new URL(".", script.src || document.baseURI)
    };
  } catch (error) {
    console.error("[desk-widget] not started: " + error.message);
    return;
  }
  var T = config.strings;

  // ---------------------------------------------------------------- pure helpers

  /** The ticket card a bot message's custom payload describes: {number, status|null}, or null. */
  function cardOf(custom) {
    if (!custom || typeof custom !== "object" || typeof custom.ticket !== "string" || !CARD_NUMBER.test(custom.ticket)) {
      return null;
    }
    var known = typeof custom.status === "string" && Object.prototype.hasOwnProperty.call(T.status, custom.status);
    return { number: custom.ticket, status: known ? custom.status : null };
  }

  function isCard(card) {
    return Boolean(card) && typeof card === "object" && typeof card.number === "string" && CARD_NUMBER.test(card.number) &&
      (card.status === null || (typeof card.status === "string" && Object.prototype.hasOwnProperty.call(T.status, card.status)));
  }

  /** Text split into plain runs and links: [{text}|{text, href}]. */
  function splitLinks(text) {
    var parts = [];
    var last = 0;
    var match;
    LINK.lastIndex = 0;
    while ((match = LINK.exec(text)) !== null) {
      if (match.index > last) {
        parts.push({ text: text.slice(last, match.index) });
      }
      if (match[1]) {
        var target = safeHref(match[2]);
        parts.push(target ? { text: match[1], href: target } : { text: match[0] });
        last = match.index + match[0].length;
        continue;
      }
      // Punctuation that ends the sentence is not part of the address.
      var raw = match[0].replace(/[.,;:!?)\]]+$/, "");
      var href = safeHref(/^www\./i.test(raw) ? "https://" + raw : raw);
      parts.push(href ? { text: raw, href: href } : { text: raw });
      last = match.index + raw.length;
      LINK.lastIndex = last;
    }
    if (last < text.length) {
      parts.push({ text: text.slice(last) });
    }
    return parts;
  }

  function safeHref(raw) {
    try {
      var url = new URL(raw);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function formatTime(ts) {
    var date = new Date(ts);
    var now = new Date();
    var sameDay = date.toDateString() === now.toDateString();
    var options = sameDay
      ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat(T.locale, options).format(date);
  }

  // ---------------------------------------------------------------- storage

  var storagePrefix = "desk-widget:v1:" + config.rasa.key + ":";
  var memoryStore = {};

  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(storagePrefix + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (error) {
      // Storage disabled (privacy mode) or a value someone edited by hand.
      return Object.prototype.hasOwnProperty.call(memoryStore, name) ? memoryStore[name] : fallback;
    }
  }

  function store(name, value) {
    memoryStore[name] = value;
    try {
      window.localStorage.setItem(storagePrefix + name, JSON.stringify(value));
    } catch (error) {
      console.warn("[desk-widget] could not save the conversation in this browser: " + error.name);
    }
  }

  function isButton(b) {
    return b && typeof b.title === "string" && typeof b.payload === "string";
  }

  /** Whether a saved value is a message this widget wrote (storage can be edited by hand). */
  function isStoredMessage(m) {
    return Boolean(m) && typeof m === "object" && typeof m.id === "string" && typeof m.ts === "number" &&
      (m.from === "customer" || m.from === "bot") &&
      (m.text === undefined || typeof m.text === "string") &&
      (m.payload === undefined || typeof m.payload === "string") &&
      (m.image === undefined || (typeof m.image === "string" && safeHref(m.image) !== null)) &&
      (m.buttons === undefined || (Array.isArray(m.buttons) && m.buttons.every(isButton))) &&
      (m.card === undefined || isCard(m.card));
  }

  var history = load("history", []);
  if (!Array.isArray(history)) {
    history = [];
  }
  history = history.filter(isStoredMessage);
  // A message that was on its way when the page closed goes out again.
  history.forEach(function (m) {
    if (m.status === "sending") {
      m.status = "queued";
    }
  });
  var sessionId = load("session", null);
  if (typeof sessionId !== "string" || !/^[A-Za-z0-9_-]{8,64}$/.test(sessionId)) {
    sessionId = newId();
    store("session", sessionId);
  }
  // The last message the desk started (an agent's reply, a progress notice) that this
  // widget showed: Rasa numbers them per session (push_seq); after a reconnect, or when the
  // page opens again, the widget asks for every later one ("fetch_missed") and shows each once.
  var lastPush = load("lastPush", 0);
  if (typeof lastPush !== "number" || !isFinite(lastPush) || lastPush < 0) {
    lastPush = 0;
  }
  var fetchingMissed = false;
  var liveWhileFetching = [];

  function saveHistory() {
    // Bounded, but a message still waiting to be sent is never dropped.
    var excess = history.length - HISTORY_LIMIT;
    if (excess > 0) {
      history = history.filter(function (m) {
        if (excess > 0 && m.status !== "queued" && m.status !== "sending") {
          excess -= 1;
          return false;
        }
        return true;
      });
      renderAll();
    }
    store("history", history);
  }

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (name === "text") {
          node.textContent = value;
        } else if (name === "className") {
          node.className = value;
        } else {
          node.setAttribute(name, value === true ? "" : String(value));
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  // Icons as path data (drawn with createElementNS, no markup strings).
  var ICONS = {
    chat: "M12 3C6.5 3 2 6.9 2 11.6c0 2.6 1.4 4.9 3.6 6.5L5 21.5l3.9-2.1c1 .3 2 .4 3.1.4 5.5 0 10-3.9 10-8.6S17.5 3 12 3zm-4.5 9.9a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6zm4.5 0a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6zm4.5 0a1.3 1.3 0 110-2.6 1.3 1.3 0 010 2.6z",
    close: "M6.4 5l5.6 5.6L17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z",
    headset: "M12 2a8 8 0 00-8 8v5a3 3 0 003 3h1v-7H6v-1a6 6 0 0112 0v1h-2v7h2v1a2 2 0 01-2 2h-3v2h3a4 4 0 004-4v-6.1A8 8 0 0012 2z",
    person: "M12 12a4.5 4.5 0 100-9 4.5 4.5 0 000 9zm0 2c-4.4 0-8 2.2-8 5v2h16v-2c0-2.8-3.6-5-8-5z",
    ticket: "M3 6a2 2 0 012-2h14a2 2 0 012 2v3a2 2 0 000 4v3a2 2 0 01-2 2H5a2 2 0 01-2-2v-3a2 2 0 000-4V6zm6 1v2h2V7H9zm0 4v2h2v-2H9zm0 4v2h2v-2H9z",
    send: "M3 20.5l18-8.5L3 3.5V10l12 2-12 2z"
  };

  function icon(name, className) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (className) {
      svg.setAttribute("class", className);
    }
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  // ---------------------------------------------------------------- the widget's DOM

  var host = el("div", { id: "desk-widget", "data-version": VERSION });
  host.style.visibility = "hidden";
  // A shadow root keeps the company's CSS out of the widget and ours out of their page.
  var root = host.attachShadow({ mode: "open" });
  var stylesheet = el("link", { rel: "stylesheet", href: new URL("desk-widget.css", config.base).href });
  stylesheet.addEventListener("load", function () { host.style.visibility = ""; });
  stylesheet.addEventListener("error", function () {
    console.error("[desk-widget] could not load desk-widget.css next to desk-widget.js");
    host.style.visibility = "";
  });

  var unreadBadge = el("span", { className: "badge", hidden: true, "aria-hidden": "true" });
  var launcher = el("button", {
    type: "button", className: "launcher", "aria-label": T.openChat, "aria-expanded": "false",
    "aria-controls": "desk-panel", title: T.openChat
  }, [icon("chat", "launcher-icon when-closed"), icon("close", "launcher-icon when-open"), unreadBadge]);

  var stateDot = el("span", { className: "dot", "aria-hidden": "true" });
  var stateLabel = el("span", { className: "state-label", text: T.connecting });
  var closeButton = el("button", { type: "button", className: "close", "aria-label": T.closeChat, title: T.closeChat }, [icon("close")]);
  var titleId = "desk-title";
  var header = el("header", { className: "header" }, [
    el("div", { className: "header-avatar", "aria-hidden": "true" }, [icon("headset")]),
    el("div", { className: "header-text" }, [
      el("h2", { id: titleId, className: "title", text: config.title }),
      el("p", { className: "state", role: "status" }, [stateDot, stateLabel])
    ]),
    closeButton
  ]);
  var banner = el("div", { className: "banner", role: "status", hidden: true });
  var log = el("div", {
    className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": T.conversation, tabindex: "0"
  });
  var typing = el("div", { className: "row bot typing", hidden: true }, [
    avatar("bot"),
    el("div", { className: "bubble", role: "status", "aria-label": T.typing }, [
      el("span", { className: "typing-dot" }), el("span", { className: "typing-dot" }), el("span", { className: "typing-dot" })
    ])
  ]);
  var input = el("textarea", {
    className: "input", rows: "1", placeholder: T.placeholder, "aria-label": T.placeholder,
    maxlength: String(MAX_MESSAGE_CHARS), enterkeyhint: "send"
  });
  var sendButton = el("button", { type: "submit", className: "send", "aria-label": T.send, disabled: true }, [
    el("span", { text: T.send })
  ]);
  var composer = el("form", { className: "composer" }, [input, sendButton]);
  var panel = el("section", {
    id: "desk-panel", className: "panel", role: "dialog", "aria-labelledby": titleId, hidden: true,
    lang: config.lang === "zh" ? "zh-CN" : "en", "data-connection": "connecting"
  }, [header, banner, log, composer]);

  root.appendChild(stylesheet);
  root.appendChild(panel);
  root.appendChild(launcher);

  function avatar(from) {
    return el("div", { className: "avatar " + from, "aria-hidden": "true" }, [icon(from === "bot" ? "headset" : "person")]);
  }

  // ---------------------------------------------------------------- rendering

  var lastRenderedTs = null;

  function renderAll() {
    while (log.firstChild) {
      log.removeChild(log.firstChild);
    }
    lastRenderedTs = null;
    history.forEach(function (m) { log.appendChild(renderMessage(m)); });
    log.appendChild(typing);
    scrollToEnd();
  }

  function append(message) {
    log.insertBefore(renderMessage(message), typing);
    scrollToEnd();
  }

  function renderMessage(message) {
    var fragment = document.createDocumentFragment();
    if (lastRenderedTs === null || message.ts - lastRenderedTs > TIME_DIVIDER_GAP_MS) {
      fragment.appendChild(el("div", { className: "time-divider" }, [
        el("time", { datetime: new Date(message.ts).toISOString(), text: formatTime(message.ts) })
      ]));
    }
    lastRenderedTs = message.ts;

    var who = message.from === "bot" ? T.botName : T.you;
    var content = el("div", { className: "content" });
    if (message.text) {
      content.appendChild(el("span", { className: "sr-only", text: who + ": " }));
      var bubble = el("div", { className: "bubble" });
      splitLinks(message.text).forEach(function (part) {
        if (part.href) {
          bubble.appendChild(el("a", { href: part.href, target: "_blank", rel: "noopener noreferrer nofollow", text: part.text }));
        } else {
          appendWithTicketNumbers(bubble, part.text);
        }
      });
      content.appendChild(bubble);
    }
    if (message.image) {
      content.appendChild(el("img", { className: "image", src: message.image, alt: "", loading: "lazy" }));
    }
    if (message.from === "bot" && message.card) {
      content.appendChild(ticketCard(message.card));
    }
    if (message.buttons && message.buttons.length) {
      content.appendChild(renderButtons(message));
    }
    if (message.from === "customer") {
      content.appendChild(el("span", {
        className: "delivery", "aria-live": "off",
        text: message.status === "queued" || message.status === "sending" ? T.sending : ""
      }));
    }
    var row = el("div", {
      className: "row " + message.from, "data-id": message.id, "data-status": message.status || null
    }, [avatar(message.from), content]);
    fragment.appendChild(row);
    return fragment;
  }

  // Ticket numbers stay on one line ("SD-" at a line end reads badly).
  function appendWithTicketNumbers(parent, text) {
    var last = 0;
    var match;
    var numbers = new RegExp(TICKET_NUMBER.source, "g");
    while ((match = numbers.exec(text)) !== null) {
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      parent.appendChild(el("span", { className: "ticket-ref", text: match[0] }));
      last = match.index + match[0].length;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  function ticketCard(card) {
    var statusText = card.status ? T.status[card.status] : "";
    var label = T.ticket + " " + card.number + (statusText ? ", " + T.ticketStatus + ": " + statusText : "");
    return el("div", { className: "ticket-card", role: "group", "aria-label": label, "data-ticket": card.number, "data-ticket-status": card.status }, [
      icon("ticket", "ticket-icon"),
      el("div", { className: "ticket-text" }, [
        el("span", { className: "ticket-label", text: T.ticket }),
        el("span", { className: "ticket-number", text: card.number })
      ]),
      statusText ? el("span", { className: "ticket-status status-" + card.status, text: statusText }) : null
    ]);
  }

  function renderButtons(message) {
    var group = el("div", { className: "quick-replies", role: "group" });
    message.buttons.forEach(function (button, index) {
      var chosen = message.chosen === index;
      var node = el("button", {
        type: "button", className: "quick-reply" + (chosen ? " chosen" : ""),
        disabled: Boolean(message.buttonsUsed), "aria-pressed": chosen ? "true" : null, text: button.title
      });
      node.addEventListener("click", function () {
        if (message.buttonsUsed) {
          return;
        }
        message.buttonsUsed = true;
        message.chosen = index;
        group.replaceWith(renderButtons(message));
        sendText(button.payload, button.title);
        input.focus();
      });
      group.appendChild(node);
    });
    return group;
  }

  function updateDelivery(message) {
    var row = log.querySelector('.row[data-id="' + message.id + '"]');
    if (!row) {
      return;
    }
    row.setAttribute("data-status", message.status);
    var label = row.querySelector(".delivery");
    if (label) {
      label.textContent = message.status === "sent" ? "" : T.sending;
    }
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  // ---------------------------------------------------------------- connection state

  var socket = null;
  var ready = false;            // connected and the session room joined
  var everReady = false;
  var inflight = null;          // the message waiting for Rasa's acknowledgement
  var generation = 0;           // bumped on every disconnect: late acks of a dead link are ignored
  var noticeTimer = null;

  function setConnection(state, bannerText) {
    panel.setAttribute("data-connection", state);
    stateLabel.textContent = T[state];
    window.clearTimeout(noticeTimer);
    if (bannerText) {
      banner.textContent = bannerText;
      banner.className = "banner " + (state === "online" ? "good" : "bad");
      banner.hidden = false;
      if (state === "online") {
        noticeTimer = window.setTimeout(function () { banner.hidden = true; }, RECONNECTED_NOTICE_MS);
      }
    } else {
      banner.hidden = true;
    }
  }

  var socketIoPromise = null;
  var retryTimer = null;

  function loadSocketIo() {
    if (socketIoPromise) {
      return socketIoPromise;
    }
    socketIoPromise = new Promise(function (resolve, reject) {
      // The UMD bundle registers with an AMD loader if the page has one, and otherwise
      // sets window.io: hide the loader and put back the page's own `io` afterwards.
      var pageIo = window.io;
      var hadIo = "io" in window;
      var pageDefine = window.define;
      window.define = undefined;
      var tag = document.createElement("script");
      tag.src = new URL("../vendor/socket.io.min.js", config.base).href;
      tag.async = true;
      function restore() {
        window.define = pageDefine;
        if (hadIo) {
          window.io = pageIo;
        } else {
          try { delete window.io; } catch (error) { window.io = undefined; }
        }
      }
      tag.addEventListener("load", function () {
        var io = window.io;
        restore();
        tag.remove();
        if (typeof io === "function") {
          resolve(io);
        } else {
          reject(new Error("socket.io.min.js did not define io"));
        }
      });
      tag.addEventListener("error", function () {
        restore();
        reject(new Error("could not load " + tag.src));
      });
      document.head.appendChild(tag);
    });
    return socketIoPromise;
  }

  function connect() {
    if (socket) {
      if (!socket.connected && navigator.onLine !== false) {
        socket.connect();
      }
      return;
    }
    loadSocketIo().then(function (io) {
      if (socket) {
        return;
      }
      socket = io(config.rasa.origin, {
        path: config.rasa.path,
        transports: config.transports,
        autoConnect: false,
        reconnectionDelay: 1000,
        reconnectionDelayMax: 5000
      });
      socket.on("connect", function () {
        // Rasa joins this socket to the session's room; bot messages go to that room.
        socket.emit("session_request", { session_id: sessionId });
      });
      socket.on("session_confirm", function (confirmed) {
        var id = typeof confirmed === "string" ? confirmed : confirmed && confirmed.session_id;
        if (id && id !== sessionId) {
          sessionId = id;
          store("session", sessionId);
          lastPush = 0;
          store("lastPush", lastPush);
        }
        ready = true;
        fetchMissed();
        setConnection("online", everReady ? T.bannerReconnected : null);
        everReady = true;
        flush();
      });
      socket.on("bot_uttered", function (data) {
        if (fetchingMissed && data && typeof data.push_seq === "number") {
          // Shown after what the fetch brings, which is older.
          liveWhileFetching.push(data);
          return;
        }
        receive(data);
      });
      socket.on("disconnect", function (reason) {
        ready = false;
        generation += 1;
        // What was pushed meanwhile stays in Rasa's mailbox: the next connection fetches it.
        fetchingMissed = false;
        liveWhileFetching = [];
        if (inflight) {
          // Not acknowledged: it goes again, first in line, once the link is back.
          inflight.status = "queued";
          inflight = null;
        }
        setTyping(false);
        showDisconnected();
        if (reason === "io server disconnect") {
          // Rasa closed the socket itself (a restart): socket.io does not retry that on its own.
          socket.connect();
        }
      });
      socket.on("connect_error", function () {
        if (!everReady) {
          setConnection("offline", T.bannerUnreachable);
        } else {
          showDisconnected();
        }
      });
      if (navigator.onLine !== false) {
        socket.connect();
      } else {
        showDisconnected();
      }
    }).catch(function (error) {
      console.error("[desk-widget] " + error.message);
      setConnection("offline", navigator.onLine === false ? T.bannerOffline : T.bannerUnavailable);
      // Try again later (or as soon as the browser is back online).
      socketIoPromise = null;
      window.clearTimeout(retryTimer);
      retryTimer = window.setTimeout(connect, LOAD_RETRY_MS);
    });
  }

  function showDisconnected() {
    if (navigator.onLine === false) {
      setConnection("offline", T.bannerOffline);
    } else {
      setConnection("connecting", everReady ? T.bannerReconnecting : null);
    }
  }

  // The browser knows about a lost network before the socket's heartbeat does.
  window.addEventListener("offline", function () {
    if (socket && socket.connected) {
      socket.disconnect();
    }
    showDisconnected();
  });
  window.addEventListener("online", function () {
    if (!socket && (socketIoPromise === null && retryTimer !== null)) {
      window.clearTimeout(retryTimer);
      retryTimer = null;
      connect();
    } else if (socket && !socket.connected) {
      setConnection("connecting", everReady ? T.bannerReconnecting : null);
      socket.connect();
    }
  });

  // ---------------------------------------------------------------- messages in and out

  function setTyping(on) {
    typing.hidden = !on;
    if (on) {
      log.appendChild(typing);
      scrollToEnd();
    }
  }

  function sendText(payload, shownText) {
    var text = String(payload || "").trim();
    if (!text) {
      return null;
    }
    if (text.length > MAX_MESSAGE_CHARS) {
      // The text box stops at the limit; this is for callers of DeskWidget.send.
      throw new RangeError("a message has at most " + MAX_MESSAGE_CHARS + " characters; got " + text.length);
    }
    // Quick replies offered earlier no longer apply once the customer moves on.
    history.forEach(function (m) {
      if (m.buttons && !m.buttonsUsed) {
        m.buttonsUsed = true;
        log.querySelectorAll('.row[data-id="' + m.id + '"] .quick-reply').forEach(function (b) { b.disabled = true; });
      }
    });
    var message = { id: newId(), from: "customer", text: shownText || text, ts: Date.now(), status: "queued" };
    if (shownText && shownText !== text) {
      message.payload = text;
    }
    history.push(message);
    append(message);
    saveHistory();
    if (!socket) {
      connect();
    }
    flush();
    return message.id;
  }

  /** Send the oldest queued message, one at a time, so the bot sees them in order. */
  function flush() {
    if (!ready || inflight || !socket) {
      return;
    }
    var next = null;
    for (var i = 0; i < history.length; i++) {
      if (history[i].from === "customer" && history[i].status === "queued") {
        next = history[i];
        break;
      }
    }
    if (!next) {
      setTyping(false);
      return;
    }
    inflight = next;
    next.status = "sending";
    saveHistory();
    setTyping(true);
    var sentOn = generation;
    socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", {
      message: next.payload || next.text,
      session_id: sessionId,
      // message_id lets the server recognise a message re-sent after a lost acknowledgement.
      metadata: { message_id: next.id, widget_language: config.lang }
    }, function (error) {
      if (sentOn !== generation) {
        return;
      }
      // A time-out on a live link means a slow turn, not a lost message: the socket
      // delivered it, so it is not sent twice.
      if (error) {
        console.warn("[desk-widget] no acknowledgement from Rasa after " + ACK_TIMEOUT_MS / 1000 + " s");
      }
      inflight = null;
      next.status = "sent";
      updateDelivery(next);
      saveHistory();
      flush();
    });
  }

  /** Ask for the desk's messages this widget has not shown yet, oldest first. */
  function fetchMissed() {
    if (!socket || fetchingMissed) {
      return;
    }
    fetchingMissed = true;
    var asked = generation;
    socket.emit("fetch_missed", { after: lastPush }, function (answer) {
      if (asked !== generation) {
        return; // the link dropped meanwhile: the next connection fetches again
      }
      var messages = answer && Array.isArray(answer.messages) ? answer.messages : [];
      messages.forEach(receive);
      var more = messages.length >= FETCH_PAGE;
      var live = liveWhileFetching;
      liveWhileFetching = [];
      fetchingMissed = false;
      live.forEach(receive);
      if (more) {
        fetchMissed();
      }
    });
  }

  function receive(data) {
    if (!data || typeof data !== "object") {
      return;
    }
    if (typeof data.push_seq === "number") {
      if (data.push_seq <= lastPush) {
        return; // shown already (live, then again in a fetch)
      }
      lastPush = data.push_seq;
      store("lastPush", lastPush);
    }
    var message = { id: newId(), from: "bot", ts: Date.now() };
    if (typeof data.text === "string" && data.text.trim()) {
      message.text = data.text;
    }
    var image = data.attachment && data.attachment.type === "image" && data.attachment.payload && data.attachment.payload.src;
    if (!image && typeof data.image === "string") {
      image = data.image;
    }
    if (image && safeHref(image)) {
      message.image = safeHref(image);
    }
    var offered = [].concat(Array.isArray(data.quick_replies) ? data.quick_replies : [], Array.isArray(data.buttons) ? data.buttons : []);
    var buttons = offered.filter(function (b) {
      return b && typeof b.title === "string" && b.title.trim() && (typeof b.payload === "string" || typeof b.payload === "number");
    }).map(function (b) { return { title: b.title.trim(), payload: String(b.payload) }; });
    if (buttons.length) {
      message.buttons = buttons;
    }
    var card = cardOf(data.custom);
    if (card) {
      message.card = card;
    }
    if (!message.text && !message.image && !message.buttons && !message.card) {
      return;
    }
    history.push(message);
    append(message);
    saveHistory();
    if (!typing.hidden) {
      log.appendChild(typing);
    }
    if (panel.hidden) {
      setUnread(unread + 1);
    }
  }

  // ---------------------------------------------------------------- open, close, keyboard

  var unread = 0;

  function setUnread(count) {
    unread = count;
    unreadBadge.hidden = count === 0;
    unreadBadge.textContent = count > 99 ? "99+" : String(count);
    launcher.setAttribute("aria-label", count ? T.openChat + " (" + count + " " + T.unread + ")" : T.openChat);
  }

  function rememberOpen(open) {
    try {
      window.sessionStorage.setItem(storagePrefix + "open", open ? "1" : "0");
    } catch (error) {
      // Not remembering whether the chat was open is harmless.
    }
  }

  function openChat() {
    if (history.length === 0) {
      var welcome = { id: newId(), from: "bot", text: T.welcome, ts: Date.now(), local: true };
      history.push(welcome);
      append(welcome);
      saveHistory();
    }
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    root.host.setAttribute("data-open", "true");
    setUnread(0);
    rememberOpen(true);
    connect();
    scrollToEnd();
    input.focus();
  }

  function closeChat() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    root.host.removeAttribute("data-open");
    rememberOpen(false);
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) {
      openChat();
    } else {
      closeChat();
    }
  });
  closeButton.addEventListener("click", closeChat);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      closeChat();
    }
  });
  input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; Enter while an IME is composing picks the characters.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", function () {
    sendButton.disabled = !input.value.trim();
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  });
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    submit();
  });

  function submit() {
    if (!input.value.trim()) {
      return;
    }
    sendText(input.value);
    input.value = "";
    input.style.height = "auto";
    sendButton.disabled = true;
    input.focus();
  }

  // ---------------------------------------------------------------- start

  function start() {
    document.body.appendChild(host);
    renderAll();
    var wasOpen = false;
    try {
      wasOpen = window.sessionStorage.getItem(storagePrefix + "open") === "1";
    } catch (error) {
      wasOpen = false;
    }
    if (config.openOnLoad || wasOpen) {
      openChat();
    } else if (history.length) {
      // A customer with a conversation may get an agent's reply any time: listen for it.
      connect();
    }
  }

  window.DeskWidget = {
    version: VERSION,
    language: config.lang,
    open: openChat,
    close: closeChat,
    send: function (text) { return sendText(text); },
    sessionId: function () { return sessionId; }
  };

  if (document.body) {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
  }
})();
