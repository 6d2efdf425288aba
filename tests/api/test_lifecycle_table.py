"""Every status change, tried over HTTP and for the bot, against the lifecycle as specified.

The expected moves are written out here as the desk's specification (README, "Lifecycle"),
not read from ``ticketing/services/lifecycle.py``: all 30 moves between the six statuses
are tried, the allowed ones must succeed and every other one must answer 409
``invalid_transition`` listing exactly the allowed moves.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload
from ticketing.enums import TicketStatus
from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role
from ticketing.services import lifecycle
from ticketing.services.tickets import get_ticket

STATUSES = ("new", "open", "pending", "escalated", "resolved", "closed")

# Rows: from; columns: to, in STATUSES' order. y = staff may make the move.
STAFF_MOVES = """
            new  open  pending  escalated  resolved  closed
new          -    y     y        y          y         y
open         y    -     y        y          y         y
pending      n    y     -        y          y         y
escalated    n    y     y        -          y         y
resolved     y    y     n        n          -         y
closed       n    n     n        n          n         -
"""

# What the bot may do for the customer: escalate, cancel (close), wake a pending ticket
# by answering, reopen a resolved one. b = the bot may; y = staff only.
BOT_MOVES = """
            new  open  pending  escalated  resolved  closed
new          -    y     y        b          y         b
open         y    -     y        b          y         b
pending      n    b     -        b          y         b
escalated    n    y     y        -          y         b
resolved     b    b     n        n          -         b
closed       n    n     n        n          n         -
"""


def parse(table: str) -> dict[tuple[str, str], str]:
    rows = [line.split() for line in table.strip().splitlines()]
    header, body = rows[0], rows[1:]
    assert tuple(header) == STATUSES and tuple(row[0] for row in body) == STATUSES
    return {(row[0], to): mark for row in body for to, mark in zip(header, row[1:], strict=True)}


STAFF = parse(STAFF_MOVES)
BOT = parse(BOT_MOVES)
MOVES = [(start, to) for start in STATUSES for to in STATUSES if start != to]


def allowed_from(start: str) -> list[str]:
    return sorted(to for to in STATUSES if STAFF[start, to] == "y")


def test_the_two_tables_agree() -> None:
    for move in MOVES:
        assert (STAFF[move] == "n") == (BOT[move] == "n"), move


def put_in_status(session: Session, number: str, status: str) -> None:
    session.execute(
        text(
            "UPDATE tickets SET status = :status,"
            " resolved_at = CASE WHEN :status IN ('resolved', 'closed') THEN CURRENT_TIMESTAMP END,"
            " closed_at = CASE WHEN :status = 'closed' THEN CURRENT_TIMESTAMP END"
            " WHERE number = :number"
        ),
        {"status": status, "number": number},
    )
    session.commit()


@pytest.fixture
def supervisor(anonymous_client: TestClient, session: Session) -> dict[str, str]:
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    session.commit()
    response = anonymous_client.post(
        "/api/v1/auth/login", json={"username": "zhao.min", "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.parametrize(("start", "to"), MOVES)
def test_staff_moves_over_http(
    client: TestClient,
    anonymous_client: TestClient,
    session: Session,
    supervisor: dict[str, str],
    start: str,
    to: str,
) -> None:
    number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
    put_in_status(session, number, start)
    version = anonymous_client.get(f"/api/v1/tickets/{number}", headers=supervisor).json()
    response = anonymous_client.patch(
        f"/api/v1/tickets/{number}",
        json={"version": version["version"], "status": to},
        headers=supervisor,
    )
    if STAFF[start, to] == "y":
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to
    else:
        assert response.status_code == 409, response.text
        problem = response.json()["error"]
        assert problem["code"] == "invalid_transition"
        assert problem["details"] == {"from": start, "to": to, "allowed": allowed_from(start)}
        after = anonymous_client.get(f"/api/v1/tickets/{number}", headers=supervisor).json()
        assert after["status"] == start


@pytest.mark.parametrize(("start", "to"), MOVES)
def test_bot_moves(client: TestClient, session: Session, start: str, to: str) -> None:
    number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
    put_in_status(session, number, start)
    session.expire_all()
    ticket = get_ticket(session, number=number)
    bot = Principal(name="bot_service", role=Role.BOT_SERVICE)
    move = lambda: lifecycle.transition(  # noqa: E731
        session, ticket=ticket, to=TicketStatus(to), principal=bot
    )
    if BOT[start, to] == "b":
        move()
        assert ticket.status == to
    elif BOT[start, to] == "y":
        with pytest.raises(Forbidden) as refused:
            move()
        assert refused.value.code == "transition_forbidden"
    else:
        with pytest.raises(lifecycle.InvalidTransition) as refused:
            move()
        assert refused.value.details["allowed"] == allowed_from(start)
    session.rollback()
