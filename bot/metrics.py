"""Rasa's Prometheus metrics: turns, turn latency, fallbacks and handoffs per channel.

``GET /metrics`` on the Rasa server (added by ``bot/serve.py``), readable with
``DESK_METRICS_TOKEN`` as a Bearer token or from a ``DESK_METRICS_ALLOW`` address
(ticketing/scrape_access.py), never by the public. Per process: scrape every instance.

- a **turn** is one customer message handled (``Agent.handle_message``), answered or
  failed, timed from arrival to the bot's last reply;
- a **fallback** is a turn the NLU could not place (``nlu_fallback``) or whose next
  action the policies could not choose (``action_default_fallback``);
- a **handoff** is a turn in which the bot asked for a human (``action_request_human``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CHANNELS = frozenset({"rest", "socketio", "wechat", "voice", "cmdline"})
OTHER_CHANNEL = "other"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback"})
HANDOFF_ACTIONS = frozenset({"action_request_human"})
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def channel_label(channel: object) -> str:
    """The channel's name when it is one of the desk's, else ``other`` (labels stay bounded)."""
    return channel if isinstance(channel, str) and channel in CHANNELS else OTHER_CHANNEL


class BotMetrics:
    """One Rasa process's figures, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "desk_bot_turns",
            "Customer messages handled, by channel and outcome (answered, failed)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "desk_bot_turn_seconds",
            "Time from a customer message to the bot's last reply, by channel",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "desk_bot_fallbacks",
            "Turns the bot could not understand or decide, by channel",
            ["channel"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "desk_bot_handoffs",
            "Turns in which the bot handed the customer to a human, by channel",
            ["channel"],
            registry=self.registry,
        )

    def turn(self, *, channel: object, outcome: str, seconds: float) -> None:
        """Count one handled message."""
        label = channel_label(channel)
        self.turns.labels(label, outcome).inc()
        self.turn_seconds.labels(label).observe(seconds)

    def predicted(self, *, channel: object, intent: object, actions: Iterable[str]) -> None:
        """Count the fallback and handoff of one turn from its intent and the actions run."""
        label = channel_label(channel)
        ran = set(actions)
        if intent == FALLBACK_INTENT or ran & FALLBACK_ACTIONS:
            self.fallbacks.labels(label).inc()
        if ran & HANDOFF_ACTIONS:
            self.handoffs.labels(label).inc()

    def exposition(self) -> bytes:
        """The text format."""
        return generate_latest(self.registry)


def actions_of_last_turn(events: Iterable[Any]) -> list[str]:
    """The names of the actions run since the tracker's last user message."""
    names: list[str] = []
    for event in events:
        kind = type(event).__name__
        if kind == "UserUttered":
            names = []
        elif kind == "ActionExecuted" and getattr(event, "action_name", None):
            names.append(event.action_name)
    return names
