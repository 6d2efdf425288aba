"""Races between agents, on the real PostgreSQL (SQLite serialises writers, so the races
these rules guard against cannot happen there).

Each race is a ``check_*`` function run twice: as the test, with the desk as it is, and
as a test of the test, with the protection it guards switched off
(``tests/support_service/protections.py``), where its assertions must fail. Where the
bad interleaving is not certain to happen by itself, the workers meet at a barrier at
the worst moment (every claimer has read the unassigned ticket, every editor the
ticket's version, every scheduler and every agent coming online has picked its tickets;
in the overfill proof every opener has counted the agent's load), so the proofs fail
every time, not by luck.
"""

import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support_service import protections
from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import make_staff, ticket_payload
from tests.support_service.race import RaceResult, race
from ticketing import events
from ticketing.db import Database
from ticketing.enums import AgentPresence
from ticketing.models import Agent, Ticket, TicketEvent
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.schemas import TicketCreate
from ticketing.services import assignment, sla_scan, work
from ticketing.services.tickets import create_ticket, get_ticket

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
# How long a proof lets a worker wait on a lock the protection would have skipped.
PROOF_DEADLINE = 3.0


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


def check_one_claim_wins(database: Database, ticket_number: str) -> None:
    """Six agents who have all read the unassigned ticket claim it: one wins."""
    all_read = threading.Barrier(6, timeout=30)

    def claimer(agent_id: int) -> Callable[[Session], str]:
        def claim(session: Session) -> str:
            principal = Principal(
                name=f"staff:agent.{agent_id}", role=Role.AGENT, agent_id=agent_id
            )
            ticket = get_ticket(session, number=ticket_number)
            all_read.wait()
            work.claim(session, ticket=ticket, principal=principal)
            return "won"

        return claim

    result = race([claimer(i) for i in range(1, 7)], database)
    assert sorted(result.outcomes) == ["already_claimed"] * 5 + ["won"], result.explain()
    with database.sessions() as session:
        ticket = get_ticket(session, number=ticket_number)
        assert ticket.assignee_id is not None and ticket.version == 2
        winner = next(i for i, o in enumerate(result.outcomes, start=1) if o == "won")
        assert ticket.assignee_id == winner
        claims = session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.field == "assignee_id")
        )
    assert claims == 1


def test_six_agents_claim_one_ticket_exactly_one_wins(
    clean_database: Database, ticket_number: str
) -> None:
    check_one_claim_wins(clean_database, ticket_number)


