"""Simulated customers talk to a running desk through Rasa's REST channel.

    .venv-bot/bin/python scripts/simulate_customers.py --run-dir /tmp/convo-run \\
        --api-port 18200 --rasa-port 15205            # against a running desk
    .venv-bot/bin/python scripts/simulate_customers.py --start-desk ...   # starts one

Measure on a fresh desk (``--start-desk`` starts one on an empty database): a desk that
already met these personas keeps their phone numbers with the first customer who gave
them, so the contact checks only hold on the first run against it.

Personas (``scripts/customers/personas.yml``) know their facts and answer whatever the
bot asks from them; scenarios (``scripts/customers/scenarios.yml``) say what each one
wants, per flow. After each conversation the runner reads the tickets through the API
(the bot's service token acting for the conversation, a supervisor's token for queues,
threads and ratings) and reports per flow: success, customer turns to a ticket,
questions asked three times or more (a failure), questions about something the
customer had already said, and tickets in the wrong queue. ``--write`` puts the table
into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from nlu_report import machine, stamp, table, write_section  # noqa: E402

CUSTOMERS = ROOT / "scripts" / "customers"
# The sets of scenarios, each a folder with personas.yml and scenarios.yml: the first one
# written with the feature, the second one written later, before it was run (see its
# header), so it measures what the team had not tuned for.
SETS: dict[str, Path] = {"first": CUSTOMERS, "second": CUSTOMERS / "second"}
TICKET = re.compile(r"SD-\d{6,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
MAX_TURNS = 12
# A question asked this many times in one conversation is a loop.
REPEAT_LIMIT = 3

# What the bot is asking, recognised in either language from the question sentence of a
# reply. Order matters: the first match wins ("cancel ticket SD-1?" is a confirmation,
# not a ticket-number question).
QUESTION_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("confirm_cancel", r"really (?:want to )?cancel|确认要取消|確認要取消"),
        ("ticket_info", r"add to ticket|like to add|补充到|補充到|要补充|要補充"),
        ("rating", r"stars|rate |rating|打分|打个分|几星|幾星|评价|評價"),
        ("offer_human", r"person|human|agent|人工|真人"),
        (
            "offer_ticket",
            r"open a ticket|create a ticket|raise a ticket|ticket for (?:you|this|it)|建工单|建立工单|创建工单|开工单|开个工单|新建工单|建單|开单",
        ),
        (
            "ticket_number",
            r"ticket number|which (?:one|ticket)|工单号|工單號|哪一张|哪一張|哪个工单|哪張",
        ),
        ("order_number", r"order number|订单号|訂單號|订单编号"),
        (
            "contact",
            r"phone|e-?mail|mobile|reach you|contact|手机|手機|邮箱|郵箱|电话|電話|联系方式|聯絡",
        ),
        ("name", r"your name|call you|怎么称呼|怎麼稱呼|姓名|贵姓"),
        (
            "problem",
            r"describe|what (?:happened|went wrong|is the problem|seems to be)|what's wrong|描述|什么问题|遇到了什么|什麼問題",
        ),
        (
            "confirm",
            r"is that right|is this correct|correct\?|did I get|对吗|對嗎|是否正确|没错吧|确认一下|核对",
        ),
        (
            "open",
            r"how can i help|what can i do|anything else|有什么可以帮|有什麼可以幫|还有什么|還有什麼|其他可以帮",
        ),
    )
)
# Kinds the customer answers from their facts.
FACT_KINDS = {"problem", "contact", "order_number", "ticket_number", "ticket_info", "name"}
# Kinds that are questions of a ticket form (a no-ticket conversation should see none).
FORM_KINDS = {"problem", "contact", "order_number"}
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+|\n")
_REQUEST = re.compile(
    r"请提供|请输入|请告诉我|请留下|请简单描述|请再|请为|請為|請提供|請輸入|請告訴我|請留下|請再|"
    r"please (?:give|type|describe|tell|enter|check)|could you|can you",
    re.IGNORECASE,
)

YES = {"zh": "好的", "en": "yes please"}
NO = {"zh": "不用了，谢谢", "en": "no thanks"}
YES_NO_KINDS = {"confirm_cancel", "offer_ticket", "confirm", "offer_human"}
# Buttons whose title or payload says yes / no.
_YES_BUTTON = re.compile(r"affirm|yes|是|好|确认|確認|open|建|request_human|person|人工", re.I)
_NO_BUTTON = re.compile(r"deny|no|不", re.I)

_SPOKEN_DIGITS = {
    "零": "0",
    "〇": "0",
    "幺": "1",
    "一": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "八": "8",
    "九": "9",
}
_ENGLISH_DIGITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class Persona:
    """A customer: language, script, channel style, facts and answers by question kind."""

    id: str
    language: str
    script: str
    style: str
    facts: dict[str, str]
    answers: dict[str, list[str]]


@dataclass(frozen=True)
class Scenario:
    """What one customer wants in one conversation, and what success means."""

    id: str
    flow: str
    persona: Persona
    says: list[str]
    detours: dict[str, str] = field(default_factory=dict)
    setup: list[dict[str, str]] = field(default_factory=list)
    offer: str = "yes"
    answers: dict[str, list[str]] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)
    set: str = "first"

    def answer(self, kind: str, times_asked: int) -> str | None:
        """The customer's answer the n-th time (0-based) the bot asks for ``kind``."""
        options = self.answers.get(kind) or self.persona.answers.get(kind)
        if not options:
            return None
        return options[min(times_asked, len(options) - 1)]


