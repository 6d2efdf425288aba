"""End to end, scaled out: two Rasa, two action servers and two API workers behind nginx
(`scripts/desk_scaled.py run`, what `make demo-scaled` runs) on the real PostgreSQL and
Redis. Customers talk through the balancer, on the REST channel and on a socket.io
widget connection; in the middle of their ticket forms one Rasa instance and one API
worker are killed (SIGKILL). Every conversation goes on from where it was on the
survivors, every ticket is opened exactly once, no message is lost or answered twice,
and an agent's reply reaches a widget connected to the other Rasa instance.

Clients behave as the desk's own do: a REST client sends a message id with each message
and sends it again when the answer did not come back (a 502 from nginx when the instance
died with it); the widget reconnects and sends its unacknowledged message again.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support_desk import Desk, DeskDidNotStart, running_desk

pytestmark = pytest.mark.e2e

TICKET = re.compile(r"SD-\d{6,}")
# How long a client keeps sending a message again before it gives up (the claim of a
# dead instance lapses after 15 s, its conversation lock after 15 s).
RETRY_SECONDS = 60
CLOSED = -1  # what a widget socket's reader queues when the connection is gone


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    nginx = bool(shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"))
    needs = {
        "PostgreSQL (DATABASE_URL)": os.environ.get("DATABASE_URL", "").startswith("postgres"),
        "Redis (REDIS_URL)": bool(os.environ.get("REDIS_URL")),
        "nginx (make test-e2e installs it)": nginx,
    }
    missing = [what for what, there in needs.items() if not there]
    if missing:
        pytest.skip("the scaled desk needs " + ", ".join(missing))
    try:
        with running_desk(tmp_path_factory.mktemp("scaled"), instances=2) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))


class RestCustomer:
    """A REST client as the desk's own: a message id per message, sent again until answered."""

    def __init__(self, desk: Desk, sender: str) -> None:
        self.desk = desk
        self.sender = sender
        self.sent: list[str] = []
        self.attempts = 0

    def say(self, text: str) -> list[str]:
        message_id = uuid.uuid4().hex
        self.sent.append(text)
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            self.attempts += 1
            try:
                response = httpx.post(
                    f"{self.desk.rasa_url}/webhooks/rest/webhook",
                    json={"sender": self.sender, "message": text, "message_id": message_id},
                    timeout=30,
                )
                if response.status_code == 200:
                    return [m["text"] for m in response.json() if "text" in m]
                # 502: nginx lost the instance with the message; 409: still being answered.
                assert response.status_code in (409, 502, 503, 504), response.text
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.sender}: {text!r} was never answered"
            time.sleep(0.5)