def test_without_the_conditional_update_the_claim_race_fails(
    clean_database: Database, ticket_number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_conditional_claim(monkeypatch)
    with pytest.raises(AssertionError, match=r"outcomes: \{'won': 6\}"):
        check_one_claim_wins(clean_database, ticket_number)


def check_one_edit_wins(database: Database, ticket_number: str) -> None:
    """Two supervisors edit version 1 of a ticket after both read it: one wins."""
    both_read = threading.Barrier(2, timeout=30)

    def editor(priority: str) -> Callable[[Session], str]:
        def edit(session: Session) -> str:
            principal = Principal(name="staff:agent.1", role=Role.SUPERVISOR, agent_id=1)
            ticket = get_ticket(session, number=ticket_number)
            both_read.wait()
            work.update(
                session,
                ticket=ticket,
                principal=principal,
                version=1,
                changes={"priority": priority},
            )
            return priority

        return edit

    result = race([editor("high"), editor("low")], database)
    outcomes = result.outcomes
    assert len(outcomes) == 2 and "version_conflict" in outcomes, result.explain()
    winner = next(o for o in outcomes if o != "version_conflict")
    assert winner in ("high", "low"), result.explain()
    with database.sessions() as session:
        ticket = get_ticket(session, number=ticket_number)
        assert (ticket.priority.value, ticket.version) == (winner, 2)


def test_two_edits_of_one_version_exactly_one_wins(
    clean_database: Database, ticket_number: str
) -> None:
    check_one_edit_wins(clean_database, ticket_number)


def test_without_the_version_check_the_edit_race_fails(
    clean_database: Database, ticket_number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_version_check(monkeypatch)
    with pytest.raises(AssertionError, match=re.escape("outcomes: {'high': 1, 'low': 1}")):
        check_one_edit_wins(clean_database, ticket_number)


OPENED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
# Normal priority: first response due after 240 min, warned at 80 % (192 min).
WARNING_TIME = OPENED + timedelta(hours=3, minutes=30)
BREACH_TIME = OPENED + timedelta(hours=5)


def scheduler_pass(
    database: Database, *, now: datetime, limit: int, meet: bool, deadline: float
) -> tuple[RaceResult, list[sla_scan.ScanResult], list[events.DeskEvent]]:
    """Two schedulers scan at once; their results and the events they committed.

    With ``meet``, both have picked their tickets before either works on them: each
    holds the row locks of what it picked while the other picks.
    """
    both_picked = threading.Barrier(2, timeout=deadline)
    pick = tickets_repo.sla_due

    def pick_then_meet(session: Session, **kwargs: Any) -> list[Ticket]:
        picked = pick(session, **kwargs)
        both_picked.wait()
        return picked

    def scheduler(session: Session) -> tuple[sla_scan.ScanResult, list[events.DeskEvent]]:
        found = sla_scan.scan(session, now=now, limit=limit)
        return found, events.pending(session)

    with mock.patch.object(tickets_repo, "sla_due", pick_then_meet if meet else pick):
        result = race([scheduler, scheduler], database, timeout=deadline)
    scans = [result.values[i][0] for i in sorted(result.values)]
    announced = [e for i in sorted(result.values) for e in result.values[i][1]]
    return result, scans, announced


def check_two_schedulers(database: Database, vault: Vault, *, deadline: float = 30.0) -> None:
    """Two schedulers share the work and announce each warning and each breach once."""
    with database.sessions.begin() as session:
        for i in range(12):
            payload = TicketCreate.model_validate(ticket_payload(customer={"external_id": f"c{i}"}))
            create_ticket(session, vault=vault, principal=BOT, payload=payload, now=OPENED)
    with database.sessions() as session:
        numbers = set(session.scalars(select(Ticket.number)))
    assert len(numbers) == 12

    counts: list[sla_scan.ScanResult] = []
    for phase, now, kind in (
        ("warning", WARNING_TIME, "sla.warning"),
        ("breach", BREACH_TIME, "sla.breached"),
    ):
        # First pass: five tickets each, both picked before either works; SKIP LOCKED
        # gives the second scheduler five other tickets instead of the same five (no
        # lock) or a wait for the first (a lock without SKIP LOCKED).
        first, first_scans, first_events = scheduler_pass(
            database, now=now, limit=5, meet=True, deadline=deadline
        )
        assert first.counts() == Counter(done=2), f"{phase}, first pass: {first.explain()}"
        # Then the rest, as it comes: whoever is first takes what is left.
        rest, rest_scans, rest_events = scheduler_pass(
            database, now=now, limit=200, meet=False, deadline=deadline
        )
        assert rest.counts() == Counter(done=2), f"{phase}, second pass: {rest.explain()}"
        announced = first_events + rest_events
        if phase == "warning":
            assert [s.warnings for s in first_scans] == [5, 5]
            assert sum(s.warnings for s in rest_scans) == 2
            assert sum(s.breaches for s in first_scans + rest_scans) == 0
        else:
            assert [s.breaches for s in first_scans] == [5, 5]
            assert sum(s.breaches for s in rest_scans) == 2
            assert sum(s.warnings for s in first_scans + rest_scans) == 0
        counts.extend(first_scans + rest_scans)
        # One event per ticket: every ticket announced, none twice, and nothing else.
        assert sorted(e.ticket_number for e in announced if e.type == kind) == sorted(numbers)
        assert {e.type for e in announced} <= {kind, "ticket.escalated", "ticket.updated"}
        assert {e.data["clock"] for e in announced if e.type == kind} == {"first_response"}

    assert sum(c.breaches for c in counts) == 12
    assert sum(c.warnings for c in counts) == 12
    with database.sessions() as session:
        escalations = session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.field == "escalation_level")
        )
        warned = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.first_response_warned_at == WARNING_TIME)
        )
        breached = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.first_response_breached_at == BREACH_TIME)
        )
    assert (escalations, warned, breached) == (12, 12, 12)


def test_two_schedulers_announce_each_warning_and_breach_once(
    clean_database: Database, vault: Vault
) -> None:
    check_two_schedulers(clean_database, vault)


