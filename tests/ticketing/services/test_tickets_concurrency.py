"""Two workers racing on one Idempotency-Key make one ticket (PostgreSQL only: SQLite
serialises writers, so the race cannot happen there)."""

import threading

import pytest
from sqlalchemy import func, select

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import ticket_payload
from ticketing.db import Database
from ticketing.models import Ticket
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services.tickets import create_ticket

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def test_racing_requests_with_one_key_make_one_ticket(
    clean_database: Database, vault: Vault
) -> None:
    payload = TicketCreate.model_validate(ticket_payload())
    barrier = threading.Barrier(2)
    numbers: list[str | None] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with clean_database.sessions.begin() as session:
                barrier.wait()
                creation = create_ticket(
                    session, vault=vault, principal=BOT, payload=payload, idempotency_key="race"
                )
                numbers.append(creation.ticket.number)
        except BaseException as error:  # report in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    with clean_database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    assert len(numbers) == 2 and numbers[0] == numbers[1]
