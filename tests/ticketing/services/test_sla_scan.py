from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing import events
from ticketing.enums import Priority, TicketStatus
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import lifecycle, sla_scan, thread
from ticketing.services.tickets import create_ticket, get_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="staff:wang", role=Role.AGENT, agent_id=1)
OPENED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # normal priority: 4 h first response


def open_ticket(session: Session, vault: Vault):
    payload = TicketCreate.model_validate(ticket_payload())
    return create_ticket(session, vault=vault, principal=BOT, payload=payload, now=OPENED).ticket


def announced(session: Session) -> list[str]:
    return [e.type for e in events.pending(session) if e.type.startswith("sla.")]


class TestScan:
    def test_warning_once_then_breach_escalates_once(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        at_warning = OPENED + timedelta(hours=3, minutes=15)
        assert sla_scan.scan(session, now=at_warning) == sla_scan.ScanResult(warnings=1)
        assert sla_scan.scan(session, now=at_warning) == sla_scan.ScanResult()
        assert announced(session) == ["sla.warning"]

        after_due = OPENED + timedelta(hours=4, minutes=1)
        assert sla_scan.scan(session, now=after_due) == sla_scan.ScanResult(breaches=1)
        ticket = get_ticket(session, number=ticket.number)
        assert ticket.status is TicketStatus.ESCALATED
        assert ticket.escalation_level == 1 and ticket.priority is Priority.HIGH
        assert ticket.escalation_reason == "sla: first response target missed"
        assert sla_scan.scan(session, now=after_due + timedelta(minutes=5)) == sla_scan.ScanResult()

    def test_a_responded_ticket_has_only_the_resolution_clock(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = open_ticket(session, vault)
        thread.post_message(
            session, ticket=ticket, principal=AGENT, body="looking", now=OPENED + timedelta(hours=1)
        )
        assert sla_scan.scan(session, now=OPENED + timedelta(hours=5)) == sla_scan.ScanResult()
        result = sla_scan.scan(session, now=OPENED + timedelta(hours=25))
        assert result == sla_scan.ScanResult(breaches=1)
        assert get_ticket(session, number=ticket.number).escalation_reason == (
            "sla: resolution target missed"
        )

    def test_resolved_tickets_are_left_alone(self, session: Session, vault: Vault) -> None:
        ticket = open_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT)
        assert sla_scan.scan(session, now=OPENED + timedelta(days=3)) == sla_scan.ScanResult()
