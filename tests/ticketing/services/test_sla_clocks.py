"""SLA clocks: set at creation, paused while the customer is asked, read as a state."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.enums import TicketStatus
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, sla_clocks, sla_scan, thread
from ticketing.services.tickets import create_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="staff:wang", role=Role.AGENT, agent_id=1)
OPENED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # normal priority: 4 h first response


def open_ticket(session: Session, vault: Vault):
    payload = TicketCreate.model_validate(ticket_payload())
    return create_ticket(session, vault=vault, principal=BOT, payload=payload, now=OPENED).ticket


class TestClocks:
    def test_warning_at_80_percent_of_each_target(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        assert ticket.first_response_due_at == OPENED + timedelta(hours=4)
        assert ticket.first_response_warning_at == OPENED + timedelta(hours=3, minutes=12)
        assert ticket.resolution_warning_at == OPENED + timedelta(hours=19, minutes=12)

    def test_pending_pauses_the_clocks(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        due = ticket.first_response_due_at
        asked = OPENED + timedelta(hours=1)
        lifecycle.transition(
            session, ticket=ticket, to=TicketStatus.PENDING, principal=AGENT, now=asked
        )
        assert ticket.sla_paused_at == asked
        # Nothing fires while the customer is being waited on, however long it takes.
        assert sla_scan.scan(session, now=asked + timedelta(days=2)) == sla_scan.ScanResult()
        answered = asked + timedelta(hours=5)
        thread.post_message(session, ticket=ticket, principal=BOT, body="done", now=answered)
        assert ticket.status is TicketStatus.OPEN and ticket.sla_paused_at is None
        assert ticket.first_response_due_at == due + timedelta(hours=5)

    def test_pause_then_resume_pushes_every_running_clock(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = open_ticket(session, vault)
        asked = OPENED + timedelta(hours=1)
        assert sla_clocks.pause_changes(ticket, to=TicketStatus.PENDING, now=asked) == {
            "sla_paused_at": asked
        }
        assert sla_clocks.pause_changes(ticket, to=TicketStatus.OPEN, now=asked) == {}
        ticket.sla_paused_at = asked
        resumed = sla_clocks.pause_changes(
            ticket, to=TicketStatus.OPEN, now=asked + timedelta(minutes=30)
        )
        assert resumed["sla_paused_at"] is None
        assert resumed["first_response_due_at"] == OPENED + timedelta(hours=4, minutes=30)
        assert resumed["resolution_warning_at"] == OPENED + timedelta(hours=19, minutes=42)
        # Still pending (asked again): the pause goes on.
        assert sla_clocks.pause_changes(ticket, to=TicketStatus.PENDING, now=asked) == {}


class TestState:
    def test_ok_then_warning_then_breached(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        assert sla_clocks.sla_state(ticket, now=OPENED + timedelta(hours=1)) == "ok"
        assert sla_clocks.sla_state(ticket, now=OPENED + timedelta(hours=3, minutes=15)) == (
            "warning"
        )
        assert sla_clocks.sla_state(ticket, now=OPENED + timedelta(hours=4, minutes=1)) == (
            "breached"
        )

    def test_a_finished_ticket_is_ok(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT)
        assert sla_clocks.sla_state(ticket, now=OPENED + timedelta(days=3)) == "ok"
