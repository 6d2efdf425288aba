"""The one access rule: which tickets, and through them which customers, a principal sees."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing.enums import AuthorType, EscalationSource, TicketStatus
from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories.tickets import TicketFilter
from ticketing.schemas import TicketCreate
from ticketing.services import access
from ticketing.services.tickets import create_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="agent:wang", role=Role.AGENT)
CUSTOMER = Principal(name="customer", role=Role.CUSTOMER)


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


class TestThread:
    def test_bot_sees_public_only_staff_sees_all(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault, "a")
        assert len(access.visible_messages(ticket, principal=BOT)) == 1
        assert len(access.visible_messages(ticket, principal=AGENT)) == 3

    def test_who_writes_as_whom(self) -> None:
        assert access.post_author(BOT, author_type=None, public=True) is AuthorType.CUSTOMER
        assert access.post_author(BOT, author_type=AuthorType.BOT, public=True) is AuthorType.BOT
        # Staff always write as the agent, whatever they send.
        assert (
            access.post_author(AGENT, author_type=AuthorType.CUSTOMER, public=False)
            is AuthorType.AGENT
        )
        refusals = [
            (BOT, AuthorType.AGENT, True),
            (BOT, AuthorType.CUSTOMER, False),
            (CUSTOMER, None, True),
        ]
        for principal, author_type, public in refusals:
            with pytest.raises(Forbidden):
                access.post_author(principal, author_type=author_type, public=public)


class TestChanges:
    def test_the_bot_makes_only_the_customers_moves(self) -> None:
        S = TicketStatus
        everything = frozenset(S)
        assert access.status_moves(BOT, current=S.OPEN, possible=everything) == {
            S.ESCALATED,
            S.CLOSED,
        }
        assert access.status_moves(BOT, current=S.PENDING, possible=frozenset({S.OPEN})) == {S.OPEN}
        assert access.status_moves(AGENT, current=S.OPEN, possible=everything) == everything
        assert access.status_moves(CUSTOMER, current=S.OPEN, possible=everything) == frozenset()

    def test_the_bot_changes_only_the_status(self) -> None:
        access.check_field_edit(BOT, [])
        access.check_field_edit(AGENT, ["priority", "queue_id"])
        with pytest.raises(Forbidden):
            access.check_field_edit(BOT, ["priority"])

    def test_the_bot_escalates_for_the_customer(self) -> None:
        assert access.escalation_source(BOT, EscalationSource.AGENT) is EscalationSource.CUSTOMER
        assert access.escalation_source(AGENT, EscalationSource.AGENT) is EscalationSource.AGENT

    def test_only_staff_of_the_queue_claim(self, session: Session, vault: Vault) -> None:
        wang = agent(session, "wang", ["technical_support"])
        tech = open_ticket(session, vault, "a")
        bill = open_ticket(session, vault, "b", "billing")
        assert access.claimant(session, ticket=tech, principal=wang).id == wang.agent_id
        with pytest.raises(Forbidden) as off_queue:
            access.claimant(session, ticket=bill, principal=wang)
        assert off_queue.value.code == "not_your_queue"
        with pytest.raises(Forbidden):
            access.claimant(session, ticket=tech, principal=BOT)
        boss = make_staff(session, "zhao", role="supervisor", presence="offline")
        chief = Principal(name="staff:zhao", role=Role.SUPERVISOR, agent_id=boss.id)
        assert access.claimant(session, ticket=bill, principal=chief).id == boss.id

    def test_lists_are_for_staff_and_the_bot(self, session: Session) -> None:
        assert access.listing_scope(session, BOT).nothing
        with pytest.raises(Forbidden):
            access.listing_scope(session, CUSTOMER)


class TestConversation:
    def test_the_bot_acts_for_its_own_conversation_only(self) -> None:
        mine = replace(BOT, conversation=("web", "s-1"))
        access.check_own_conversation(mine, channel="web", external_id="s-1", refusal="no")
        access.check_own_conversation(AGENT, channel="web", external_id="s-2", refusal="no")
        with pytest.raises(Forbidden) as caught:
            access.check_own_conversation(mine, channel="web", external_id="s-2", refusal="no")
        assert caught.value.code == "not_your_conversation"
