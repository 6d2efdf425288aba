"""End to end: what customers type on every channel is nowhere in plaintext at rest.

One desk (`scripts/desk.py run`, PostgreSQL + Redis when DATABASE_URL/REDIS_URL say so)
and customers in both languages on all four channels: the widget over socket.io (a real
engine.io/socket.io client on a WebSocket), WeChat signed pushes, the phone gateway's
signed turns, and REST. They type mobile numbers, e-mail addresses, resident ID numbers
(valid check digits) and a bank card number (Luhn); one asks for a person, an agent
claims the ticket and replies quoting all of it, and the reply reaches the widget (and
waits in its mailbox). Bad input goes through the channels too: a message that is only a
phone number, several numbers, an e-mail inside a URL, a paste at the channel's limit and
one of 500 KB.

Then every text column of every table, every Redis key of every type (its name and its
contents: strings, hashes, lists, sets, sorted sets, streams), Rasa's conversations file
and every process's log are searched for each value: none may be there in plaintext.
Finally the API shows the thread masked to an agent, contacts in clear to a supervisor
(ID and card still masked), and an agent's reveal returns the full text with an audit
entry. (The same rules for every role and part, and the pages' reveal dialog, are
tested in tests/api/test_ticket_text.py, tests/api/test_profiles.py and
tests/browser/test_console.py.)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.test_rest_conversation import _plaintext_in_database, _plaintext_in_redis
from tests.support_desk import Desk, DeskDidNotStart, running_desk

pytestmark = pytest.mark.e2e

TICKET = re.compile(r"SD-\d{6,}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(rng: random.Random) -> str:
    """An 18-character resident ID number whose check character is right."""
    body = f"110105{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def bank_card(rng: random.Random) -> str:
    """A 16-digit card number that passes Luhn."""
    digits = [6, 2, 2, 2, *(rng.randint(0, 9) for _ in range(11))]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def mobile(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(str(rng.randint(0, 9)) for _ in range(8))


class Typed:
    """The values customers type in this run (unique, so no other run's data matches)."""

    def __init__(self) -> None:
        rng = random.Random(uuid.uuid4().int)
        tag = uuid.uuid4().hex[:8]
        self.phones = [mobile(rng, p) for p in ("139", "137", "186", "158", "135")]
        self.emails = [f"{name}.{tag}@example.com" for name in ("li.lei", "sam.taylor", "wang")]
        self.ids = [resident_id(rng) for _ in range(2)]
        self.card = bank_card(rng)

    @property
    def all(self) -> list[str]:
        """Every value, also as customers and callers space them out."""
        spaced = [f"{p[:3]} {p[3:7]} {p[7:]}" for p in self.phones]
        grouped = " ".join(self.card[i : i + 4] for i in range(0, 16, 4))
        return [*self.phones, *spaced, *self.emails, *self.ids, self.card, grouped]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    try:
        with running_desk(tmp_path_factory.mktemp("desk")) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))


# --- the channels, as their clients speak them ------------------------------------------