class WidgetCustomer:
    """The widget's socket.io protocol as the widget speaks it by default: Engine.IO 4
    long-polling over HTTP. One session; messages with ids; when the connection is lost,
    it reconnects through the same address and sends the unacknowledged message again."""

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/socket.io/"
        self.session_id = uuid.uuid4().hex
        self.bot: queue.Queue[dict[str, Any]] = queue.Queue()
        self.acks: queue.Queue[int] = queue.Queue()
        self.sid: str | None = None
        self.sender = httpx.Client(timeout=30)
        self.next_ack = 0
        self.reconnects = 0

    def _packets(self, body: str) -> list[str]:
        return [p for p in body.split("\x1e") if p]

    def _post(self, sid: str, packet: str) -> None:
        response = self.sender.post(
            self.url, params={"EIO": "4", "transport": "polling", "sid": sid}, content=packet
        )
        if response.status_code != 200:
            raise ConnectionError(f"socket.io POST answered {response.status_code}")

    def connect(self) -> None:
        opened = self.sender.get(self.url, params={"EIO": "4", "transport": "polling"})
        opened.raise_for_status()
        [handshake] = self._packets(opened.text)
        assert handshake.startswith("0"), handshake  # Engine.IO open
        sid = str(json.loads(handshake[1:])["sid"])
        self._post(sid, "40")  # join the default namespace
        self.sid = sid
        self.acks = queue.Queue()
        confirmed: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._poll, args=(sid, confirmed, self.acks), daemon=True).start()
        self._post(sid, "42" + json.dumps(["session_request", {"session_id": self.session_id}]))
        assert confirmed.get(timeout=15) == self.session_id

    def _poll(self, sid: str, confirmed: queue.Queue[str], acks: queue.Queue[int]) -> None:
        """Long-poll until the session is gone: events, acknowledgements, pings."""
        with httpx.Client(timeout=60) as poller:
            while self.sid == sid:
                try:
                    response = poller.get(
                        self.url, params={"EIO": "4", "transport": "polling", "sid": sid}
                    )
                except httpx.TransportError:
                    break
                if response.status_code != 200:
                    break  # the instance is gone (502) or does not know the session (400)
                for packet in self._packets(response.text):
                    if packet == "2":
                        try:
                            self._post(sid, "3")  # Engine.IO ping -> pong
                        except (httpx.HTTPError, ConnectionError, RuntimeError):
                            break  # the instance is gone, or the client closed meanwhile
                    elif packet == "1":
                        self.sid = None  # closed by the server
                    elif packet.startswith("42"):
                        event, *args = json.loads(packet[2:])
                        if event == "session_confirm":
                            confirmed.put(args[0])
                        elif event == "bot_uttered":
                            self.bot.put(args[0])
                    elif packet.startswith("43"):
                        acks.put(int(packet[2:].split("[", 1)[0]))
        acks.put(CLOSED)

    def say(self, text: str, *, expect: str) -> list[str]:
        """Send a message until acknowledged; the bot's texts until one contains ``expect``."""
        message_id = uuid.uuid4().hex
        data = {
            "message": text,
            "session_id": self.session_id,
            "metadata": {"message_id": message_id},
        }
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            self.next_ack += 1
            try:
                if self.sid is None:
                    self.connect()
                    self.reconnects += 1
                assert self.sid is not None
                self._post(self.sid, f"42{self.next_ack}" + json.dumps(["user_uttered", data]))
                while (ack := self.acks.get(timeout=RETRY_SECONDS)) != self.next_ack:
                    if ack == CLOSED:
                        raise ConnectionError("the connection closed before the acknowledgement")
                break
            except (httpx.HTTPError, OSError, queue.Empty, AssertionError, ValueError):
                # The instance holding the session died: connect again, send it again.
                self.sid = None
                assert time.monotonic() < deadline, f"widget: {text!r} was never acknowledged"
                time.sleep(0.5)
        return self.replies_until(expect)

    def replies_until(self, expect: str, timeout: float = 30) -> list[str]:
        texts: list[str] = []
        while not any(expect in t for t in texts):
            try:
                texts.append(str(self.bot.get(timeout=timeout).get("text", "")))
            except queue.Empty:
                raise queue.Empty(f"waited for {expect!r}, got {texts}") from None
        return texts

    def close(self) -> None:
        if self.sid is not None:
            sid, self.sid = self.sid, None
            with contextlib.suppress(httpx.HTTPError, OSError):
                self._post(sid, "41")
        self.sender.close()


def tickets_of(desk: Desk) -> int:
    with desk.engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM tickets")).scalar_one())


def conversation(desk: Desk, conversation_id: str) -> list[tuple[str, str]]:
    """The conversation's messages and actions as its tracker holds them (any instance)."""
    response = httpx.get(
        f"{desk.rasa_url}/conversations/{conversation_id}/tracker",
        headers=desk.rasa_headers,
        timeout=30,
    )
    response.raise_for_status()
    return [
        (e["event"], str(e.get("text") or e.get("name") or e.get("message_id")))
        for e in response.json()["events"]
        if e["event"] in ("user", "bot", "action")
    ]


def user_texts(desk: Desk, conversation_id: str) -> list[str]:
    """The customer's messages as the conversation's tracker holds them (any instance)."""
    response = httpx.get(
        f"{desk.rasa_url}/conversations/{conversation_id}/tracker",
        headers=desk.rasa_headers,
        timeout=30,
    )
    response.raise_for_status()
    return [e["text"] for e in response.json()["events"] if e["event"] == "user"]