def load_sets(names: Sequence[str] = tuple(SETS)) -> list[Scenario]:
    """The scenarios of the named sets, in order."""
    return [s for name in names for s in load_scenarios(SETS[name], set_name=name)]


def load_scenarios(directory: Path = CUSTOMERS, *, set_name: str = "first") -> list[Scenario]:
    """The personas and scenarios in ``directory``."""
    personas = {
        key: Persona(
            id=key,
            language=value["language"],
            script=value.get("script", ""),
            style=value.get("style", "web"),
            facts={k: str(v) for k, v in (value.get("facts") or {}).items()},
            answers={k: [str(x) for x in v] for k, v in (value.get("answers") or {}).items()},
        )
        for key, value in yaml.safe_load((directory / "personas.yml").read_text("utf-8")).items()
    }
    scenarios = []
    for item in yaml.safe_load((directory / "scenarios.yml").read_text("utf-8")):
        scenarios.append(
            Scenario(
                id=item["id"],
                flow=item["flow"],
                persona=personas[item["persona"]],
                says=[str(s) for s in item["says"]],
                detours={k: str(v) for k, v in (item.get("detours") or {}).items()},
                setup=list(item.get("setup") or []),
                offer=str(item.get("offer", "yes")).lower()
                if item.get("offer") is not True
                else "yes",
                answers={k: [str(x) for x in v] for k, v in (item.get("answers") or {}).items()},
                expect=dict(item.get("expect") or {}),
                set=set_name,
            )
        )
    return scenarios


# ------------------------------------------------------------------ reading the bot


def question_kind(text: str) -> str | None:
    """What a bot message asks for, or None when it asks nothing the runner knows.

    The last question sentence decides; when it names nothing ("请再输入一次"), the
    whole message does ("工单号的格式是 ... 请再输入一次").
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    questions = [s for s in sentences if s.endswith(("?", "？")) or _REQUEST.search(s)]
    for sentence in reversed(questions):
        for kind, pattern in QUESTION_KINDS:
            if pattern.search(sentence):
                return kind
    if questions:
        for kind, pattern in QUESTION_KINDS:
            if pattern.search(text):
                return kind
    return None


def language_of(text: str) -> str | None:
    """zh when the text has Chinese characters, en when it has Latin words, else None."""
    if CJK.search(text):
        return "zh"
    if re.search(r"[A-Za-z]{3,}", text):
        return "en"
    return None


def spoken_to_digits(text: str) -> str:
    """Digits of a text whose numbers may be read out ("幺三八", "one three six")."""
    words = re.sub(
        r"(?i)\b(zero|oh|one|two|three|four|five|six|seven|eight|nine)\b",
        lambda m: _ENGLISH_DIGITS[m.group(1).lower()],
        text,
    )
    return "".join(_SPOKEN_DIGITS.get(ch, ch) for ch in words)


def digits(text: str) -> str:
    return re.sub(r"\D", "", spoken_to_digits(text))


def fact_given(fact: str, value: str, said: str) -> bool:
    """Whether the customer's words so far contain a fact (numbers compared digit by digit)."""
    if not value:
        return False
    if fact in ("phone", "order_number"):
        wanted = digits(value)
        return bool(wanted) and wanted in digits(said)
    return value.lower() in said.lower()