class Widget:
    """The chat widget's side of Rasa's socket.io protocol: engine.io 4 long-polling, as
    the desk's socket.io server (python-socketio under Sanic) serves it."""

    def __init__(self, desk: Desk) -> None:
        self.url = f"{desk.rasa_url}/socket.io/"
        self.http = httpx.Client(headers={"Origin": desk.api_url}, timeout=60)
        opened = self.http.get(self.url, params={"EIO": "4", "transport": "polling"})
        opened.raise_for_status()
        assert opened.text.startswith("0"), opened.text
        self.sid = json.loads(opened.text[1:])["sid"]
        self.frames: queue.Queue[str] = queue.Queue()
        self.closed = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()
        self.session = uuid.uuid4().hex
        self.heard: list[dict[str, Any]] = []
        self._ack = 0
        self._send("40")
        assert self._until(lambda f: f.startswith("40"), 30)
        self._send("42" + json.dumps(["session_request", {"session_id": self.session}]))
        confirmed = self._until(lambda f: f.startswith('42["session_confirm"'), 30)
        assert json.loads(confirmed[2:])[1] == self.session

    def _params(self) -> dict[str, str]:
        return {"EIO": "4", "transport": "polling", "sid": self.sid}

    def _poll(self) -> None:
        while not self.closed.is_set():
            try:
                answer = self.http.get(self.url, params=self._params())
            except httpx.HTTPError:
                return
            if answer.status_code != 200:
                return
            for frame in answer.text.split("\x1e"):
                if frame == "2":  # engine.io ping
                    self._send("3")
                elif frame:
                    self.frames.put(frame)

    def _send(self, frame: str) -> None:
        self.http.post(self.url, params=self._params(), content=frame.encode()).raise_for_status()

    def _frame(self, timeout: float) -> str:
        frame = self.frames.get(timeout=timeout)
        if frame.startswith('42["bot_uttered"'):
            self.heard.append(json.loads(frame[2:])[1])
        return frame

    def _until(self, done: Any, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._frame(max(deadline - time.monotonic(), 0.1))
            if done(frame):
                return frame

    def say(self, text: str) -> list[str]:
        """Send a message; the texts the bot uttered until the message was acknowledged."""
        self._ack += 1
        before = len(self.heard)
        payload = {"message": text, "metadata": {"message_id": f"m{self._ack}"}}
        self._send(f"42{self._ack}" + json.dumps(["user_uttered", payload]))
        ack = self._until(lambda f: f.startswith(f"43{self._ack}["), 120)
        # python-socketio acknowledges a handler that returned nothing with [].
        assert json.loads(ack[len(f"43{self._ack}") :]) == [], ack
        return [str(m.get("text", "")) for m in self.heard[before:]]

    def wait_for(self, needle: str, timeout: float = 60) -> dict[str, Any]:
        """A message the desk pushes while the widget is open."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.heard:
                if needle in str(message.get("text", "")):
                    return message
            try:
                self._frame(max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                raise AssertionError(f"no pushed message with {needle!r}") from None

    def fetch_missed(self) -> list[dict[str, Any]]:
        """What the session's mailbox kept (read back from Redis, opened with the keys)."""
        self._ack += 1
        self._send(f"42{self._ack}" + json.dumps(["fetch_missed", {"after": 0}]))
        ack = self._until(lambda f: f.startswith(f"43{self._ack}["), 30)
        answer = json.loads(ack[len(f"43{self._ack}") :])[0]
        return list(answer["messages"])

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(httpx.HTTPError):
            self._send("1")  # engine.io close
        self.http.close()


def wechat(desk: Desk, openid: str, text: str) -> str:
    """A signed text push; the passive reply's content."""
    import xml.etree.ElementTree as ElementTree

    token = desk.secret("WECHAT_TOKEN")
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    body = (
        "<xml><ToUserName><![CDATA[gh_desk]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{uuid.uuid4().int % 10**15}</MsgId></xml>"
    )
    reply = httpx.post(
        f"{desk.rasa_url}/webhooks/wechat/webhook",
        params={"signature": signature, "timestamp": timestamp, "nonce": nonce},
        content=body.encode(),
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    if reply.text == "success":
        return ""
    return ElementTree.fromstring(reply.text).findtext("Content") or ""


def voice(desk: Desk, call_id: str, turn: int, transcript: str, caller: str) -> list[str]:
    """One signed turn from the phone gateway; what the caller hears."""
    body = json.dumps(
        {
            "call_id": call_id,
            "turn": turn,
            "caller_number": caller,
            "transcript": transcript,
            "confidence": 0.95,
            "alternatives": [],
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int(time.time()))
    secret = desk.secret("VOICE_GATEWAY_SECRET")
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    reply = httpx.post(
        f"{desk.rasa_url}/webhooks/voice/webhook",
        content=body,
        headers={
            "X-Desk-Timestamp": timestamp,
            "X-Desk-Signature": f"sha256={digest.hexdigest()}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return list(reply.json()["replies"])


def rest(desk: Desk, sender: str, text: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{desk.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, **extra},
        timeout=120,
    )


def until_ticket(say: Any, turns: list[str]) -> str:
    """Say the turns in order until a reply names a ticket (the form may ask for the
    problem or the contact again when a message carries more than it expects)."""
    heard: list[str] = []
    for turn in turns:
        replies = " ".join(say(turn))
        heard.append(replies)
        found = TICKET.search(replies)
        if found:
            return found.group(0)
    raise AssertionError(f"no ticket number after {len(turns)} turns: {heard!r}")


def ticket_of(desk: Desk, conversation: str) -> str:
    with desk.engine.connect() as connection:
        number = connection.execute(
            sa.text(
                "SELECT number FROM tickets WHERE conversation_id = :c ORDER BY id DESC LIMIT 1"
            ),
            {"c": conversation},
        ).scalar()
    assert number, f"no ticket for {conversation}"
    return str(number)


def wait_delivered(desk: Desk, number: str, kind: str = "reply") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with desk.engine.connect() as connection:
            delivered = connection.execute(
                sa.text(
                    "SELECT d.delivered_at FROM relay_deliveries d JOIN tickets t"
                    " ON t.id = d.ticket_id WHERE t.number = :n AND d.kind = :k"
                    " AND d.delivered_at IS NOT NULL"
                ),
                {"n": number, "k": kind},
            ).first()
        if delivered:
            return
        time.sleep(0.5)
    raise AssertionError(f"the relay did not deliver the {kind} of {number}")


def _redis_client() -> Any:
    import redis

    url = os.environ.get("REDIS_URL")
    return redis.Redis.from_url(url) if url else None


class TestNothingTypedIsKeptInPlaintext:
    def test_conversations_on_every_channel_leave_only_sealed_or_masked_copies(
        self, desk: Desk
    ) -> None:
        typed = Typed()
        p, e, ids, card = typed.phones, typed.emails, typed.ids, typed.card

        # The widget (Chinese): a problem with an ID number and a phone, the contact, then
        # a person; in the handoff the card and an e-mail go to the ticket's thread.
        widget = Widget(desk)
        try:
            problem = "我的宽带从昨天开始就连不上了"
            until_ticket(
                widget.say, [f"{problem}，身份证号 {ids[0]}，电话 {p[0]}", p[0], problem, p[0]]
            )
            widget.say("我要找人工客服")
            number = ticket_of(desk, f"web:{widget.session}")
            widget.say(f"我的银行卡号是 {card}，邮箱 {e[0]}")

            # An agent claims the ticket and replies quoting everything the customer typed.
            supervisor = desk.staff_headers("zhao.min")
            ticket = httpx.get(
                f"{desk.api_url}/api/v1/tickets/{number}", headers=supervisor, timeout=30
            ).json()
            agent_name = ticket["assignee"] or "wang.fang"
            agent = desk.staff_headers(agent_name)
            if ticket["assignee"] is None:
                httpx.post(
                    f"{desk.api_url}/api/v1/tickets/{number}/claim", headers=agent, timeout=30
                ).raise_for_status()
            quoted = f"您好，已核对：电话 {p[0]}，邮箱 {e[0]}，身份证 {ids[0]}，卡号 {card}。"
            httpx.post(
                f"{desk.api_url}/api/v1/tickets/{number}/messages",
                json={"body": quoted, "public": True},
                headers=agent,
                timeout=30,
            ).raise_for_status()
            wait_delivered(desk, number)
            # The customer sees the reply in full on the open widget, and it waits in the
            # session's mailbox for a reload (in Redis, sealed: checked below).
            assert widget.wait_for("已核对")["text"].count(card) == 1
            assert any(p[0] in str(m.get("text")) for m in widget.fetch_missed())
        finally:
            widget.close()

        # REST (English): ID, phone and e-mail in the first message, a card later; bad
        # input: only a phone number, several numbers, an e-mail inside a URL.
        sender = f"pii-{uuid.uuid4().hex[:8]}"
        problem = "my internet has been down since yesterday"

        def say_rest(text: str) -> list[str]:
            answer = rest(desk, sender, text)
            assert answer.status_code == 200, answer.text
            return [str(m.get("text", "")) for m in answer.json()]

        until_ticket(
            say_rest, [f"{problem}, ID {ids[1]}, call {p[1]} or {e[1]}", p[1], problem, p[1]]
        )
        for text in (
            p[2],
            f"{p[1]}, {p[2]} / +86 {p[3][:3]} {p[3][3:7]} {p[3][7:]}",
            f"reset link: https://example.com/reset?u={e[2]}&card={card}",
        ):
            assert rest(desk, sender, text, message_id=uuid.uuid4().hex[:12]).status_code == 200
        # A paste at the channel's limit goes through; one of 500 KB is refused, clearly.
        at_limit = (f"log line {p[4]} {e[2]} " * 2000)[:20_000]
        assert rest(desk, sender, at_limit).status_code == 200
        huge = rest(desk, sender, f"{p[4]} {e[2]} " * 20_000)
        assert huge.status_code == 413
        assert huge.json()["error"]["code"] == "bad_request" and p[4] not in huge.text

        # WeChat (Chinese): a problem with an e-mail and an ID number, then the contact.
        openid = f"oPii{uuid.uuid4().hex[:12]}"
        asked = wechat(desk, openid, f"路由器坏了，联系我 {e[1]}，身份证 {ids[1]}")
        assert asked, "no passive reply"
        wechat(desk, openid, p[3])

        # The phone (Chinese, then English): the caller reads out a number and a card.
        call_id = f"call-pii-{uuid.uuid4().hex[:8]}"
        caller = f"+86 {p[4][:3]} {p[4][3:7]} {p[4][7:]}"
        voice(desk, call_id, 1, f"宽带坏了，回电 {p[2]}", caller)
        voice(desk, call_id, 2, f"my card number is {card}", caller)

        # The scan: every text column, every Redis key of every type, Rasa's conversations
        # file, every process's log.
        found = _plaintext_in_database(desk, typed.all) + _plaintext_in_redis(typed.all)
        for path in [
            *sorted((desk.run_dir / "logs").glob("*.log")),
            desk.run_dir / "conversations.db",
        ]:
            if path.exists():
                raw = path.read_bytes()
                found += [f"{path.name}: {v}" for v in typed.all if v.encode() in raw]
        assert found == []

        # The scan looked where the values are: sealed conversations and a sealed mailbox.
        client = _redis_client()
        if client is not None:
            try:
                from ticketing.conversations import channel_key_tag

                mailbox = f"desk:web:mailbox:{channel_key_tag(f'web:{widget.session}')}"
                members = client.zrange(mailbox, 0, -1)
                tracker = client.get(f"desk:tracker:web:{widget.session}") or b""
            finally:
                client.close()
            key_id = desk.secret("DESK_DATA_KEYS").split(":", 1)[0].encode()
            assert members and all(m.startswith(key_id + b":") for m in members)
            assert tracker.startswith(key_id + b":")

        # Shown by role, revealed with an audit entry.
        agent = desk.staff_headers(agent_name)
        as_agent = httpx.get(
            f"{desk.api_url}/api/v1/tickets/{number}", headers=agent, timeout=30
        ).json()
        shown = json.dumps(as_agent, ensure_ascii=False)
        assert [v for v in typed.all if v in shown] == [], "an agent sees a value in clear"
        assert f"{p[0][:3]}****{p[0][-4:]}" in shown
        as_boss = json.dumps(
            httpx.get(
                f"{desk.api_url}/api/v1/tickets/{number}", headers=supervisor, timeout=30
            ).json(),
            ensure_ascii=False,
        )
        assert p[0] in as_boss and e[0] in as_boss  # contacts in clear for supervisors
        assert ids[0] not in as_boss and card not in as_boss  # ID and card stay masked
        reply = next(m for m in as_agent["messages"] if m.get("masked") and "已核对" in m["body"])
        with desk.engine.connect() as connection:
            reveals_before = connection.execute(
                sa.text("SELECT count(*) FROM audit_log WHERE action = 'reveal'")
            ).scalar_one()
        revealed = httpx.post(
            f"{desk.api_url}/api/v1/tickets/{number}/reveal",
            json={
                "part": "message",
                "id": reply["id"],
                "reason_code": "callback",
                "reason": "calling the customer back about the outage",
            },
            headers=agent,
            timeout=30,
        )
        assert revealed.status_code == 200, revealed.text
        assert quoted in json.dumps(revealed.json(), ensure_ascii=False)
        with desk.engine.connect() as connection:
            reveals = (
                connection.execute(
                    sa.text("SELECT details FROM audit_log WHERE action = 'reveal' ORDER BY id")
                )
                .scalars()
                .all()
            )
        assert len(reveals) == reveals_before + 1
        assert not [v for v in typed.all if v in json.dumps(reveals[-1], ensure_ascii=False)]

        # Erasure of the widget customer reaches their conversation and the channel's keys.
        client = _redis_client()
        if client is None:
            return
        from ticketing.conversations import channel_key_tag

        conversation = f"web:{widget.session}"
        tag = channel_key_tag(conversation)
        try:
            assert client.exists(f"desk:tracker:{conversation}", mailbox) == 2
            erased = httpx.post(
                f"{desk.api_url}/api/v1/customers/{as_agent['customer_id']}/erase",
                json={"reason": "PIPL erasure request from the e2e customer"},
                headers=desk.staff_headers("admin"),
                timeout=60,
            )
            assert erased.status_code == 200, erased.text
            left = [k for k in client.scan_iter(match=f"desk:*{tag}*", count=1000)]
            assert left == [] and client.exists(f"desk:tracker:{conversation}") == 0
        finally:
            client.close()
