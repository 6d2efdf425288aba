// The demo page in the visitor's language (?lang=zh|en, else the browser's), and the
// widget pointed at this machine's Rasa (?rasa=URL, else port 5005 of this host).
(function () {
  var TEXT = {
    zh: {
      title: "云桥宽带 - 千兆光纤，稳定到家", brand: null, navPlans: "套餐", navHelp: "帮助中心",
      heroTitle: "千兆光纤，稳定到家",
      heroText: "宽带断网、网速变慢、账单疑问？点右下角的绿色按钮，服务台助手 7×24 小时在线，为您报修并跟进进度。",
      heroCta: "查看套餐", card1Title: "家庭千兆", card1Text: "1000M 光纤，送 Wi-Fi 6 路由器，每月 129 元。",
      card2Title: "企业专线", card2Text: "对称带宽、固定 IP、4 小时上门服务承诺。",
      card3Title: "在线报修", card3Text: "描述问题并留下手机号或邮箱，立即生成工单号，随时查询进度。",
      embedTitle: "把聊天窗口放到您的网站上", embedText: "只需一行代码：",
      footer: "© 云桥宽带（演示网站，虚构公司）· 客服热线 400-000-0000",
      badRasa: "参数 rasa 必须是 http 或 https 地址，聊天窗口未加载。"
    },
    en: {
      title: "Cloudbridge Broadband - gigabit fibre that stays up", brand: "Cloudbridge", navPlans: "Plans", navHelp: "Help",
      heroTitle: "Gigabit fibre that stays up",
      heroText: "Internet down, running slow, or a question about your bill? Press the green button at the bottom right: the service desk assistant is there around the clock to open a ticket and follow it up.",
      heroCta: "See plans", card1Title: "Home Gigabit", card1Text: "1000 Mbit/s fibre with a Wi-Fi 6 router, 129 CNY a month.",
      card2Title: "Business line", card2Text: "Symmetric bandwidth, a fixed IP and an engineer on site within 4 hours.",
      card3Title: "Report a fault", card3Text: "Describe the problem, leave a phone number or e-mail, and get a ticket number you can ask about any time.",
      embedTitle: "Put this chat on your own site", embedText: "It takes one line:",
      footer: "© Cloudbridge Broadband (a demo site of a made-up company) · Hotline 400-000-0000",
      badRasa: "The rasa parameter must be an http or https URL; the chat was not loaded."
    }
  };
  var params = new URLSearchParams(location.search);
  var lang = params.get("lang");
  if (lang !== "zh" && lang !== "en") {
    lang = /^zh/i.test(navigator.language || "") ? "zh" : "en";
  }
  var text = TEXT[lang];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = text.title;
  document.querySelectorAll("[data-i18n]").forEach(function (node) {
    var value = text[node.getAttribute("data-i18n")];
    if (value) {
      node.textContent = value;
    }
  });
  document.querySelectorAll(".lang-switch a").forEach(function (link) {
    var target = new URLSearchParams(location.search);
    target.set("lang", link.getAttribute("data-lang"));
    link.href = "?" + target.toString();
    link.setAttribute("aria-current", String(link.getAttribute("data-lang") === lang));
  });

  var rasa = params.get("rasa") || location.protocol + "//" + location.hostname + ":5005";
  var valid = false;
  try {
    var parsed = new URL(rasa);
    valid = parsed.protocol === "http:" || parsed.protocol === "https:";
  } catch (error) {
    valid = false;
  }
  if (!valid) {
    var problem = document.getElementById("config-error");
    problem.textContent = text.badRasa;
    problem.hidden = false;
    return;
  }
  var src = new URL("desk-widget.js", location.href).href;
  document.getElementById("snippet").textContent =
    '<script src="' + src + '" data-rasa-url="' + rasa + '" data-lang="' + lang + '"></' + 'script>';
  var tag = document.createElement("script");
  tag.src = src;
  tag.setAttribute("data-rasa-url", rasa);
  tag.setAttribute("data-lang", lang);
  document.body.appendChild(tag);
})();
