"""One customer report, one ticket: the idempotency key and the request of a ticket
creation stay the same when the customer asks again after a creation that timed out.

A creation the API did not answer within the turn's budget may still land (a paused or
slow API works through its backlog later). Asking again in the same conversation must
then find that ticket, not open a second one. So the key is not the turn's but the
report's: the conversation, the customer message before the first attempt that got no
ticket, and the form's content then. The API replays a key only for the very same
request, so the retry also rebuilds the request as it was then: the slots, the
transcript, the contacts and the name as the conversation stood at that first attempt.
What the customer says differently on the retry is added to the ticket by the caller.

The first attempt is found in the events Rasa logs anyway (an ``action_create_ticket``
with no ``ticket_number`` after it), so no slot and no model change is needed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

# The slot every ticket-opening action sets when it got a ticket.
TICKET_SLOT = "ticket_number"


@dataclass(frozen=True)
class TicketRequest:
    """The key to send, and the conversation as it stood when the report was first sent."""

    idempotency_key: str
    as_first_sent: Tracker
    # True when an earlier attempt of this report got no answer (the retry case).
    retried: bool
    # When the customer sent the message the report was first sent after (epoch seconds;
    # None if unknown): "yesterday" in the report is relative to that day.
    sent_at: float | None


def _slot_values(events: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """The slots' values after ``events`` (replayed: slot events, resets, restarts)."""
    values: dict[str, Any] = {}
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") in names:
            values[event["name"]] = event.get("value")
        elif kind in ("reset_slots", "restart"):
            values.clear()
    return {name: values.get(name) for name in names}


def _first_unanswered_attempt(events: list[dict[str, Any]], action: str) -> int | None:
    """Index of the first run of ``action`` that got no ticket since the last one that did
    (or since the conversation was restarted)."""
    first: int | None = None
    for index, event in enumerate(events):
        if event.get("event") in ("restart", "reset_slots"):
            first = None  # the customer started over: what was pending went with it
            continue
        if event.get("event") != "action" or event.get("name") != action:
            continue
        got_ticket = False
        for later in events[index + 1 :]:
            if later.get("event") in ("action", "user"):
                break
            if later.get("event") == "slot" and later.get("name") == TICKET_SLOT:
                got_ticket = bool(later.get("value"))
        if got_ticket:
            first = None
        elif first is None:
            first = index
    return first


def _last_user(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next((e for e in reversed(events) if e.get("event") == "user"), {})


def _as_of(tracker: Tracker, events: list[dict[str, Any]], frozen: tuple[str, ...]) -> Tracker:
    """The tracker as it stood after ``events``: those events, and the ``frozen`` slots'
    values then (the others as they are now)."""
    was_set = {e.get("name") for e in events if e.get("event") == "slot"}
    then = _slot_values(events, frozen)
    slots = {**tracker.slots, **{name: then[name] for name in frozen if name in was_set}}
    return Tracker(
        tracker.sender_id,
        slots,
        tracker.latest_message,
        events,
        tracker.is_paused(),
        tracker.followup_action,
        tracker.active_loop,
        tracker.latest_action_name,
    )


def ticket_request(
    tracker: Tracker, *, action: str, content_slots: tuple[str, ...]
) -> TicketRequest:
    """The key and the conversation to build ``action``'s ticket request from.

    After an attempt that got no ticket (and none since), it is that attempt's: its
    events, and the ``content_slots`` and ``language`` as they were then, whatever the
    customer said since (said again in other words, it is still the report the desk may
    already hold). Otherwise it is this turn's, with the conversation as it is.
    """
    events = list(tracker.events)
    first = _first_unanswered_attempt(events, action)
    seen = events if first is None else events[:first]
    as_sent = tracker if first is None else _as_of(tracker, seen, (*content_slots, "language"))
    content = {name: as_sent.get_slot(name) for name in content_slots}
    last_user = _last_user(seen)
    sent_at = last_user.get("timestamp")
    # The message is named by its id when the channel gave one (the widget's, a REST
    # client's): sent again to another Rasa instance after one died mid-turn, it is the
    # same message with a new timestamp, and must find the ticket the first one opened.
    turn = last_user.get("message_id") or sent_at
    raw = json.dumps(
        [tracker.sender_id, action, turn, content],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return TicketRequest(
        idempotency_key=hashlib.sha256(raw.encode()).hexdigest()[:40],
        as_first_sent=as_sent,
        retried=first is not None,
        sent_at=float(sent_at) if isinstance(sent_at, int | float) else None,
    )
