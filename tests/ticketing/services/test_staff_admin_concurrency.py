"""Staff administration racing other work, on the real PostgreSQL (SQLite serialises
writers, so these races cannot happen there): two admins demoting each other keep one
admin; an agent switched off while resolving a ticket keeps the resolution."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.support_service import protections
from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import make_staff, ticket_payload
from tests.support_service.race import race, run_threads
from ticketing.db import Database
from ticketing.enums import StaffRole, TicketStatus
from ticketing.models import Agent, Ticket
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import staff_admin, work
from ticketing.services.tickets import create_ticket, get_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)


def admin_principal(agent: Agent) -> Principal:
    return Principal(name=f"staff:{agent.username}", role=Role.ADMIN, agent_id=agent.id)


def test_two_admins_demoting_each_other_leave_one_admin(clean_database: Database) -> None:
    with clean_database.sessions() as session:
        first = make_staff(session, "admin.one", role="admin")
        second = make_staff(session, "admin.two", role="admin")
        pairs = [(admin_principal(first), "admin.two"), (admin_principal(second), "admin.one")]

    def demote(principal: Principal, target: str):
        def work(session: Session) -> str:
            staff_admin.edit(
                session,
                principal=principal,
                username=target,
                version=1,
                changes={"role": "agent"},
            )
            return "demoted"

        return work

    result = race([demote(p, t) for p, t in pairs], clean_database, hold=False)
    assert sorted(result.outcomes) == ["demoted", "last_admin"], result.explain()
    with clean_database.sessions() as session:
        roles = session.scalars(select(Agent.role).order_by(Agent.username)).all()
    assert sorted(roles) == [StaffRole.ADMIN, StaffRole.AGENT]


def check_deactivation_while_the_agent_resolves(database: Database, vault: Vault) -> None:
    """An admin switches an agent off while the agent is resolving one of their tickets.

    The agent's transaction has written the resolution and not committed yet when the
    deactivation reads the tickets to hand over; it commits once the deactivation waits
    on a lock (PostgreSQL says so in pg_stat_activity): a signal, not a pause. With the
    row lock on the held tickets the deactivation reads the ticket again after the
    commit, finds it resolved and hands over nothing; without it, it hands over the
    ticket as it was and its write finds the row changed under it.
    """
    with database.sessions() as session:
        admin = make_staff(session, "admin.one", role="admin")
        agent = make_staff(session, "wang.fang", queues=["technical_support"])
        admin_id, agent_id, agent_version = admin.id, agent.id, agent.version
    with database.sessions.begin() as session:
        payload = TicketCreate.model_validate(ticket_payload())
        created = create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket
        number = created.number
        assert created.assignee_id == agent_id  # the only agent online got it
    assert number is not None

    resolution_written, deactivation_waits = threading.Event(), threading.Event()
    deactivation_pid: list[int] = []

    def resolve() -> str:
        with database.sessions.begin() as session:
            ticket = get_ticket(session, number=number)
            work.update(
                session,
                ticket=ticket,
                principal=Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=agent_id),
                version=ticket.version,
                changes={"status": "resolved"},
            )
            resolution_written.set()
            assert deactivation_waits.wait(30), "the deactivation never waited on a lock"
        return "resolved"

    def deactivate() -> str:
        assert resolution_written.wait(30)
        with database.sessions.begin() as session:
            deactivation_pid.append(int(session.scalar(text("SELECT pg_backend_pid()"))))
            staff_admin.deactivate(
                session,
                principal=Principal(name="staff:admin.one", role=Role.ADMIN, agent_id=admin_id),
                username="wang.fang",
                version=agent_version,
            )
        return "deactivated"

    def watch() -> str:
        """Lets the resolution commit once the deactivation waits on a row lock."""
        deadline = time.monotonic() + 30
        with database.engine.connect() as connection:
            while time.monotonic() < deadline:
                if deactivation_pid:
                    waiting = connection.scalar(
                        text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": deactivation_pid[0]},
                    )
                    connection.rollback()  # the activity view is fixed for a transaction
                    if waiting == "Lock":
                        deactivation_waits.set()
                        return "saw the wait"
                time.sleep(0.01)  # polls PostgreSQL's view; ends when the wait shows
        return "no wait seen"

    result = run_threads([resolve, deactivate, watch], timeout=60)
    assert result.outcomes == ["resolved", "deactivated", "saw the wait"], result.explain()
    with database.sessions() as session:
        ticket = get_ticket(session, number=number)
        assert ticket.status is TicketStatus.RESOLVED
        assert session.get(Agent, agent_id).active is False


def test_deactivating_an_agent_while_they_resolve_a_ticket(
    clean_database: Database, vault: Vault
) -> None:
    check_deactivation_while_the_agent_resolves(clean_database, vault)


def test_without_the_row_lock_on_held_tickets_the_deactivation_fails(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=Ticket)
    with pytest.raises(AssertionError, match=re.escape("'error:StaleDataError': 1")):
        check_deactivation_while_the_agent_resolves(clean_database, vault)
