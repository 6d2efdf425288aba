"""Rasa's /metrics: turns, latency, fallbacks and handoffs per channel; scrapers only."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import aiohttp
import pytest
import rasa.server
from prometheus_client.parser import text_string_to_metric_families
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot.metrics import BotMetrics, actions_of_last_turn
from bot.serve import install_metrics, install_turn_log
from ticketing.scrape_access import ScrapeAccess, parse_networks

TOKEN = "scrape-token-0123456789"


def samples(metrics: BotMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }


def tracker(*turns: tuple[str, str, list[str]]) -> DialogueStateTracker:
    """A conversation of (channel, intent, actions run) turns."""
    events: list[Any] = [ActionExecuted("action_listen")]
    for channel, intent, actions in turns:
        events.append(
            UserUttered("...", {"name": intent, "confidence": 0.9}, input_channel=channel)
        )
        events += [ActionExecuted(name) for name in [*actions, "action_listen"]]
    return DialogueStateTracker.from_events("customer-1", events)


def count_last_turn(metrics: BotMetrics, conversation: DialogueStateTracker) -> None:
    metrics.predicted(
        channel=conversation.get_latest_input_channel(),
        intent=conversation.latest_message.intent.get("name"),
        actions=actions_of_last_turn(conversation.events),
    )


def test_fallbacks_and_handoffs_are_counted_per_channel() -> None:
    metrics = BotMetrics()
    first = ("wechat", "nlu_fallback", ["action_clarify"])
    count_last_turn(metrics, tracker(first))
    count_last_turn(metrics, tracker(first, ("wechat", "request_human", ["action_request_human"])))
    count_last_turn(metrics, tracker(("rest", "greet", ["action_default_fallback"])))
    count_last_turn(metrics, tracker(("voice", "greet", ["utter_greet"])))
    count_last_turn(metrics, tracker(("made-up", "nlu_fallback", [])))
    found = samples(metrics)
    assert found[("desk_bot_fallbacks_total", (("channel", "wechat"),))] == 1.0
    assert found[("desk_bot_fallbacks_total", (("channel", "rest"),))] == 1.0
    assert found[("desk_bot_fallbacks_total", (("channel", "other"),))] == 1.0
    assert found[("desk_bot_handoffs_total", (("channel", "wechat"),))] == 1.0
    assert ("desk_bot_fallbacks_total", (("channel", "voice"),)) not in found


def test_every_handled_message_is_a_counted_and_timed_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Agent, "handle_message", Agent.handle_message)  # restored afterwards
    metrics = BotMetrics()
    install_turn_log(metrics)
    # Rasa's Agent without a model ignores the message (no replies): still a turn handled.
    assert asyncio.run(Agent().handle_message(UserMessage("hi", input_channel="socketio"))) is None
    found = samples(metrics)
    answered = ("desk_bot_turns_total", (("channel", "socketio"), ("outcome", "answered")))
    assert found[answered] == 1.0
    assert found[("desk_bot_turn_seconds_count", (("channel", "socketio"),))] == 1.0


def scrape(access: ScrapeAccess, headers: dict[str, str], metrics: BotMetrics) -> tuple[int, str]:
    """Build Rasa's own app (with the desk's /metrics added) and read /metrics over HTTP."""

    async def main() -> tuple[int, str]:
        Sanic.test_mode = True
        app = rasa.server.create_app()
        app.name = f"rasa_{uuid.uuid4().hex[:8]}"
        listener = socket.socket()  # Sanic reads port 0 as 8000
        listener.bind(("127.0.0.1", 0))
        server = await app.create_server(sock=listener, return_asyncio_server=True)
        assert server is not None
        await server.startup()
        port = listener.getsockname()[1]
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as response,
            ):
                return response.status, await response.text()
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("access", "headers", "status"),
    [
        (ScrapeAccess(token=TOKEN), {"Authorization": f"Bearer {TOKEN}"}, 200),
        (ScrapeAccess(token=TOKEN), {}, 401),
        (ScrapeAccess(token=TOKEN), {"Authorization": "Bearer not-the-token-at-all"}, 401),
        (ScrapeAccess(), {"Authorization": f"Bearer {TOKEN}"}, 403),
        (ScrapeAccess(networks=parse_networks("127.0.0.0/8")), {}, 200),
    ],
)
def test_rasas_app_serves_metrics_to_scrapers_only(
    monkeypatch: pytest.MonkeyPatch, access: ScrapeAccess, headers: dict[str, str], status: int
) -> None:
    monkeypatch.setattr(rasa.server, "create_app", rasa.server.create_app)
    monkeypatch.setattr(
        MessageProcessor, "_run_prediction_loop", MessageProcessor._run_prediction_loop
    )
    metrics = BotMetrics()
    metrics.turn(channel="wechat", outcome="answered", seconds=0.2)
    install_metrics(metrics, access)
    answer, text = scrape(access, headers, metrics)
    assert answer == status
    if status == 200:
        families = {f.name for f in text_string_to_metric_families(text)}
        assert {"desk_bot_turns", "desk_bot_turn_seconds"} <= families
        assert 'desk_bot_turns_total{channel="wechat",outcome="answered"} 1.0' in text
    else:
        assert "desk_bot" not in text