# A score already in what the customer said ("5 stars", "三顆星", "2 out of 5", "好评").
_SCORE_GIVEN = re.compile(
    r"(?i)\b[1-5]\s*(?:stars?|/\s*5|out of 5)|[一二两三四五1-5]\s*[颗顆]?\s*星|好评|差评"
)

# Which fact answers which question.
_FACTS_FOR_KIND = {
    "contact": ("phone", "email"),
    "order_number": ("order_number",),
    "name": ("name",),
}


def spoken_number(number: str, language: str) -> str:
    """A ticket number's digits read out one by one, as an ASR transcript has them."""
    table_ = {"zh": "零幺二三四五六七八九", "en": None}
    only = digits(number)
    if language == "zh":
        return " ".join(table_["zh"][int(d)] for d in only)  # type: ignore[index]
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return " ".join(names[int(d)] for d in only)


# ------------------------------------------------------------------ the desk


@dataclass
class Desk:
    """HTTP access to a running desk: Rasa's REST channel and the ticketing API."""

    rasa_url: str
    api_url: str
    service_token: str
    demo_password: str
    staff_token: str = ""

    @classmethod
    def from_run_dir(cls, run_dir: Path, *, api_port: int, rasa_port: int) -> Desk:
        """Read the desk's secrets from ``run_dir/desk.env``."""
        env: dict[str, str] = {}
        for line in (run_dir / "desk.env").read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key.strip()] = value.strip()
        return cls(
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            api_url=f"http://127.0.0.1:{api_port}",
            service_token=env["DESK_SERVICE_TOKEN"],
            demo_password=env["DESK_DEMO_PASSWORD"],
        )

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("content-type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw) if raw else None
            except json.JSONDecodeError:
                return error.code, raw.decode(errors="replace")

    def login(self) -> None:
        """A supervisor's token (zhao.min) for reading queues, threads and ratings."""
        status, data = self._call(
            "POST",
            f"{self.api_url}/api/v1/auth/login",
            body={"username": "zhao.min", "password": self.demo_password},
        )
        if status != 200:
            raise SystemExit(f"staff log-in failed ({status}): {data}")
        self.staff_token = data["access_token"]

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        """One customer message through the REST channel; the bot's replies."""
        status, data = self._call(
            "POST",
            f"{self.rasa_url}/webhooks/rest/webhook",
            body={"sender": sender, "message": message},
            timeout=120,
        )
        if status != 200:
            raise RuntimeError(f"REST channel answered {status}: {data}")
        return list(data or [])

    def _as_bot(self, sender: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.service_token}",
            "X-Desk-Channel": "rest",
            "X-Desk-Sender": sender,
        }

    def _as_staff(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.staff_token}"}

    def open_ticket(self, sender: str, language: str, description: str) -> dict[str, Any]:
        """A ticket the customer of ``sender`` already has (opened as the bot would)."""
        status, data = self._call(
            "POST",
            f"{self.api_url}/api/v1/tickets",
            body={
                "customer": {"channel": "rest", "external_id": sender, "language": language},
                "description": description,
                "channel": "rest",
                "language": language,
                "transcript": [],
            },
            headers={**self._as_bot(sender), "Idempotency-Key": uuid.uuid4().hex},
        )
        if status not in (200, 201):
            raise RuntimeError(f"setting up a ticket answered {status}: {data}")
        return data

    def resolve(self, number: str) -> None:
        """A supervisor resolves the ticket (so the customer can rate it)."""
        ticket = self.ticket(number)
        status, data = self._call(
            "PATCH",
            f"{self.api_url}/api/v1/tickets/{number}",
            body={"version": ticket["version"], "status": "resolved"},
            headers=self._as_staff(),
        )
        if status != 200:
            raise RuntimeError(f"resolving {number} answered {status}: {data}")

    def customer_tickets(self, sender: str) -> list[dict[str, Any]]:
        """Every ticket of the conversation's customer (the API scopes the bot's token)."""
        status, data = self._call(
            "GET", f"{self.api_url}/api/v1/tickets?limit=100", headers=self._as_bot(sender)
        )
        return list(data["items"]) if status == 200 else []

    def ticket(self, number: str) -> dict[str, Any]:
        """A ticket with its thread, as a supervisor reads it."""
        status, data = self._call(
            "GET", f"{self.api_url}/api/v1/tickets/{number}", headers=self._as_staff()
        )
        if status != 200:
            raise RuntimeError(f"reading {number} answered {status}: {data}")
        return data

    def profile(self, customer_id: int) -> dict[str, Any]:
        """The customer's 360° view (ratings, contacts masked or clear)."""
        status, data = self._call(
            "GET", f"{self.api_url}/api/v1/customers/{customer_id}", headers=self._as_staff()
        )
        return data if status == 200 else {}

    def contact_state(self, sender: str) -> dict[str, Any]:
        """Whether the desk can reach the conversation's customer (by phone, by e-mail)."""
        query = urllib.parse.urlencode({"channel": "rest", "external_id": sender})
        status, data = self._call(
            "GET",
            f"{self.api_url}/api/v1/customers/by-identity?{query}",
            headers=self._as_bot(sender),
        )
        return data if status == 200 else {}


