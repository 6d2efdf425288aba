"""Serving a channel as `rasa run` does, in front of a small stand-in for the agent.

The channel is registered on a Sanic app with Rasa's own ``register`` and served on a
real port; requests come from a real HTTP client. The agent is a real ``rasa`` Agent
with the desk's domain, NLG and an in-memory tracker store; only understanding is
faked: it records each message, keeps the language slot the way the NLU would, and
answers with what the test scripts.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
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
    """A real Agent (domain, NLG, tracker store) whose understanding is scripted."""

    def __init__(self, script: Script = echo, *, delay: float = 0.0) -> None:
        super().__init__(domain=Domain.load(str(ROOT / "bot" / "domain")))
        self.script = script
        self.delay = delay
        self.received: list[UserMessage] = []
        self.fail_next = False

    def is_ready(self) -> bool:
        return True

    async def handle_message(self, message: UserMessage) -> None:
        """Record the message, set the language slot as the NLU would, answer as scripted."""
        self.received.append(message)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the dialogue failed")
        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        language = detect_language(message.text or "")
        if language:
            tracker.update(SlotSet("language", language))
        tracker.update(UserUttered(message.text, input_channel=message.input_channel))
        await self.tracker_store.save(tracker)
        await asyncio.sleep(self.delay)
        for reply in self.script(message):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    async def parse_message(self, message_data: str) -> dict[str, Any]:
        """A yes/no classifier standing in for the trained NLU."""
        text = message_data.strip().strip("，。,.!！?？").lower()
        name = "affirm" if text in YES else "deny" if text in NO else "report_problem"
        return {"text": message_data, "intent": {"name": name, "confidence": 0.9}}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(channel: InputChannel, agent: Any) -> AsyncIterator[str]:
    """Serve one channel as `rasa run` registers it; yields its webhook URL."""
    # Several Sanic apps in one process: test mode allows it.
    Sanic.test_mode = True
    app = Sanic(f"channel_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/{channel.name()}/webhook"
    finally:
        server.close()
        await server.wait_closed()


def run(coroutine: Awaitable[Any]) -> Any:
    """Run one test's conversation on a fresh event loop."""
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@dataclass
class StoreFactory:
    """Stores for the channels under test: Redis when REDIS_URL is set, memory otherwise."""

    redis_url: str | None
    prefix: str

    def __call__(self) -> ChannelStore:
        """A store; two made by one factory share their keys (two Rasa instances)."""
        if self.redis_url:
            return RedisStore(self.redis_url, prefix=self.prefix)
        if not hasattr(self, "_memory"):
            self._memory = MemoryStore()
        return self._memory


@pytest.fixture
def stores() -> StoreFactory:
    """Redis under a unique prefix when REDIS_URL is set, one shared memory store otherwise."""
    return StoreFactory(os.environ.get("REDIS_URL"), f"test:channels:{uuid.uuid4().hex[:10]}")
