from datetime import UTC, datetime

from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.enums import TicketStatus
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.repositories import tickets as tickets_repo
from ticketing.schemas import TicketCreate
from ticketing.services import history
from ticketing.services.history import change_fields
from ticketing.services.tickets import create_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def payload(**overrides: object) -> TicketCreate:
    return TicketCreate.model_validate(ticket_payload(**overrides))


class TestChangeFields:
    def test_records_one_event_per_change(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        events = change_fields(
            session,
            ticket=ticket,
            actor="agent:wang",
            changes={"status": TicketStatus.OPEN, "priority": ticket.priority},
        )
        assert [(e.field, e.old_value, e.new_value) for e in events] == [("status", "new", "open")]
        assert ticket.version == 2

    def test_nothing_changed_records_nothing_and_keeps_the_version(
        self, session: Session, vault: Vault
    ) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        assert (
            change_fields(
                session, ticket=ticket, actor="agent:wang", changes={"status": ticket.status}
            )
            == []
        )
        assert ticket.version == 1


class TestRecord:
    def test_values_are_written_as_text(self, session: Session, vault: Vault) -> None:
        ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload()).ticket
        at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
        entry = history.record(
            session,
            ticket_id=ticket.id,
            actor="staff:wang",
            field="first_responded_at",
            old=None,
            new=at,
            now=at,
        )
        session.flush()
        assert (entry.old_value, entry.new_value) == (None, "2026-11-23T09:30:00+00:00")
        assert entry in tickets_repo.history(session, ticket.id)
