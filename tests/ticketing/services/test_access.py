"""The one access rule: which tickets, and through them which customers, a principal sees."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories.tickets import TicketFilter
from ticketing.schemas import TicketCreate
from ticketing.services import access
from ticketing.services.tickets import create_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def open_ticket(session: Session, vault: Vault, sender: str, category: str = "technical_support"):
    payload = TicketCreate.model_validate(
        ticket_payload(category=category, customer={"external_id": sender})
    )
    return create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket


def agent(session: Session, username: str, queues: list[str]) -> Principal:
    account = make_staff(session, username, queues=queues, presence="offline")
    return Principal(name=f"staff:{username}", role=Role.AGENT, agent_id=account.id)


class TestScope:
    def test_agents_see_their_queues_and_their_own_tickets(
        self, session: Session, vault: Vault
    ) -> None:
        wang = agent(session, "wang", ["technical_support"])
        tech = open_ticket(session, vault, "a")
        bill = open_ticket(session, vault, "b", "billing")
        assert access.can_see_ticket(session, ticket=tech, principal=wang)
        assert not access.can_see_ticket(session, ticket=bill, principal=wang)
        bill.assignee_id = wang.agent_id
        session.flush()
        assert access.can_see_ticket(session, ticket=bill, principal=wang)

    def test_supervisors_see_all_the_bot_its_customer_a_stranger_nothing(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = open_ticket(session, vault, "a", "complaints")
        boss = Principal(name="staff:zhao", role=Role.SUPERVISOR, agent_id=None)
        assert access.scope_for(session, boss).everything
        assert access.can_see_ticket(session, ticket=ticket, principal=boss)
        mine = replace(BOT, customer_id=ticket.customer_id)
        assert access.can_see_ticket(session, ticket=ticket, principal=mine)
        other = replace(BOT, customer_id=ticket.customer_id + 1)
        assert not access.can_see_ticket(session, ticket=ticket, principal=other)
        nobody_yet = access.scope_for(session, BOT)
        assert nobody_yet.nothing and nobody_yet.narrow(TicketFilter()) is None
        no_account = Principal(name="staff:ghost", role=Role.AGENT, agent_id=999)
        assert access.scope_for(session, no_account).nothing

    def test_the_bot_cannot_widen_its_filter_to_another_customer(self) -> None:
        scope = access.TicketScope(customer_id=7)
        assert scope.narrow(TicketFilter(customer_id=8)) is None
        assert scope.narrow(TicketFilter()) == TicketFilter(customer_id=7)


class TestCustomers:
    def test_a_customer_is_visible_through_a_visible_ticket_only(
        self, session: Session, vault: Vault
    ) -> None:
        wang = agent(session, "wang", ["technical_support"])
        tech = open_ticket(session, vault, "a")
        bill = open_ticket(session, vault, "a", "billing")
        other = open_ticket(session, vault, "b", "billing")
        assert tech.customer_id == bill.customer_id != other.customer_id
        assert access.can_see_customer(session, customer_id=tech.customer_id, principal=wang)
        assert not access.can_see_customer(session, customer_id=other.customer_id, principal=wang)
        shown = access.customer_tickets(session, customer_id=tech.customer_id, principal=wang)
        assert [t.number for t in shown] == [tech.number]
        messages = access.customer_messages(session, customer_id=tech.customer_id, principal=wang)
        assert {m.ticket_id for m in messages} == {tech.id}
