"""Build the Tracker an action sees: slots, the latest message and earlier user turns."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.channels.conversation import DESK_CHANNEL_OF_INPUT, conversation_id


def connector_id(input_channel: str, sender: str) -> str:
    """The conversation id the desk's connector of ``input_channel`` gives ``sender``."""
    return conversation_id(DESK_CHANNEL_OF_INPUT[input_channel], sender)


def user_event(
    text: str,
    intent: str,
    *,
    entities: list[dict[str, Any]] | None = None,
    channel: str = "rest",
    timestamp: float = 1700000000.0,
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp,
        "input_channel": channel,
        "parse_data": {"intent": {"name": intent}, "entities": entities or []},
        "metadata": {},
    }


def make_tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "",
    intent: str = "report_problem",
    entities: list[dict[str, Any]] | None = None,
    intent_ranking: list[dict[str, Any]] | None = None,
    earlier: list[dict[str, Any]] | None = None,
    sender: str = "customer-1",
    channel: str = "rest",
    language: str = "en",
) -> Tracker:
    """A conversation whose latest customer message is ``text`` (``intent``, ``entities``),
    after the user events in ``earlier`` (each followed by a bot action)."""
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
    for index, event in enumerate(earlier or []):
        events += [
            {**event, "timestamp": 1700000000.0 + index},
            {"event": "action", "name": "action_listen"},
        ]
    latest = user_event(text, intent, entities=entities, channel=channel, timestamp=1700000100.0)
    events.append(latest)
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": intent_ranking or [{"name": intent, "confidence": 0.9}],
    }
    return Tracker(
        sender_id=connector_id(channel, sender),
        slots={"language": language, "requested_slot": None, **(slots or {})},
        latest_message=message,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value, "extractor": "RegexEntityExtractor"}


def run(action: Any, tracker: Tracker, domain: dict[str, Any] | None = None):
    """Run an action outside a fake API (for api_down tests)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {}))
    return events, dispatcher


def run_with(with_api: Any, action: Any, tracker: Tracker, domain: dict[str, Any] | None = None):
    """Run an action while the fake API listens; returns (events, dispatcher)."""
    dispatcher = CollectingDispatcher()

    async def scenario() -> Any:
        return await action.run(dispatcher, tracker, domain or {})

    return with_api(scenario), dispatcher


def responses(dispatcher: CollectingDispatcher) -> list[str | None]:
    return [message.get("response") for message in dispatcher.messages]
