from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing import events
from ticketing.enums import AuthorType, EscalationSource, Priority, TicketStatus
from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, ratings, thread
from ticketing.services.tickets import create_ticket, get_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1)
S = TicketStatus


def new_ticket(session: Session, vault: Vault, **overrides: object):
    payload = TicketCreate.model_validate(ticket_payload(**overrides))
    return create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket


def history(ticket) -> list[tuple[str, str | None, str | None]]:
    return [(e.field, e.old_value, e.new_value) for e in ticket.events]


class TestTransitionTable:
    @pytest.mark.parametrize(
        ("start", "to"),
        [(start, to) for start, targets in lifecycle.TRANSITIONS.items() for to in targets],
    )
    def test_every_listed_move_is_allowed_for_staff(self, start: S, to: S) -> None:
        assert to in lifecycle.allowed_targets(start, principal=AGENT)

    @pytest.mark.parametrize(
        ("start", "to"),
        [
            (S.CLOSED, S.OPEN),
            (S.CLOSED, S.RESOLVED),
            (S.RESOLVED, S.PENDING),
            (S.PENDING, S.NEW),
            (S.RESOLVED, S.ESCALATED),
        ],
    )
    def test_unlisted_moves_are_refused(
        self, session: Session, vault: Vault, start: S, to: S
    ) -> None:
        ticket = new_ticket(session, vault)
        ticket.status = start
        session.flush()
        with pytest.raises(lifecycle.InvalidTransition) as error:
            lifecycle.transition(session, ticket=ticket, to=to, principal=AGENT)
        assert error.value.status_code == 409
        assert f"a {start} ticket cannot become {to}" in error.value.message

    def test_the_bot_cannot_resolve_for_an_agent(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        with pytest.raises(Forbidden):
            lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=BOT)

    def test_the_bot_can_cancel_for_the_customer(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.CLOSED, principal=BOT, reason="cancelled")
        assert ticket.status is S.CLOSED and ticket.closed_at is not None


