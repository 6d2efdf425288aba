import time
from datetime import timedelta

from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.db import Database
from ticketing.enums import TicketStatus
from ticketing.models import utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.scheduler import SlaScheduler, run_once
from ticketing.schemas import TicketCreate
from ticketing.services.tickets import create_ticket, get_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def overdue_ticket(database: Database, vault: Vault) -> str:
    with database.sessions.begin() as session:
        payload = TicketCreate.model_validate(ticket_payload())
        ticket = create_ticket(
            session, vault=vault, principal=BOT, payload=payload, now=utcnow() - timedelta(hours=5)
        ).ticket
        assert ticket.number is not None
        return ticket.number


def test_run_once_commits_its_pass(clean_database: Database, vault: Vault) -> None:
    number = overdue_ticket(clean_database, vault)
    result = run_once(clean_database)
    assert result.breaches == 1
    with clean_database.sessions() as session:
        assert get_ticket(session, number=number).status is TicketStatus.ESCALATED


def test_the_thread_scans_until_stopped(clean_database: Database, vault: Vault) -> None:
    number = overdue_ticket(clean_database, vault)
    scheduler = SlaScheduler(clean_database, interval_seconds=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        status = TicketStatus.NEW
        while time.monotonic() < deadline and status is not TicketStatus.ESCALATED:
            time.sleep(0.05)
            with Session(clean_database.engine) as session:
                status = get_ticket(session, number=number).status
    finally:
        scheduler.stop()
    assert status is TicketStatus.ESCALATED
    assert not scheduler.is_alive()
