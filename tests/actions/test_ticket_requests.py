"""The key and the request of a ticket creation: the same for the same report."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.ticket_requests import ticket_request
from tests.actions.conversation import connector_id, user_event

SLOTS = ("problem_description", "contact")


def tracker(*events: dict[str, Any]) -> Tracker:
    return Tracker(
        sender_id=connector_id("rest", "customer-1"),
        slots={"problem_description": "router broken", "contact": "13800138000"},
        latest_message={},
        events=list(events),
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def key(tr: Tracker) -> str:
    return ticket_request(tr, action="action_create_ticket", content_slots=SLOTS).idempotency_key


def named(timestamp: float, message_id: str | None) -> dict[str, Any]:
    event = user_event("13800138000", "inform", timestamp=timestamp)
    if message_id:
        event["message_id"] = message_id
    return event


def test_a_message_sent_again_to_another_instance_keeps_its_key() -> None:
    # The instance that had the message died before saving the turn: the message comes
    # again with its id and a new timestamp.
    assert key(tracker(named(1700000000.0, "web-m1"))) == key(
        tracker(named(1700000042.0, "web-m1"))
    )


def test_two_messages_without_an_id_are_two_turns() -> None:
    assert key(tracker(named(1700000000.0, None))) != key(tracker(named(1700000042.0, None)))
