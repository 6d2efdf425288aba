"""Live desk events for the console and the dashboard, as server-sent events (SSE).

A browser's ``EventSource`` cannot send an Authorization header, and the staff token
must never sit in a URL (URLs end up in logs and browser history). So a page first
asks ``POST /api/v1/events/ticket`` (with its Bearer token) for a *stream ticket*: a
token valid for 60 seconds that opens an event stream and does nothing else (its JWT
audience differs from the staff token's, so neither works in the other's place).
``GET /api/v1/events/stream?ticket=...`` then streams the event bus. A reconnect sends
``Last-Event-ID`` (or ``last_event_id``, for a new EventSource) to resume after it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated

import jwt
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyQuery
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import JWT_ALGORITHM, JWT_ISSUER, StaffOnly
from api.deps import SessionDep, SettingsDep
from ticketing.errors import Unauthorized, ValidationFailed
from ticketing.events import Delivered, EventBus
from ticketing.models import utcnow
from ticketing.services import staff as staff_service
from ticketing.settings import Settings

STREAM_AUDIENCE = "service-desk-event-stream"
STREAM_TICKET_SECONDS = 60
HEARTBEAT_SECONDS = 15.0
READ_WAIT_MS = 1000
_EVENT_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")

_stream_ticket = APIKeyQuery(
    name="ticket",
    auto_error=False,
    description="A stream ticket from `POST /api/v1/events/ticket` (valid 60 s).",
)

router = APIRouter(prefix="/events", tags=["events"])
# Authenticated by the stream ticket in the query string, not by a Bearer token.
stream_router = APIRouter(prefix="/events", tags=["events"])


class StreamTicket(BaseModel):
    ticket: str
    expires_at: datetime
    stream_url: str


def issue_stream_ticket(agent_id: int, role: str, settings: Settings) -> tuple[str, datetime]:
    """A 60-second token that opens one kind of thing: an event stream."""
    issued = utcnow()
    expires = issued + timedelta(seconds=STREAM_TICKET_SECONDS)
    claims = {
        "sub": str(agent_id),
        "role": role,
        "iss": JWT_ISSUER,
        "aud": STREAM_AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), JWT_ALGORITHM), expires


def _stream_agent_id(ticket: str, settings: Settings) -> tuple[int, str] | None:
    try:
        claims = jwt.decode(
            ticket,
            settings.jwt_secret.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            audience=STREAM_AUDIENCE,
            options={"require": ["sub", "role", "exp", "iat"]},
        )
    except jwt.PyJWTError:
        return None
    if not str(claims["sub"]).isdigit():
        return None
    return int(claims["sub"]), str(claims["role"])


@router.post(
    "/ticket",
    response_model=StreamTicket,
    responses={
        401: {"description": "Missing or invalid token"},
        403: {"description": "Staff only"},
    },
)
def stream_ticket(principal: StaffOnly, settings: SettingsDep) -> StreamTicket:
    """A short-lived ticket for ``GET /api/v1/events/stream`` (EventSource sends no headers)."""
    assert principal.agent_id is not None  # staff principals have an account
    token, expires = issue_stream_ticket(principal.agent_id, principal.role.value, settings)
    return StreamTicket(
        ticket=token, expires_at=expires, stream_url=f"/api/v1/events/stream?ticket={token}"
    )


def _frame(item: Delivered) -> str:
    payload = {
        "id": item.id,
        "type": item.event.type,
        "ticket_number": item.event.ticket_number,
        "data": item.event.data,
        "at": item.event.at.isoformat(),
    }
    return f"id: {item.id}\ndata: {json.dumps(payload, ensure_ascii=False, default=str)}\n\n"


@stream_router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Desk events, one per message"},
        401: {"description": "Missing, expired or wrong stream ticket (`invalid_stream_ticket`)"},
        422: {"description": "Malformed Last-Event-ID"},
    },
)
def stream(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ticket: Annotated[str | None, Depends(_stream_ticket)],
    last_event_id: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64)
    ] = None,
) -> StreamingResponse:
    """Desk events as they happen (ids and states, no personal data), after Last-Event-ID."""
    found = _stream_agent_id(ticket, settings) if ticket and len(ticket) <= 2000 else None
    agent = staff_service.get_active(session, agent_id=found[0]) if found else None
    if found is None or agent is None or agent.role.value != found[1]:
        raise Unauthorized(
            "The stream ticket is not valid or has expired.", code="invalid_stream_ticket"
        )
    resume = last_event_id_header or last_event_id
    if resume is not None and not _EVENT_ID.match(resume):
        raise ValidationFailed("Last-Event-ID is not an event id", field="Last-Event-ID")
    bus: EventBus = request.app.state.events
    return StreamingResponse(
        _events(request, bus, resume, settings.event_stream_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, bus: EventBus, resume: str | None, lifetime: float
) -> AsyncIterator[str]:
    after = resume or await run_in_threadpool(bus.last_id)
    # The browser waits 2 s before reconnecting after the stream ends.
    yield "retry: 2000\n: connected\n\n"
    started = last_sent = time.monotonic()
    while time.monotonic() - started < lifetime:
        if await request.is_disconnected():
            return
        # On the event loop: an open page holds no worker thread while it waits.
        delivered = await bus.read_async(after=after, limit=100, wait_ms=READ_WAIT_MS)
        for item in delivered:
            after = item.id
            yield _frame(item)
            last_sent = time.monotonic()
        if time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