def holds_unread_request(port: int) -> bool:
    """Whether a connection to this local port holds bytes its process has not read, or
    waits to be accepted (/proc/net/tcp: an established socket's receive queue, a
    listening socket's accept queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        unread = int(fields[4].split(":")[1], 16)
        if local_port == port and fields[3] in ("01", "0A") and unread > 0:
            return True
    return False


@contextlib.contextmanager
def killed_holding_a_request(desk: Desk, service: str) -> Iterator[None]:
    """Stop ``service`` ("rasa-1"), run the block (which sends it work), and SIGKILL it
    once a request has reached it and was not answered: the kill hits a message in
    flight by construction, not by timing."""
    pid = desk.pid(service)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
        deadline = time.monotonic() + RETRY_SECONDS
        while not holds_unread_request(desk.ports[service]):
            assert time.monotonic() < deadline, f"no request reached {service}"
            time.sleep(0.1)  # polls /proc; the wait ends on the request's arrival
    finally:
        os.kill(pid, signal.SIGKILL)


class TestTwoInstances:
    def test_an_agent_reply_reaches_a_widget_connected_to_the_other_rasa(self, desk: Desk) -> None:
        widget = WidgetCustomer(desk.instance_url("rasa", 2))
        widget.connect()
        try:
            widget.say("hello", expect="")
            # The handoff relay's push, received by the first instance's HTTP API.
            reply = "Agent Wang: your line is fixed."
            event = {"event": "bot", "text": reply, "timestamp": time.time()}
            response = httpx.post(
                f"{desk.instance_url('rasa', 1)}/conversations/web:{widget.session_id}"
                "/tracker/events",
                params={"output_channel": "latest", "execute_side_effects": "true"},
                headers=desk.rasa_headers,
                json=[event],
                timeout=30,
            )
            response.raise_for_status()
            assert reply in widget.replies_until("Agent Wang")
        finally:
            widget.close()

    def test_killing_a_rasa_and_an_api_worker_mid_form_loses_nothing(self, desk: Desk) -> None:
        customers = [RestCustomer(desk, f"kill-{i}-{uuid.uuid4().hex[:8]}") for i in range(6)]
        widget = WidgetCustomer(desk.rasa_url)  # through nginx, sticky
        widget.connect()
        problem = "my internet has been down since yesterday"
        before = tickets_of(desk)
        with ThreadPoolExecutor(len(customers)) as pool:
            asked = list(pool.map(lambda c: " ".join(c.say(problem)), customers))
        widget_asked = " ".join(widget.say(problem, expect="phone"))
        for text in [*asked, widget_asked]:
            assert "phone" in text or "e-mail" in text, text  # the ticket form is open

        # Everyone answers the form's question at once; one Rasa instance and one API
        # worker die holding turns they took in and had not answered (each is stopped
        # first, so the requests that reach it wait there until it is killed).
        with ThreadPoolExecutor(len(customers) + 1) as pool:
            with killed_holding_a_request(desk, "rasa-1"):
                answers = [pool.submit(c.say, f"1380013800{i}") for i, c in enumerate(customers)]
                widget_answer = pool.submit(widget.say, "13800138009", expect="SD-")
            with killed_holding_a_request(desk, "api-1"):
                pass  # the turns on rasa-2 create their tickets through both API workers
            numbers = [TICKET.findall(" ".join(a.result())) for a in answers]
            try:
                widget_number = TICKET.findall(" ".join(widget_answer.result()))
            except queue.Empty:
                story = conversation(desk, f"web:{widget.session_id}")
                raise AssertionError(f"the widget got no ticket number: {story}") from None

        # The kill hit turns in flight: a REST message answered 502 and sent again, or the
        # widget's session lost with its instance (ip_hash puts 127.0.0.1 on rasa-1).
        repeats = sum(c.attempts - len(c.sent) for c in customers)
        assert repeats + widget.reconnects > 0, "the kill interrupted no conversation"

        # Each customer got one ticket, and the database holds each exactly once.
        opened = [n[0] for n in [*numbers, widget_number] if n]
        assert len(opened) == len(customers) + 1, (numbers, widget_number)
        assert len(set(opened)) == len(opened)
        assert tickets_of(desk) - before == len(opened)
        for number in opened:
            row = desk.ticket_row(number)
            assert row is not None and row.description.startswith(problem), number

        # The conversations go on, on the surviving instances, from where they were.
        for customer, number in zip(customers, opened, strict=False):
            status = " ".join(customer.say(f"what's the status of {number}"))
            assert number in status, status
        # The widget's answer holds its ticket's number (say() waits until one does).
        widget.say(f"what's the status of {widget_number[0]}", expect=widget_number[0])
        widget.close()

        # Every message is in its conversation once, in order: none lost, none doubled.
        for customer in customers:
            assert user_texts(desk, customer.sender) == customer.sent
        assert user_texts(desk, f"web:{widget.session_id}") == [
            problem,
            "13800138009",
            f"what's the status of {widget_number[0]}",
        ]
        assert any("rasa-1 died" in line for line in desk.output), desk.output[-20:]
        assert any("api-1 died" in line for line in desk.output), desk.output[-20:]
