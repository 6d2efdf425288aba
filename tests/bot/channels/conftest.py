"""Serving a channel as `rasa run` does, in front of a stand-in for Rasa's dialogue.

What is real: the channel under test, registered on a Sanic app with Rasa's own
``register`` and served on a real socket; the HTTP client that drives it; the ``Agent``
object the channel hands messages to, with the desk's domain and an in-memory tracker
store; the channel's store (Redis when REDIS_URL is set, see ``stores``).

What is faked: everything Rasa does with a message once the channel has handed it
over. ``FakeAgent.handle_message`` replaces Rasa's whole message handling (no NLU
pipeline, no ``MessageProcessor``, no policies, no actions, no response templates): it
records the message, writes the user's turn and the language slot to the tracker the
way the NLU and the dialogue would, and sends back the replies the test scripts
through the channel's output channel. ``parse_message`` is a yes/no word list. The
trained model is exercised only in ``test_with_model.py``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from sanic import Sanic

from bot.channels.store import ChannelStore, MemoryStore, RedisStore
from bot.nlu.language import detect_language

ROOT = Path(__file__).resolve().parents[3]

# What the fake NLU hears as a yes or a no (the real one is trained on far more).
YES = {"对", "对的", "是", "是的", "没错", "yes", "yeah", "right", "correct"}
NO = {"不", "不对", "不是", "错了", "no", "nope", "wrong"}

Script = Callable[[UserMessage], list[dict[str, Any]]]


def echo(message: UserMessage) -> list[dict[str, Any]]:
    """The default answer: the text back, in the message's language."""
    if detect_language(message.text or "") == "en":
        return [{"text": f"Got: {message.text}", "utter_action": "utter_echo"}]
    return [{"text": f"收到：{message.text}", "utter_action": "utter_echo"}]


class FakeAgent(Agent):
    """An Agent object (domain, tracker store) whose message handling is a script.

    ``handle_message`` does not run Rasa's processor, policies or actions; it stands in
    for all of them (see the module's docstring).
    """

    def __init__(self, script: Script = echo, *, delay: float = 0.0, gated: bool = False) -> None:
        super().__init__(domain=Domain.load(str(ROOT / "bot" / "domain")))
        self.script = script
        self.delay = delay
        self.received: list[UserMessage] = []
        self.fail_next = False
        # Set when the first message arrives; with ``gated``, answering waits for
        # ``release``: tests order events by these signals instead of by sleeping.
        self.started = asyncio.Event()
        self.gated = gated
        self.release = asyncio.Event()

    def is_ready(self) -> bool:
        return True

    async def handle_message(self, message: UserMessage) -> None:
        """Record the message, set the language slot as the NLU would, answer as scripted."""
        self.received.append(message)
        self.started.set()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the dialogue failed")
        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        language = detect_language(message.text or "")
        if language:
            tracker.update(SlotSet("language", language))
        tracker.update(UserUttered(message.text, input_channel=message.input_channel))
        await self.tracker_store.save(tracker)
        if self.gated:
            await self.release.wait()
        await asyncio.sleep(self.delay)
        for reply in self.script(message):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    async def parse_message(self, message_data: str) -> dict[str, Any]:
        """A yes/no classifier standing in for the trained NLU."""
        text = message_data.strip().strip("，。,.!！?？").lower()
        name = "affirm" if text in YES else "deny" if text in NO else "report_problem"
        return {"text": message_data, "intent": {"name": name, "confidence": 0.9}}


@asynccontextmanager
async def serve(channel: InputChannel, agent: Any) -> AsyncIterator[str]:
    """Serve one channel as `rasa run` registers it; yields its webhook URL."""
    # Several Sanic apps in one process: test mode allows it.
    Sanic.test_mode = True
    app = Sanic(f"channel_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    # The socket is bound here, to a port the system picks, and handed to the server as
    # it is: no port is guessed free, released, and bound again (another process could
    # take it in between).
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    try:
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        try:
            yield f"http://127.0.0.1:{port}/webhooks/{channel.name()}/webhook"
        finally:
            server.close()
            await server.wait_closed()
    finally:
        sock.close()


def run(coroutine: Awaitable[Any]) -> Any:
    """Run one test's conversation on a fresh event loop."""
    return asyncio.run(coroutine)  # type: ignore[arg-type]


REQUIRE_ALL = "DESK_REQUIRE_ALL"


def data_keys(*key_ids: str) -> str:
    """A DESK_DATA_KEYS value with a fresh random key for each id (the first active)."""
    return ",".join(f"{k}:{base64.b64encode(os.urandom(32)).decode()}" for k in key_ids)


@pytest.fixture(autouse=True)
def channel_data_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    """The data keys a channel's Redis state is sealed with, as `rasa run` has them."""
    value = data_keys("k1")
    monkeypatch.setenv("DESK_DATA_KEYS", value)
    return value


@dataclass
class StoreFactory:
    """Stores for the channels under test: Redis when REDIS_URL is set, memory otherwise.

    Two stores made by one factory share their keys, as two Rasa instances in front of
    one Redis do. Without Redis, "two instances" are two channels on *one* MemoryStore
    object: that checks the channels' logic, not that the state crosses processes.
    """

    redis_url: str | None
    prefix: str

    @property
    def kind(self) -> str:
        """``"redis"`` or ``"memory"``: what the two-instance tests actually ran on."""
        return "redis" if self.redis_url else "memory"

    def __call__(self) -> ChannelStore:
        """A store; two made by one factory share their keys (two Rasa instances)."""
        if self.redis_url:
            return RedisStore(self.redis_url, prefix=self.prefix)
        if not hasattr(self, "_memory"):
            self._memory = MemoryStore()
        return self._memory


def redis_answers(url: str) -> str | None:
    """None when Redis at ``url`` answers a PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"{type(error).__name__}: {error}"
    finally:
        client.close()
    return None


@pytest.fixture
def stores() -> Iterator[StoreFactory]:
    """Redis under a unique prefix when REDIS_URL is set, one shared memory store otherwise.

    When REDIS_URL is set, Redis must answer: the test fails rather than run on memory
    (and pass without testing what it says). With DESK_REQUIRE_ALL=1 (CI) REDIS_URL must
    be set. The test's keys are deleted afterwards.
    """
    url = os.environ.get("REDIS_URL") or None
    if url is None and os.environ.get(REQUIRE_ALL, "").strip() not in ("", "0"):
        pytest.fail(f"{REQUIRE_ALL}=1 but REDIS_URL is not set: the channel stores need Redis")
    if url is not None and (why := redis_answers(url)) is not None:
        pytest.fail(f"REDIS_URL is set but Redis does not answer ({why})")
    factory = StoreFactory(url, f"test:channels:{uuid.uuid4().hex[:10]}")
    yield factory
    if url is not None:
        import redis

        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{factory.prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
