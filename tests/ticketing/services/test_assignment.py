from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing.enums import AgentPresence, TicketStatus
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import assignment, lifecycle
from ticketing.services.tickets import create_ticket, get_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
BOSS = Principal(name="staff:boss", role=Role.SUPERVISOR)


def open_ticket(session: Session, vault: Vault, n: int, **overrides: object):
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"external_id": f"customer-{n}"}, **overrides)
    )
    return create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket


class TestAutomaticAssignment:
    def test_least_loaded_online_agent_with_the_skill_gets_it(
        self, session: Session, vault: Vault
    ) -> None:
        make_staff(session, "busy", queues=["technical_support"], capacity=5)
        make_staff(session, "idle", queues=["technical_support"], capacity=5)
        make_staff(session, "away", queues=["technical_support"], presence="away")
        make_staff(session, "billing", queues=["billing"])
        first = open_ticket(session, vault, 1)
        second = open_ticket(session, vault, 2)
        third = open_ticket(session, vault, 3)
        holders = [t.assignee.username for t in (first, second, third)]
        # Two agents share the load; the away and the billing agent get nothing.
        assert sorted(holders[:2]) == ["busy", "idle"]
        assert holders[2] in ("busy", "idle")
        assert first.status is TicketStatus.OPEN and first.assigned_at is not None

    def test_language_is_a_skill(self, session: Session, vault: Vault) -> None:
        make_staff(session, "english.only", queues=["technical_support"], languages=["en"])
        chinese = open_ticket(session, vault, 1)  # the zh template
        english = open_ticket(session, vault, 2, language="en")
        assert chinese.assignee_id is None and chinese.status is TicketStatus.NEW
        assert english.assignee.username == "english.only"

    def test_an_agent_coming_online_finds_tickets_in_their_language_behind_others(
        self, session: Session, vault: Vault
    ) -> None:
        """Five Chinese tickets wait ahead of an English one; an English-only agent with
        room for one takes the English ticket, however far back in the line it is."""
        agent = make_staff(
            session,
            "english.only",
            queues=["technical_support"],
            languages=["en"],
            capacity=1,
            presence="offline",
        )
        for n in range(5):
            open_ticket(session, vault, n)  # the zh template
        english = open_ticket(session, vault, 9, language="en")
        given = assignment.set_presence(session, agent=agent, presence=AgentPresence.ONLINE)
        assert given == [english.number]

    def test_nobody_free_means_it_waits_then_the_most_urgent_oldest_goes_first(
        self, session: Session, vault: Vault
    ) -> None:
        agent = make_staff(session, "solo", queues=["technical_support"], capacity=1)
        held = open_ticket(session, vault, 1)
        old_normal = open_ticket(session, vault, 2)
        new_urgent = open_ticket(session, vault, 3, urgency="urgent")
        newer_normal = open_ticket(session, vault, 4)
        assert held.assignee_id == agent.id
        assert {t.assignee_id for t in (old_normal, new_urgent, newer_normal)} == {None}

        lifecycle.transition(session, ticket=held, to=TicketStatus.RESOLVED, principal=BOSS)
        assert get_ticket(session, number=new_urgent.number).assignee_id == agent.id

        lifecycle.transition(session, ticket=new_urgent, to=TicketStatus.RESOLVED, principal=BOSS)
        assert get_ticket(session, number=old_normal.number).assignee_id == agent.id
        assert get_ticket(session, number=newer_normal.number).assignee_id is None

    def test_coming_online_serves_the_waiting_line(self, session: Session, vault: Vault) -> None:
        agent = make_staff(
            session, "late", queues=["technical_support"], presence="offline", capacity=2
        )
        tickets = [open_ticket(session, vault, n) for n in range(3)]
        assert all(t.assignee_id is None for t in tickets)
        given = assignment.set_presence(session, agent=agent, presence=AgentPresence.ONLINE)
        assert given == [tickets[0].number, tickets[1].number]

    def test_raising_capacity_serves_the_waiting_line(self, session: Session, vault: Vault) -> None:
        agent = make_staff(session, "small", queues=["technical_support"], capacity=1)
        open_ticket(session, vault, 1)
        waiting = open_ticket(session, vault, 2)
        assert waiting.assignee_id is None
        assert assignment.set_capacity(session, agent=agent, capacity=2) == [waiting.number]


class TestSupervisorAssignment:
    def test_agent_needs_the_queue_and_capacity_unless_forced(
        self, session: Session, vault: Vault
    ) -> None:
        full = make_staff(session, "full", queues=["technical_support"], capacity=1)
        outsider = make_staff(session, "outsider", queues=["billing"], presence="offline")
        open_ticket(session, vault, 1)  # takes full's only slot
        ticket = open_ticket(session, vault, 2)
        try:
            assignment.assign_to(session, ticket=ticket, agent=outsider, actor=BOSS.name)
        except assignment.ValidationFailed as error:
            assert error.field == "agent"
        else:
            raise AssertionError("an agent outside the queue was given the ticket")
        try:
            assignment.assign_to(session, ticket=ticket, agent=full, actor=BOSS.name)
        except assignment.AgentAtCapacity:
            pass
        else:
            raise AssertionError("capacity was ignored")
        given = assignment.assign_to(
            session, ticket=ticket, agent=full, actor=BOSS.name, force=True
        )
        assert ticket.assignee_id == full.id
        # What the service returns is the ticket as it now stands, its holder loaded.
        assert given is ticket and given.assignee is not None
        assert given.assignee.username == full.username
