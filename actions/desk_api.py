"""Typed client of the ticketing API, the only way actions reach tickets and customers.

It owns timeouts, retries and error mapping: callers get typed results, ``None`` for
"not found", or a ``DeskApiUnavailable`` they turn into an honest apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from actions.settings import ActionSettings
from ticketing import jsonlog

logger = logging.getLogger(__name__)

_RETRY_STATUSES = {502, 503, 504}
# Tickets still being worked on; resolved and closed ones are finished.
OPEN_STATUSES = ("new", "open", "pending", "escalated")
FINISHED_STATUSES = frozenset({"resolved", "closed"})


class DeskApiUnavailable(Exception):
    """The ticketing API could not serve the request (down, timing out or failing)."""


class TicketConflict(Exception):
    """The API refused a change because of the ticket's state (409); ``code`` says why:
    ``not_cancellable``, ``ticket_closed``, ``not_resolved``, ``already_rated``..."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class Ticket:
    """What the bot needs to know about a ticket."""

    number: str
    status: str
    priority: str
    queue: str
    category: str
    first_response_due_at: datetime | None
    queue_names: dict[str, str] = field(default_factory=dict)

    def queue_name(self, language: str) -> str:
        """The queue's name in the customer's language (its key if the API gave none)."""
        return self.queue_names.get(language) or self.queue_names.get("en") or self.queue


@dataclass(frozen=True)
class CustomerProfile:
    """What the bot needs to know about a customer."""

    id: int
    has_phone: bool
    has_email: bool

    @property
    def has_contact(self) -> bool:
        """Whether the desk can already reach this customer."""
        return self.has_phone or self.has_email


@dataclass(frozen=True)
class NewTicket:
    """A ticket the bot opens for the customer of a conversation."""

    channel: str
    external_id: str
    language: str
    description: str
    category: str | None = None
    phone: str | None = None
    email: str | None = None
    # True when the channel proved the phone (a voice caller's number from the carrier).
    contact_verified: bool = False
    transcript: list[dict[str, Any]] = field(default_factory=list)
    # The name the customer introduced themselves with, if they did.
    display_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The body of ``POST /api/v1/tickets``."""
        return {
            "customer": {
                "channel": self.channel,
                "external_id": self.external_id,
                "language": self.language,
                "phone": self.phone,
                "email": self.email,
                "contact_verified": self.contact_verified,
                **({"display_name": self.display_name} if self.display_name else {}),
            },
            "description": self.description,
            # Without a category the API files the ticket under "general".
            **({"category": self.category} if self.category else {}),
            "channel": self.channel,
            "language": self.language,
            "transcript": self.transcript,
        }


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _ticket_from_json(data: dict[str, Any]) -> Ticket:
    return Ticket(
        number=data["number"],
        status=data["status"],
        priority=data["priority"],
        queue=data["queue"],
        category=data["category"],
        first_response_due_at=_parse_time(data.get("first_response_due_at")),
        queue_names=dict(data.get("queue_names") or {}),
    )


@dataclass(frozen=True)
class QueuePosition:
    """A waiting ticket's place in its queue (1 = next), or the agent who holds it."""

    status: str
    queue: str
    position: int | None
    waiting: int
    assignee: str | None
    queue_names: dict[str, str] = field(default_factory=dict)

    def queue_name(self, language: str) -> str:
        """The queue's name in the customer's language."""
        return self.queue_names.get(language) or self.queue


