"""Races between agents, on the real PostgreSQL (SQLite serialises writers, so the races
these rules guard against cannot happen there)."""

import threading
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import make_staff, ticket_payload
from ticketing.db import Database
from ticketing.errors import Conflict
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import work
from ticketing.services.tickets import create_ticket, get_ticket

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def race(workers: list[Callable[[Session], str]], database: Database) -> list[str]:
    """Run each worker in its own thread and transaction, released at the same moment."""
    barrier = threading.Barrier(len(workers))
    outcomes: list[str] = []

    def run(worker: Callable[[Session], str]) -> None:
        try:
            with database.sessions.begin() as session:
                barrier.wait()
                outcomes.append(worker(session))
        except Conflict as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


@pytest.fixture
def ticket_number(clean_database: Database, vault: Vault) -> str:
    with clean_database.sessions.begin() as session:
        payload = TicketCreate.model_validate(ticket_payload())
        number = create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket.number
    with clean_database.sessions() as session:
        for i in range(6):
            make_staff(session, f"agent.{i}", queues=["technical_support"])
    assert number is not None
    return number


def test_six_agents_claim_one_ticket_exactly_one_wins(
    clean_database: Database, ticket_number: str
) -> None:
    def claimer(agent_id: int) -> Callable[[Session], str]:
        def claim(session: Session) -> str:
            principal = Principal(
                name=f"staff:agent.{agent_id}", role=Role.AGENT, agent_id=agent_id
            )
            ticket = get_ticket(session, number=ticket_number)
            work.claim(session, ticket=ticket, principal=principal)
            return "won"

        return claim

    outcomes = race([claimer(i) for i in range(1, 7)], clean_database)
    assert outcomes == ["already_claimed"] * 5 + ["won"]
    with clean_database.sessions() as session:
        ticket = get_ticket(session, number=ticket_number)
        assert ticket.assignee_id is not None and ticket.version == 2


def test_two_edits_of_one_version_exactly_one_wins(
    clean_database: Database, ticket_number: str
) -> None:
    def editor(priority: str) -> Callable[[Session], str]:
        def edit(session: Session) -> str:
            principal = Principal(name="staff:agent.1", role=Role.SUPERVISOR, agent_id=1)
            ticket = get_ticket(session, number=ticket_number)
            work.update(
                session,
                ticket=ticket,
                principal=principal,
                version=1,
                changes={"priority": priority},
            )
            return priority

        return edit

    outcomes = race([editor("high"), editor("low")], clean_database)
    assert len(outcomes) == 2 and "version_conflict" in outcomes
    winner = next(o for o in outcomes if o != "version_conflict")
    with clean_database.sessions() as session:
        ticket = get_ticket(session, number=ticket_number)
        assert (ticket.priority.value, ticket.version) == (winner, 2)


def test_two_schedulers_announce_each_warning_and_breach_once(
    clean_database: Database, vault: Vault
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from ticketing.models import TicketEvent
    from ticketing.services import sla

    opened = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with clean_database.sessions.begin() as session:
        for i in range(12):
            payload = TicketCreate.model_validate(ticket_payload(customer={"external_id": f"c{i}"}))
            create_ticket(session, vault=vault, principal=BOT, payload=payload, now=opened)

    counts: list[sla.ScanResult] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        with clean_database.sessions.begin() as session:
            barrier.wait()
            counts.append(sla.scan(session, now=opened + timedelta(hours=5), limit=5))
        with clean_database.sessions.begin() as session:
            counts.append(sla.scan(session, now=opened + timedelta(hours=5)))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(c.breaches for c in counts) == 12
    with clean_database.sessions() as session:
        escalations = session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.field == "escalation_level")
        )
    assert escalations == 12


def test_concurrent_tickets_never_overfill_an_agent(clean_database: Database, vault: Vault) -> None:
    from sqlalchemy import func, select

    from ticketing.models import Ticket

    with clean_database.sessions() as session:
        make_staff(session, "solo", queues=["technical_support"], capacity=2)

    def opener(n: int) -> Callable[[Session], str]:
        def open_one(session: Session) -> str:
            payload = TicketCreate.model_validate(ticket_payload(customer={"external_id": f"x{n}"}))
            ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket
            return "assigned" if ticket.assignee_id else "waiting"

        return open_one

    outcomes = race([opener(n) for n in range(6)], clean_database)
    assert outcomes.count("assigned") == 2
    with clean_database.sessions() as session:
        held = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.assignee_id.is_not(None))
        )
    assert held == 2
