"""Two schedulers at once, on the real PostgreSQL: a missed due time is announced to the
customer once ("we're late, here's the new time"), whichever scheduler sees it."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import ticket_payload
from tests.support_service.race import race
from ticketing.db import Database
from ticketing.models import RelayDelivery
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import notices, sla_scan
from ticketing.services.tickets import create_ticket

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

OPENED = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def open_tickets(database: Database, vault: Vault, count: int) -> None:
    for n in range(count):
        sender = f"late-{n}"
        bot = Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", sender))
        payload = TicketCreate.model_validate(
            ticket_payload(customer={"channel": "web", "external_id": sender})
        )
        with database.sessions.begin() as session:
            create_ticket(
                session, vault=vault, principal=bot, payload=payload, now=OPENED, assign=False
            )


def test_two_schedulers_announce_each_missed_due_time_once(
    clean_database: Database, vault: Vault
) -> None:
    open_tickets(clean_database, vault, 3)
    missed = OPENED + timedelta(days=3)

    def scheduler(session: Session) -> sla_scan.ScanResult:
        return sla_scan.scan(session, now=missed)

    result = race([scheduler, scheduler], clean_database, hold=True)
    assert result.counts() == Counter(done=2), result.explain()
    with clean_database.sessions() as session:
        late = list(
            session.scalars(select(RelayDelivery).where(RelayDelivery.notice == notices.LATE))
        )
    assert sorted(d.ticket_id for d in late) == sorted({d.ticket_id for d in late})
    assert len(late) == 3
    # And a later pass of either announces nothing again.
    with clean_database.sessions.begin() as session:
        assert sla_scan.scan(session, now=missed + timedelta(minutes=1)).breaches == 0