# ------------------------------------------------------------------ one conversation


@dataclass
class Outcome:
    """What happened in one simulated conversation."""

    scenario: str
    flow: str
    language: str
    style: str
    success: bool = False
    failures: list[str] = field(default_factory=list)
    turns: int = 0
    turns_to_ticket: int | None = None
    asked: dict[str, int] = field(default_factory=dict)
    asked_given: list[str] = field(default_factory=list)
    # The most times one bot message came back word for word (an FAQ loop is one).
    same_reply: int = 0
    queue: str | None = None
    wrong_queue: bool = False
    transcript: list[tuple[str, str]] = field(default_factory=list)
    set: str = "first"

    @property
    def repeated(self) -> bool:
        return self.same_reply >= REPEAT_LIMIT or any(
            count >= REPEAT_LIMIT for count in self.asked.values()
        )


def _pick_button(buttons: list[dict[str, Any]], want_yes: bool) -> dict[str, Any] | None:
    pattern = _YES_BUTTON if want_yes else _NO_BUTTON
    for button in buttons:
        if pattern.search(f"{button.get('payload', '')} {button.get('title', '')}"):
            return button
    return None


def _yes_no(scenario: Scenario, kind: str) -> bool:
    """Whether the customer says yes to this kind of yes/no question."""
    if kind == "offer_ticket":
        return scenario.offer != "no"
    if kind == "offer_human":
        # A customer stuck with a bot takes a person, unless they only had a question.
        return scenario.offer != "no"
    return True