class DeskApiClient:
    """Calls the ticketing API with the bot's service token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        channel: str,
        sender: str,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # The service token acts for one conversation; the API checks every request
        # against the customer behind it.
        self._headers = {
            "Authorization": f"Bearer {token}",
            "X-Desk-Channel": channel,
            "X-Desk-Sender": sender,
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._attempts = attempts
        self._backoff = backoff_seconds

    @classmethod
    def from_settings(cls, settings: ActionSettings, *, channel: str, sender: str) -> DeskApiClient:
        """A client for one conversation, from the action server's settings."""
        return cls(
            settings.api_url,
            settings.service_token,
            channel=channel,
            sender=sender,
            timeout_seconds=settings.timeout_seconds,
        )

    async def create_ticket(self, ticket: NewTicket, *, idempotency_key: str) -> Ticket:
        """Open a ticket; retrying with the same key never creates a second one."""
        status, data = await self._request(
            "POST",
            "/api/v1/tickets",
            json=ticket.to_json(),
            headers={"Idempotency-Key": idempotency_key},
        )
        if status not in (200, 201):
            raise DeskApiUnavailable(f"creating a ticket answered {status}: {_error_code(data)}")
        return _ticket_from_json(data)

    async def get_ticket(self, number: str) -> Ticket | None:
        """The ticket with this number, or None when there is none."""
        status, data = await self._request("GET", f"/api/v1/tickets/{number}")
        if status == 404:
            return None
        if status != 200:
            raise DeskApiUnavailable(f"reading a ticket answered {status}: {_error_code(data)}")
        return _ticket_from_json(data)

    async def escalate(
        self, number: str, *, reason: str, transcript: list[dict[str, Any]] | None = None
    ) -> Ticket | None:
        """Raise a ticket one escalation level for the customer, handing over the transcript.

        None when that ticket cannot be escalated (resolved, closed, not theirs).
        """
        status, data = await self._request(
            "POST",
            f"/api/v1/tickets/{number}/escalate",
            json={"reason": reason, "source": "customer", "transcript": transcript or []},
        )
        if status in (404, 409):
            return None
        if status != 200:
            raise DeskApiUnavailable(f"escalating a ticket answered {status}: {_error_code(data)}")
        return _ticket_from_json(data)

    async def list_tickets(
        self, *, statuses: Sequence[str], sort: str = "-updated_at", limit: int = 20
    ) -> list[Ticket]:
        """The conversation customer's tickets in these statuses (the API scopes the bot)."""
        params = [("status", status) for status in statuses]
        params += [("sort", sort), ("limit", str(limit))]
        status, data = await self._request("GET", "/api/v1/tickets", params=params)
        if status != 200:
            raise DeskApiUnavailable(f"listing tickets answered {status}: {_error_code(data)}")
        return [_ticket_from_json(item) for item in data["items"]]

    async def cancel_ticket(self, number: str, *, reason: str) -> Ticket | None:
        """Close an unfinished ticket for the customer, keeping the reason.

        None when there is no such ticket of theirs; ``TicketConflict`` when it is
        already resolved or closed.
        """
        status, data = await self._request(
            "POST", f"/api/v1/tickets/{number}/cancel", json={"reason": reason}
        )
        return self._ticket_or_conflict(status, data, "cancelling a ticket")

    async def add_message(self, number: str, *, body: str) -> Ticket | None:
        """Append the customer's words to a ticket's thread.

        None when there is no such ticket of theirs; ``TicketConflict`` when it is closed.
        """
        status, data = await self._request(
            "POST",
            f"/api/v1/tickets/{number}/messages",
            json={"body": body, "author_type": "customer"},
        )
        return self._ticket_or_conflict(status, data, "adding to a ticket")

    async def rate_ticket(self, number: str, *, score: int, comment: str | None = None) -> bool:
        """Store the customer's 1-5 rating of a resolved ticket; False when there is no
        such ticket of theirs, ``TicketConflict`` when not resolved or already rated."""
        status, data = await self._request(
            "POST", f"/api/v1/tickets/{number}/rating", json={"score": score, "comment": comment}
        )
        if status == 404:
            return False
        if status == 409:
            raise TicketConflict(_error_code(data))
        if status != 201:
            raise DeskApiUnavailable(f"rating a ticket answered {status}: {_error_code(data)}")
        return True

    @staticmethod
    def _ticket_or_conflict(status: int, data: Any, doing: str) -> Ticket | None:
        if status == 404:
            return None
        if status == 409:
            raise TicketConflict(_error_code(data))
        if status not in (200, 201):
            raise DeskApiUnavailable(f"{doing} answered {status}: {_error_code(data)}")
        return _ticket_from_json(data)

    async def find_customer(self, *, channel: str, external_id: str) -> CustomerProfile | None:
        """The customer behind a channel identity, or None for someone new."""
        status, data = await self._request(
            "GET",
            "/api/v1/customers/by-identity",
            params={"channel": channel, "external_id": external_id},
        )
        if status == 404:
            return None
        if status != 200:
            raise DeskApiUnavailable(f"customer lookup answered {status}: {_error_code(data)}")
        return CustomerProfile(
            id=data["id"], has_phone=bool(data["has_phone"]), has_email=bool(data["has_email"])
        )

    async def relay_customer_message(self, number: str, body: str) -> bool:
        """Append the customer's words to the ticket thread for the agent.

        False when the ticket no longer takes messages (closed, or not theirs).
        """
        status, data = await self._request(
            "POST",
            f"/api/v1/tickets/{number}/messages",
            json={"body": body[:4000], "author_type": "customer"},
        )
        if status in (404, 409):
            return False
        if status != 201:
            raise DeskApiUnavailable(f"adding a message answered {status}: {_error_code(data)}")
        return True

    async def queue_position(self, number: str) -> QueuePosition | None:
        """Where the ticket stands in its queue; None when it is gone."""
        status, data = await self._request("GET", f"/api/v1/tickets/{number}/queue-position")
        if status == 404:
            return None
        if status != 200:
            raise DeskApiUnavailable(f"queue position answered {status}: {_error_code(data)}")
        return QueuePosition(
            status=data["status"],
            queue=data["queue"],
            position=data.get("position"),
            waiting=int(data.get("waiting") or 0),
            assignee=data.get("assignee"),
            queue_names=dict(data.get("queue_names") or {}),
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request, retrying connection failures and gateway errors, within what
        is left of the turn's time budget (``turn_budget``)."""
        last_error: str = ""
        rid = jsonlog.request_id.get()
        if rid:  # the customer message's id, into the API's log lines
            headers = {**(headers or {}), jsonlog.HEADER: rid}
        for attempt in range(1, self._attempts + 1):
            left = time_left()
            if left is not None and left < MIN_ATTEMPT_SECONDS:
                last_error = last_error or "no time left in this turn"
                break
            timeout = (
                self._timeout
                if left is None
                else aiohttp.ClientTimeout(total=min(self._timeout.total or left, left))
            )
            try:
                async with (
                    aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session,
                    session.request(
                        method, self._base_url + path, json=json, params=params, headers=headers
                    ) as response,
                ):
                    data = await response.json(content_type=None)
                    if response.status not in _RETRY_STATUSES:
                        return response.status, data
                    last_error = f"HTTP {response.status}"
            except (TimeoutError, aiohttp.ClientError, ValueError) as error:
                last_error = f"{type(error).__name__}: {error}"
            logger.warning(
                "ticketing API %s %s failed (attempt %d/%d): %s",
                method,
                path,
                attempt,
                self._attempts,
                last_error,
            )
            if attempt < self._attempts:
                pause = self._backoff * attempt
                left = time_left()
                if left is not None and left < pause + MIN_ATTEMPT_SECONDS:
                    break  # no room for another try: the customer hears it now
                await asyncio.sleep(pause)
        raise DeskApiUnavailable(f"{method} {path}: {last_error}")


# The deadline of the action call being served (monotonic seconds), set by the action
# server per call: every API request of that call, retries included, fits in it, so a hung
# API costs the customer a few seconds and an honest apology, not a minute of silence.
_turn_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "desk_turn_deadline", default=None
)
# Below this, another attempt could not get an answer anyway.
MIN_ATTEMPT_SECONDS = 0.2


@contextlib.contextmanager
def turn_budget(seconds: float) -> Iterator[None]:
    """Every API call made inside this block shares ``seconds`` in all."""
    token = _turn_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _turn_deadline.reset(token)


def start_turn_budget(seconds: float) -> None:
    """Start the budget for the rest of this task (the action server, per action call)."""
    _turn_deadline.set(time.monotonic() + seconds)


def time_left() -> float | None:
    """Seconds left in the current turn's budget; None outside a budget."""
    deadline = _turn_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _error_code(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("code"))
    return "unexpected response"