def test_without_the_row_lock_the_scheduler_race_fails(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both schedulers pick the same five tickets; the second one's writes find the rows
    # changed under them (the version check), so it dies instead of announcing.
    protections.without_row_locks(monkeypatch, of=Ticket)
    with pytest.raises(AssertionError, match=re.escape("'error:StaleDataError': 1")):
        check_two_schedulers(clean_database, vault, deadline=PROOF_DEADLINE)


def test_without_skip_locked_the_scheduler_race_fails(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lock that waits is still correct but serial: the second scheduler blocks on the
    # first one's tickets instead of taking others, and they never both hold five.
    protections.without_row_locks(monkeypatch, of=Ticket, waiting=True)
    with pytest.raises(AssertionError, match=re.escape("first pass: outcomes: {'error:Broken")):
        check_two_schedulers(clean_database, vault, deadline=PROOF_DEADLINE)


def check_no_overfill(
    database: Database, vault: Vault, *, after_counting: Callable[[], Any] | None = None
) -> None:
    """Six tickets opened at once for one agent with room for two: two are assigned."""
    with database.sessions() as session:
        make_staff(session, "solo", queues=["technical_support"], capacity=2)

    def opener(n: int) -> Callable[[Session], str]:
        def open_one(session: Session) -> str:
            # Six customers with six phones: one shared phone would make the openers
            # wait for each other on its identity row, hiding the race.
            customer = {"external_id": f"x{n}", "phone": f"1380013{n:04d}"}
            payload = TicketCreate.model_validate(ticket_payload(customer=customer))
            ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket
            return "assigned" if ticket.assignee_id else "waiting"

        return open_one

    result = race([opener(n) for n in range(6)], database)
    outcomes = result.outcomes
    assert outcomes.count("assigned") == 2, result.explain()
    assert result.counts() == Counter(assigned=2, waiting=4), result.explain()
    with database.sessions() as session:
        held = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.assignee_id.is_not(None))
        )
        total = session.scalar(select(func.count()).select_from(Ticket))
    assert held == 2
    assert total == 6


def test_concurrent_tickets_never_overfill_an_agent(clean_database: Database, vault: Vault) -> None:
    check_no_overfill(clean_database, vault)


def test_without_the_agent_row_lock_the_overfill_race_fails(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=Agent)
    # The worst interleaving, made certain: every opener has counted the agent's load
    # before any of them assigns.
    all_counted = threading.Barrier(6, timeout=30)
    count_load = agents_repo.open_load

    def open_load_then_meet(session: Session, agent_ids: list[int]) -> dict[int, int]:
        load = count_load(session, agent_ids)
        all_counted.wait()
        return load

    monkeypatch.setattr(agents_repo, "open_load", open_load_then_meet)
    with pytest.raises(AssertionError, match=re.escape("outcomes: {'assigned': 6}")):
        check_no_overfill(clean_database, vault)


def check_waiting_line_served_once(
    database: Database, vault: Vault, *, meet: bool = False, deadline: float = 30.0
) -> None:
    """Two agents come online at once over four waiting tickets: none is given twice."""
    with database.sessions() as session:
        for name in ("early", "late"):
            make_staff(session, name, queues=["technical_support"], capacity=2, presence="offline")
    with database.sessions.begin() as session:
        for n in range(4):
            customer = {"external_id": f"w{n}", "phone": f"1390013{n:04d}"}
            payload = TicketCreate.model_validate(ticket_payload(customer=customer))
            create_ticket(session, vault=vault, principal=BOT, payload=payload)

    both_picked = threading.Barrier(2, timeout=deadline)
    pick = tickets_repo.waiting_in_queues

    def pick_then_meet(session: Session, **kwargs: Any) -> list[Ticket]:
        picked = pick(session, **kwargs)
        both_picked.wait()
        return picked

    def comes_online(name: str) -> Callable[[Session], list[str]]:
        def online(session: Session) -> list[str]:
            agent = agents_repo.get_by_username(session, name)
            assert agent is not None
            return assignment.set_presence(session, agent=agent, presence=AgentPresence.ONLINE)

        return online

    with mock.patch.object(tickets_repo, "waiting_in_queues", pick_then_meet if meet else pick):
        result = race([comes_online("early"), comes_online("late")], database, timeout=deadline)
    assert result.counts() == Counter(done=2), result.explain()
    given = [number for i in sorted(result.values) for number in result.values[i]]
    assert len(given) == len(set(given)), f"a ticket was given twice: {given}"
    with database.sessions() as session:
        holders = dict(
            session.execute(
                select(Ticket.number, Agent.username).join(Agent, Ticket.assignee_id == Agent.id)
            ).all()
        )
    assert sorted(holders) == sorted(given)
    assert all(len(result.values[i]) <= 2 for i in result.values)


def test_two_agents_coming_online_never_get_the_same_waiting_ticket(
    clean_database: Database, vault: Vault
) -> None:
    check_waiting_line_served_once(clean_database, vault, meet=True)


def test_without_the_row_lock_the_waiting_line_race_fails(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both agents pick the same tickets; the second one's assignment finds them changed.
    protections.without_row_locks(monkeypatch, of=Ticket)
    with pytest.raises(AssertionError, match=re.escape("'error:StaleDataError': 1")):
        check_waiting_line_served_once(clean_database, vault, meet=True, deadline=PROOF_DEADLINE)


def test_two_agents_coming_online_take_every_waiting_ticket_they_have_room_for(
    clean_database: Database, vault: Vault
) -> None:
    check_waiting_line_served_once(clean_database, vault, meet=True)
    with clean_database.sessions() as session:
        waiting = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.assignee_id.is_(None))
        )
    assert waiting == 0