class Conversation:
    """Drives one scenario through the desk and judges it."""

    def __init__(self, desk: Desk, scenario: Scenario, run_id: str) -> None:
        self.desk = desk
        self.scenario = scenario
        self.persona = scenario.persona
        self.sender = f"sim-{run_id}-{scenario.id}"
        self.outcome = Outcome(
            scenario=scenario.id,
            flow=scenario.flow,
            language=f"{self.persona.language}/{self.persona.script}",
            style=self.persona.style,
            set=scenario.set,
        )
        self.setup_numbers: list[str] = []
        self.said = ""
        self.asked: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.detoured: set[str] = set()
        self.new_tickets_seen: list[str] = []
        self.bot_after_last_switch: list[str] = []
        self.replies_seen: Counter[str] = Counter()

    # -- setup and placeholders

    def set_up(self) -> None:
        for item in self.scenario.setup:
            ticket = self.desk.open_ticket(
                self.sender, self.persona.language, str(item.get("description", "a problem"))
            )
            if item.get("status") == "resolved":
                self.desk.resolve(ticket["number"])
            self.setup_numbers.append(ticket["number"])

    def fill(self, line: str) -> str:
        values = {
            "ticket": self.setup_numbers[0] if self.setup_numbers else "SD-000000",
            "ticket2": self.setup_numbers[1] if len(self.setup_numbers) > 1 else "",
        }
        values["ticket_spoken"] = spoken_number(values["ticket"], self.persona.language)
        for key, value in values.items():
            line = line.replace("{" + key + "}", value)
        return line

    # -- the dialogue

    def send(self, message: str) -> list[dict[str, Any]]:
        message = self.fill(message)
        self.outcome.turns += 1
        self.said += "\n" + message
        self.outcome.transcript.append(("customer", message))
        replies = self.desk.say(self.sender, message)
        if language_of(message) and language_of(message) != self._last_customer_language:
            self._last_customer_language = language_of(message)
            self.bot_after_last_switch = []
        for reply in replies:
            text = str(reply.get("text") or "")
            if reply.get("buttons"):
                titles = " / ".join(str(b.get("title")) for b in reply["buttons"])
                text = f"{text} [{titles}]"
            self.outcome.transcript.append(("bot", text))
            self.replies_seen[TICKET.sub("SD-#", text)] += 1
            self.bot_after_last_switch.append(str(reply.get("text") or ""))
        return replies

    _last_customer_language: str | None = None

    def next_message(self, replies: list[dict[str, Any]], says: deque[str]) -> str | None:
        """What the customer says next, from the bot's last question and their facts."""
        kind: str | None = None
        buttons: list[dict[str, Any]] = []
        kinds_this_turn: set[str] = set()
        for reply in replies:
            found = question_kind(str(reply.get("text") or ""))
            if found:
                kind = found
                kinds_this_turn.add(found)
            if reply.get("buttons"):
                buttons = list(reply["buttons"])
        for found in kinds_this_turn:
            if found in FACT_KINDS:
                self._note_question(found)
        if kind in FACT_KINDS:
            if kind in self.scenario.detours and kind not in self.detoured:
                self.detoured.add(kind)
                return self.scenario.detours[kind]
            answer = self.scenario.answer(kind, self.answered[kind])
            if answer is not None:
                self.answered[kind] += 1
                return answer
        if kind == "rating":
            return self._rate(buttons)
        if kind in YES_NO_KINDS:
            self.asked[kind] += 1
            want_yes = _yes_no(self.scenario, kind)
            if buttons and self.persona.style == "web":
                button = _pick_button(buttons, want_yes)
                if button:
                    return str(button["payload"])
            scripted = self.scenario.answer("yes" if want_yes else "no", self.answered["yes_no"])
            self.answered["yes_no"] += 1
            return scripted or (YES if want_yes else NO)[self.persona.language]
        if buttons and not kind:
            # A clarifying question: a web customer clicks the choice that fits the flow.
            choice = self._choose(buttons)
            if choice and self.persona.style == "web":
                return str(choice["payload"])
            if choice:
                return str(choice.get("title"))
        if says:
            return says.popleft()
        return None

    _FLOW_WORDS: ClassVar[dict[str, str]] = {
        "report": r"problem|问题|報修|报修",
        "faq_detour": r"problem|问题|报修",
        "faq_or_problem": r"problem|问题|报修",
        "language_switch": r"problem|问题|报修",
        "status": r"progress|进度|進度",
        "my_tickets": r"my tickets|我的工单",
        "add_info": r"add|补充",
        "cancel": r"cancel|取消",
        "complain": r"complain|投诉",
        "human": r"person|人工",
        "rating": r"rate|评价",
    }

    def _choose(self, buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
        pattern = self._FLOW_WORDS.get(self.scenario.flow)
        for button in buttons:
            if pattern and re.search(
                pattern, f"{button.get('title')} {button.get('payload')}", re.I
            ):
                return button
        return None

    def _rate(self, buttons: list[dict[str, Any]]) -> str | None:
        """Asked for a score: the one the customer has in mind (clicked on the web)."""
        if self.asked["rating"] == 0 and _SCORE_GIVEN.search(self.said):
            self.outcome.asked_given.append("rating")
        self.asked["rating"] += 1
        wanted = self.scenario.expect.get("rated")
        score = str(wanted) if str(wanted).isdigit() else "4"
        if buttons and self.persona.style == "web":
            for button in buttons:
                if f'"{score}"' in str(button.get("payload")):
                    return str(button["payload"])
        return f"{score} stars" if self.persona.language == "en" else f"{score}星"

    def _note_question(self, kind: str) -> None:
        if self.asked[kind] == 0:
            for fact in _FACTS_FOR_KIND.get(kind, ()):
                if fact_given(fact, self.persona.facts.get(fact, ""), self.said):
                    self.outcome.asked_given.append(kind)
                    break
        self.asked[kind] += 1

    def run(self) -> Outcome:
        self.set_up()
        says = deque(self.scenario.says)
        message: str | None = says.popleft()
        restated = 0
        while message is not None and self.outcome.turns < MAX_TURNS:
            replies = self.send(message)
            texts = " ".join(str(r.get("text") or "") for r in replies)
            candidates = [
                n
                for n in TICKET.findall(texts)
                if n not in self.setup_numbers and n not in self.new_tickets_seen
            ]
            if candidates:
                # Only the customer's own new tickets (not "SD-100001" in an example).
                theirs = {t["number"] for t in self.desk.customer_tickets(self.sender)}
                for number in candidates:
                    if number in theirs:
                        self.new_tickets_seen.append(number)
                        if self.outcome.turns_to_ticket is None:
                            self.outcome.turns_to_ticket = self.outcome.turns
            if self.done(texts):
                break
            message = self.next_message(replies, says)
            if message is None and not self.finished_without_goal() and restated < 2:
                # Nothing asked and nothing left to say: the customer says it again.
                restated += 1
                message = self.scenario.says[-1]
        self.outcome.asked = {k: v for k, v in self.asked.items() if v}
        self.outcome.same_reply = max(self.replies_seen.values(), default=0)
        self.judge()
        return self.outcome

    def done(self, texts: str) -> bool:
        """Whether the customer got what they came for and would stop here."""
        expect = self.scenario.expect
        if expect.get("ticket") and self.new_tickets_seen:
            return True
        if expect.get("status") and self._status_named(texts):
            return True
        if expect.get("listed") and all(n in texts for n in self.setup_numbers):
            return True
        # A change to an existing ticket: done once the bot names it without asking more.
        changes = expect.get("cancelled") or expect.get("info_added") or expect.get("rated")
        named = any(n in texts for n in self.setup_numbers)
        return bool(changes and named and question_kind(texts) is None)

    def finished_without_goal(self) -> bool:
        """Conversations with nothing to get (a question, small talk) end when said."""
        return bool(self.scenario.expect.get("no_ticket"))

    def _status_named(self, texts: str) -> bool:
        number = self.setup_numbers[0] if self.setup_numbers else None
        unhappy = re.search(r"couldn't find|can't be reached|没有找到|无法访问", texts)
        return bool(number and number in texts and not unhappy)

    # -- judging through the API

    def judge(self) -> None:
        expect = self.scenario.expect
        failures = self.outcome.failures
        tickets = self.desk.customer_tickets(self.sender)
        new = [t for t in tickets if t["number"] not in self.setup_numbers]
        new.sort(key=lambda t: t["created_at"])
        if expect.get("ticket"):
            if not new:
                failures.append("no ticket")
            else:
                first = self.desk.ticket(new[0]["number"])
                self.outcome.queue = first["queue"]
                if expect.get("queue") and first["queue"] not in expect["queue"]:
                    # The right queue is part of success, not only a column.
                    self.outcome.wrong_queue = True
                    failures.append(f"wrong queue {first['queue']}")
                wanted = list(expect.get("on_ticket") or [])
                if (
                    self.asked["order_number"]
                    and self.persona.facts.get("order_number")
                    and not self.left_for_a_person("order_number")
                ):
                    # Asked for it and they have one: it must reach the ticket (a detour
                    # taken for the answer, or a question never asked again, loses it).
                    wanted.append("order_number")
                for fact in dict.fromkeys(wanted):
                    if not self._fact_on_ticket(fact, first):
                        failures.append(f"{fact} not on the ticket")
            if len(new) > 1:
                failures.append(f"{len(new)} tickets opened")
        if expect.get("no_ticket"):
            if new:
                failures.append("a ticket was opened")
            if any(self.asked[k] for k in FORM_KINDS):
                failures.append("ticket questions asked")
        if expect.get("escalated"):
            escalated = [t for t in new if t["status"] == "escalated" or t["escalation_level"]]
            if not escalated:
                failures.append("not escalated")
        if expect.get("status"):
            bot = " ".join(text for who, text in self.outcome.transcript if who == "bot")
            if not self._status_named(bot):
                failures.append("status not given")
        if expect.get("listed"):
            bot = " ".join(text for who, text in self.outcome.transcript if who == "bot")
            if not all(n in bot for n in self.setup_numbers):
                failures.append("tickets not listed")
        if expect.get("info_added"):
            thread = " ".join(
                m["body"] for m in self.desk.ticket(self.setup_numbers[0])["messages"]
            )
            if str(expect["info_added"]) not in thread:
                failures.append("information not on the ticket")
        cancelled = expect.get("cancelled") and self.desk.ticket(self.setup_numbers[0])
        if cancelled and cancelled["status"] != "closed":
            failures.append("ticket not cancelled")
        if expect.get("rated"):
            ticket = self.desk.ticket(self.setup_numbers[0])
            ratings = self.desk.profile(ticket["customer_id"]).get("ratings") or []
            scores = [r["score"] for r in ratings]
            wanted = expect["rated"]
            if not scores or (wanted != "any" and int(wanted) not in scores):
                failures.append(f"not rated {wanted} (ratings: {scores})")
        if expect.get("reply_language"):
            wrong = [
                t
                for t in self.bot_after_last_switch
                if language_of(self._own_words_removed(t)) not in (None, expect["reply_language"])
            ]
            if wrong:
                failures.append(f"replied in the wrong language: {wrong[0][:40]!r}")
        looped = [k for k, v in self.asked.items() if v >= REPEAT_LIMIT]
        if looped:
            failures.append(f"asked {', '.join(looped)} {REPEAT_LIMIT}+ times")
        if self.outcome.same_reply >= REPEAT_LIMIT:
            failures.append(f"the same reply {self.outcome.same_reply} times")
        if self.outcome.asked_given:
            failures.append(f"asked for {', '.join(self.outcome.asked_given)} already given")
        self.outcome.success = not failures

    def left_for_a_person(self, kind: str) -> bool:
        """Whether the customer answered the question for ``kind`` only by asking for a
        person, and got one: they chose not to give it, so the desk cannot carry it
        (asking again before handing over would keep them from the person they asked
        for). An FAQ detour is different: the form comes back and must ask again."""
        return (
            kind in self.detoured
            and not self.answered[kind]
            and bool(self.scenario.expect.get("escalated"))
        )

    def _own_words_removed(self, text: str) -> str:
        """A bot reply without the customer's own Chinese words it quotes back (a product
        named in Chinese, read back in an English reply, is not a reply in Chinese)."""
        return _CJK_RUN.sub(lambda m: "" if m.group(0) in self.said else m.group(0), text)

    def _fact_on_ticket(self, fact: str, ticket: dict[str, Any]) -> bool:
        if fact in ("phone", "email"):
            state = self.desk.contact_state(self.sender)
            return bool(state.get("has_phone" if fact == "phone" else "has_email"))
        value = self.persona.facts.get(fact, "")
        text = ticket["description"] + " " + " ".join(m["body"] for m in ticket["messages"])
        return fact_given(fact, value, text)


# ------------------------------------------------------------------ report


FLOW_ORDER = (
    "report",
    "status",
    "my_tickets",
    "add_info",
    "cancel",
    "complain",
    "human",
    "rating",
    "faq_detour",
    "faq_or_problem",
    "faq",
    "scope",
    "language_switch",
)


def summarise(outcomes: Sequence[Outcome]) -> list[list[object]]:
    """One row per flow and a total: success, turns to a ticket, loops, asked-again, queues."""
    by_flow: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_flow[outcome.flow].append(outcome)
    rows: list[list[object]] = []
    flows = [f for f in FLOW_ORDER if f in by_flow] + sorted(set(by_flow) - set(FLOW_ORDER))
    for flow in [*flows, "all"]:
        group = list(outcomes) if flow == "all" else by_flow[flow]
        zh = [o for o in group if o.language.startswith("zh")]
        en = [o for o in group if o.language.startswith("en")]
        turns = [o.turns_to_ticket for o in group if o.turns_to_ticket is not None]
        queued = [o for o in group if o.queue is not None]
        rows.append(
            [
                flow,
                f"{sum(o.success for o in group)}/{len(group)}",
                f"{sum(o.success for o in zh)}/{len(zh)}",
                f"{sum(o.success for o in en)}/{len(en)}",
                f"{sum(turns) / len(turns):.1f}" if turns else "-",
                sum(o.repeated for o in group),
                sum(bool(o.asked_given) for o in group),
                f"{sum(o.wrong_queue for o in queued)}/{len(queued)}" if queued else "-",
            ]
        )
    return rows


HEADER = (
    "flow",
    "success",
    "zh",
    "en",
    "turns to a ticket",
    "question asked 3+ times",
    "asked for what was given",
    "wrong queue",
)


def report(outcomes: Sequence[Outcome]) -> str:
    """Per flow for each set of scenarios (and both together when there are several),
    then every failed conversation."""
    sets = list(dict.fromkeys(o.set for o in outcomes))
    lines: list[str] = []
    for name in sets if len(sets) > 1 else []:
        group = [o for o in outcomes if o.set == name]
        lines += [
            f"Set `{name}` ({len(group)} conversations):",
            "",
            table(HEADER, summarise(group)),
            "",
        ]
    if len(sets) > 1:
        lines += ["Both sets:", ""]
    lines.append(table(HEADER, summarise(outcomes)))
    failed = [o for o in outcomes if not o.success or o.wrong_queue]
    if failed:
        lines.append("")
        lines.append(
            table(
                ("scenario", "style", "failures", "queue"),
                [
                    [
                        o.scenario,
                        f"{o.language} {o.style}",
                        "; ".join(o.failures) or "-",
                        f"{o.queue}{' (wrong)' if o.wrong_queue else ''}" if o.queue else "-",
                    ]
                    for o in failed
                ],
                align="llll",
            )
        )
    return "\n".join(lines)


# ------------------------------------------------------------------ running


@contextmanager
def started_desk(run_dir: Path, api_port: int, rasa_port: int, actions_port: int) -> Iterator[None]:
    """Start scripts/desk.py (service environment) on a fresh database and conversation
    store, and stop it with Ctrl-C afterwards.

    Fresh, because the desk never links a typed-in phone or e-mail to a second customer:
    on a database that already saw a persona's number, the check that the contact
    reached the ticket would fail for reasons that are not the bot's.
    """
    for stale in ("desk.db", "conversations.db"):
        (run_dir / stale).unlink(missing_ok=True)
    command = [
        str(ROOT / ".venv" / "bin" / "python"),
        str(ROOT / "scripts" / "desk.py"),
        "run",
        "--run-dir",
        str(run_dir),
        "--api-port",
        str(api_port),
        "--rasa-port",
        str(rasa_port),
        "--actions-port",
        str(actions_port),
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.strip() == "READY":
                break
        else:
            raise SystemExit("the desk did not start")
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", default=str(ROOT / ".run"))
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--rasa-port", type=int, default=5005)
    parser.add_argument("--actions-port", type=int, default=5055)
    parser.add_argument("--start-desk", action="store_true", help="start the desk for the run")
    parser.add_argument("--only", nargs="*", help="scenario ids (or flows) to run")
    parser.add_argument(
        "--set",
        dest="sets",
        nargs="*",
        choices=sorted(SETS),
        default=list(SETS),
        help="which sets of scenarios (default: all)",
    )
    parser.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    parser.add_argument("--label", default="", help="what was measured, for BENCHMARKS.md")
    parser.add_argument("--json", help="write every conversation (transcripts too) here")
    args = parser.parse_args(argv)

    scenarios = load_sets(args.sets)
    if args.only:
        scenarios = [s for s in scenarios if s.id in args.only or s.flow in args.only]
    run_dir = Path(args.run_dir).resolve()

    def run_all() -> list[Outcome]:
        desk = Desk.from_run_dir(run_dir, api_port=args.api_port, rasa_port=args.rasa_port)
        desk.login()
        run_id = uuid.uuid4().hex[:6]
        outcomes = []
        for scenario in scenarios:
            started = time.monotonic()
            outcome = Conversation(desk, scenario, run_id).run()
            mark = "ok  " if outcome.success else "FAIL"
            print(
                f"{mark} {scenario.id:40} {outcome.turns:2d} turns {time.monotonic() - started:5.1f} s"
                f"  {'; '.join(outcome.failures)}{'  wrong queue ' + str(outcome.queue) if outcome.wrong_queue else ''}",
                flush=True,
            )
            outcomes.append(outcome)
        return outcomes

    if args.start_desk:
        with started_desk(run_dir, args.api_port, args.rasa_port, args.actions_port):
            outcomes = run_all()
    else:
        outcomes = run_all()

    text = report(outcomes)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(
            json.dumps([o.__dict__ for o in outcomes], ensure_ascii=False, indent=1), "utf-8"
        )
    if args.write:
        body = (
            f"Measured {stamp()}{' (' + args.label + ')' if args.label else ''}; "
            f"{len(outcomes)} conversations; {machine()}.\n\n{text}"
        )
        write_section(ROOT / "BENCHMARKS.md", "simulated-customers", body)
    return 0 if all(o.success for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