class TestTransition:
    def test_resolving_records_history_time_and_event(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        before = ticket.version
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        reloaded = get_ticket(session, number=ticket.number)
        session.refresh(reloaded, attribute_names=["events"])
        assert reloaded.status is S.RESOLVED and reloaded.resolved_at is not None
        assert reloaded.version == before + 1
        assert ("status", "new", "resolved") in history(reloaded)
        assert [e.type for e in events.pending(session)][-1] == "ticket.resolved"


class TestReopen:
    def test_customer_message_within_window_reopens(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        thread.post_message(session, ticket=ticket, principal=BOT, body="还是连不上")
        assert ticket.status is S.NEW and ticket.resolved_at is None
        assert events.pending(session)[-2].type == "ticket.reopened"

    def test_after_the_window_it_stays_resolved(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        later = ticket.resolved_at + timedelta(days=8)
        assert not lifecycle.can_reopen(ticket, now=later)
        thread.post_message(session, ticket=ticket, principal=BOT, body="again", now=later)
        assert ticket.status is S.RESOLVED

    def test_closed_tickets_take_no_messages(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.CLOSED, principal=AGENT)
        with pytest.raises(thread.TicketClosed):
            thread.post_message(session, ticket=ticket, principal=BOT, body="hello?")


class TestThread:
    def test_customer_answer_hands_a_pending_ticket_back(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.PENDING, principal=AGENT)
        thread.post_message(session, ticket=ticket, principal=BOT, body="here is the photo")
        assert ticket.status is S.OPEN

    def test_first_public_agent_reply_stops_the_first_response_clock(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
        thread.post_message(
            session, ticket=ticket, principal=AGENT, body="note", public=False, now=at
        )
        assert ticket.first_responded_at is None
        thread.post_message(session, ticket=ticket, principal=AGENT, body="on it", now=at)
        thread.post_message(
            session, ticket=ticket, principal=AGENT, body="fixed", now=at + timedelta(hours=1)
        )
        assert ticket.first_responded_at == at

    def test_only_staff_write_internal_notes(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        with pytest.raises(Forbidden):
            thread.post_message(session, ticket=ticket, principal=BOT, body="x", public=False)

    def test_the_bot_cannot_pose_as_an_agent(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        with pytest.raises(Forbidden):
            thread.post_message(
                session, ticket=ticket, principal=BOT, body="x", author_type=AuthorType.AGENT
            )

    def test_the_ticket_is_current_after_a_post(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        message = thread.post_message(session, ticket=ticket, principal=AGENT, body="on it")
        # The thread the caller holds shows the reply: no need to read the ticket again.
        assert ticket.messages[-1] is message and message.body == "on it"


class TestEscalate:
    def test_first_level_raises_priority_in_the_same_queue(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        assert ticket.priority is Priority.NORMAL
        lifecycle.escalate(
            session,
            ticket=ticket,
            principal=BOT,
            reason="asked for a human",
            source=EscalationSource.CUSTOMER,
        )
        assert (ticket.status, ticket.priority, ticket.queue.key) == (
            S.ESCALATED,
            Priority.HIGH,
            "technical_support",
        )
        assert ticket.escalation_level == 1
        assert ticket.escalation_reason == "customer: asked for a human"

    def test_second_level_goes_to_the_supervisors(self, session: Session, vault: Vault) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"])
        ticket = new_ticket(session, vault)
        ticket.assignee_id = 1
        session.flush()
        for reason in ("slow", "still slow"):
            lifecycle.escalate(
                session,
                ticket=ticket,
                principal=AGENT,
                reason=reason,
                source=EscalationSource.AGENT,
            )
        assert ticket.escalation_level == 2
        assert ticket.queue.key == "supervisors"
        assert ticket.priority is Priority.URGENT
        assert ticket.assignee_id is None

    def test_returns_the_ticket_with_its_new_holder(self, session: Session, vault: Vault) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
        make_staff(session, "zhao", role="supervisor", queues=["supervisors"])
        ticket = new_ticket(session, vault)
        for reason in ("slow", "still slow"):
            escalated = lifecycle.escalate(
                session,
                ticket=ticket,
                principal=AGENT,
                reason=reason,
                source=EscalationSource.AGENT,
            )
        assert escalated is ticket
        assert escalated.queue.key == "supervisors"
        assert escalated.assignee is not None and escalated.assignee.username == "zhao"

    def test_resolved_tickets_are_not_escalated(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        with pytest.raises(lifecycle.InvalidTransition):
            lifecycle.escalate(
                session, ticket=ticket, principal=BOT, reason="x", source=EscalationSource.CUSTOMER
            )


class TestRatings:
    def test_one_rating_per_resolved_ticket(self, session: Session, vault: Vault) -> None:
        ticket = new_ticket(session, vault)
        with pytest.raises(ratings.NotResolved):
            ratings.rate(session, ticket=ticket, score=5)
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        rating = ratings.rate(session, ticket=ticket, score=4, comment="  快  ")
        assert (rating.score, rating.comment, rating.customer_id) == (4, "快", ticket.customer_id)
        with pytest.raises(ratings.AlreadyRated):
            ratings.rate(session, ticket=ticket, score=1)

    @pytest.mark.parametrize("score", [0, 6, -1])
    def test_scores_are_one_to_five(self, session: Session, vault: Vault, score: int) -> None:
        ticket = new_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=S.RESOLVED, principal=AGENT)
        with pytest.raises(ratings.ValidationFailed):
            ratings.rate(session, ticket=ticket, score=score)


class TestCancel:
    def test_returns_the_ticket_with_the_reason_in_its_thread(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = new_ticket(session, vault)
        cancelled = lifecycle.cancel(session, ticket=ticket, principal=BOT, reason="solved it")
        assert cancelled is ticket and cancelled.status is S.CLOSED
        assert cancelled.messages[-1].body == "Cancelled by the customer: solved it"
