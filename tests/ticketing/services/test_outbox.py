"""The relay outbox: what is queued for the customer's conversation, in what order."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.enums import AuthorType, TicketStatus
from ticketing.models import RelayDelivery, TicketMessage, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, outbox, thread
from ticketing.services.queue_position import queue_position
from ticketing.services.tickets import create_ticket

AGENT = Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1)


def bot_for(sender: str) -> Principal:
    return Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender))


def new_ticket(session: Session, vault: Vault, *, sender: str = "widget-1", **overrides: object):
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"channel": "web", "external_id": sender}, **overrides)
    )
    return create_ticket(session, vault=vault, principal=bot_for(sender), payload=payload).ticket


def undelivered(session: Session) -> int:
    """Deliveries neither made nor given up."""
    session.flush()
    return sum(1 for d in deliveries(session) if d.delivered_at is None and d.failed_at is None)


def deliveries(session: Session) -> list[RelayDelivery]:
    return list(session.scalars(select(RelayDelivery).order_by(RelayDelivery.id)))


class TestEnqueue:
    def test_a_bot_ticket_remembers_its_conversation(self, session: Session, vault: Vault) -> None:
        # As Rasa names it: the widget connector's web:<session>.
        assert new_ticket(session, vault, sender="widget-42").conversation_id == "web:widget-42"

    def test_an_agents_public_reply_is_queued_for_the_conversation(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        message = thread.post_message(session, ticket=ticket, principal=AGENT, body="On it.")
        [delivery] = deliveries(session)
        assert (delivery.kind, delivery.message_id) == (outbox.REPLY, message.id)
        assert delivery.conversation_id == "web:widget-1" and delivery.delivered_at is None

    def test_internal_notes_and_customer_messages_stay_on_the_ticket(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="VIP", public=False)
        thread.post_message(session, ticket=ticket, principal=bot_for("widget-1"), body="hello?")
        assert deliveries(session) == []

    def test_resolving_queues_the_handback(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT)
        assert [d.kind for d in deliveries(session)] == [outbox.RESOLVED]

    def test_a_ticket_without_a_conversation_queues_nothing(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        ticket.conversation_id = None
        thread.post_message(session, ticket=ticket, principal=AGENT, body="Reply by e-mail")
        assert deliveries(session) == []

    def test_escalating_from_another_conversation_moves_the_relay_there(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault, sender="widget-1")
        moved = Principal(
            name="bot_service",
            role=Role.BOT_SERVICE,
            conversation=("web", "widget-2"),
            customer_id=ticket.customer_id,
        )
        lifecycle.escalate(
            session,
            ticket=ticket,
            principal=moved,
            reason="wants a person",
            source=lifecycle.EscalationSource.CUSTOMER,
        )
        assert ticket.conversation_id == "web:widget-2"


class TestDue:
    def test_a_ticket_waits_behind_its_own_undelivered_reply(
        self, session: Session, vault: Vault
    ) -> None:
        first = new_ticket(session, vault, sender="a")
        second = new_ticket(session, vault, sender="b")
        one = thread.post_message(session, ticket=first, principal=AGENT, body="one")
        thread.post_message(session, ticket=first, principal=AGENT, body="two")
        thread.post_message(session, ticket=second, principal=AGENT, body="other")
        due = outbox.due(session)
        assert [(d.ticket_id, d.message_id) for d in due][:1] == [(first.id, one.id)]
        assert {d.ticket_id for d in due} == {first.id, second.id} and len(due) == 2

    def test_a_failed_attempt_backs_off_and_keeps_the_order(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="one")
        thread.post_message(session, ticket=ticket, principal=AGENT, body="two")
        [first] = outbox.due(session)
        now = utcnow()
        assert (
            outbox.mark_failed_attempt(session, first, error="Rasa answered 503", now=now) is False
        )
        assert first.next_attempt_at == now + timedelta(seconds=outbox.FIRST_RETRY_SECONDS)
        # The second reply may not overtake the first.
        assert outbox.due(session, now=now) == []
        assert outbox.due(session, now=now + timedelta(seconds=3)) == [first]
        outbox.mark_failed_attempt(session, first, error="again", now=now)
        assert first.next_attempt_at == now + timedelta(seconds=2 * outbox.FIRST_RETRY_SECONDS)

    def test_back_off_is_capped(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="one")
        [delivery] = outbox.due(session)
        delivery.attempts = 30
        now = utcnow()
        outbox.mark_failed_attempt(session, delivery, error="down", now=now)
        assert delivery.next_attempt_at == now + timedelta(seconds=outbox.MAX_RETRY_SECONDS)

    def test_after_a_day_it_gives_up_and_tells_the_agents(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="one")
        [delivery] = outbox.due(session)
        later = delivery.created_at + outbox.GIVE_UP_AFTER
        assert outbox.mark_failed_attempt(session, delivery, error="down", now=later) is True
        assert delivery.failed_at == later and outbox.due(session, now=later) == []
        note = session.scalars(
            select(TicketMessage).where(TicketMessage.author_type == AuthorType.SYSTEM)
        ).one()
        assert note.public is False and "Could not deliver the reply" in note.body
        assert undelivered(session) == 0

    def test_a_leased_delivery_waits_for_its_lease_to_end(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="one")
        [delivery] = outbox.due(session)
        now = utcnow()
        outbox.lease(delivery, now=now)
        # Being sent (or its relay died): nobody else takes it until the lease ends.
        assert outbox.due(session, now=now + outbox.LEASE - timedelta(seconds=1)) == []
        assert outbox.due(session, now=now + outbox.LEASE) == [delivery]

    def test_delivered_is_done(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        thread.post_message(session, ticket=ticket, principal=AGENT, body="one")
        [delivery] = outbox.due(session)
        outbox.mark_delivered(delivery)
        assert outbox.due(session) == [] and undelivered(session) == 0


class TestQueuePosition:
    def test_places_follow_the_first_response_deadline(
        self, session: Session, vault: Vault
    ) -> None:
        tickets = [new_ticket(session, vault, sender=f"s{i}") for i in range(3)]
        # The last one is the most urgent: its first response is due soonest.
        tickets[2].first_response_due_at = tickets[0].first_response_due_at - timedelta(hours=1)
        session.flush()
        places = [queue_position(session, ticket=t) for t in tickets]
        assert [p.position for p in places] == [2, 3, 1]
        assert {p.waiting for p in places} == {3}

    def test_a_held_ticket_has_no_place_but_an_agent(self, session: Session, vault: Vault) -> None:
        from tests.support_service.factories import make_staff

        ticket = new_ticket(session, vault)
        agent = make_staff(session, queues=[ticket.queue.key])
        ticket.assignee_id = agent.id
        ticket.status = TicketStatus.OPEN
        session.flush()
        session.refresh(ticket, attribute_names=["assignee"])
        place = queue_position(session, ticket=ticket)
        assert (place.position, place.assignee, place.waiting) == (None, agent.display_name, 0)
