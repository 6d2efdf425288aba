"""Two workers racing on one Idempotency-Key make one ticket (PostgreSQL only: SQLite
serialises writers, so the race cannot happen there).

The race is a ``check_*`` function run as the test and, with the idempotency check
switched off (``tests/support_service/protections.py``), as a test of the test that
must fail.
"""

import re
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.support_service import protections
from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import ticket_payload
from tests.support_service.race import race
from ticketing.db import Database
from ticketing.models import Customer, IdempotencyKey, Identity, Ticket
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services.tickets import create_ticket

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)


def check_one_ticket_per_key(database: Database, vault: Vault) -> None:
    payload = TicketCreate.model_validate(ticket_payload())
    numbers: list[str | None] = []

    def worker(session: Session) -> str:
        creation = create_ticket(
            session, vault=vault, principal=BOT, payload=payload, idempotency_key="race"
        )
        numbers.append(creation.ticket.number)
        return "created" if creation.created else "replayed"

    result = race([worker, worker], database)
    errors = list(result.errors.values())
    assert errors == [], result.explain()
    assert result.counts() == Counter(created=1, replayed=1), result.explain()
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        keys = list(session.scalars(select(IdempotencyKey)))
    assert len(numbers) == 2 and numbers[0] == numbers[1]
    assert [(k.key, k.principal) for k in keys] == [("race", BOT.name)]
    assert keys[0].ticket_id is not None


def test_racing_requests_with_one_key_make_one_ticket(
    clean_database: Database, vault: Vault
) -> None:
    check_one_ticket_per_key(clean_database, vault)


def test_without_the_idempotency_check_the_race_makes_two_tickets(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_idempotency_check(monkeypatch)
    with pytest.raises(AssertionError, match=re.escape("outcomes: {'created': 2}")):
        check_one_ticket_per_key(clean_database, vault)


def test_two_first_tickets_of_a_new_customer_make_one_customer(
    clean_database: Database, vault: Vault
) -> None:
    # Both requests found nobody behind the conversation (as the API's authentication
    # does first), then race to create the customer: the loser uses the winner's.
    bot = Principal(
        name="bot_service",
        role=Role.BOT_SERVICE,
        conversation=("rest", "sender-123"),
        customer_id=None,
    )

    def worker(key: str):
        def create(session: Session) -> str:
            payload = TicketCreate.model_validate(ticket_payload(customer={"phone": None}))
            create_ticket(session, vault=vault, principal=bot, payload=payload, idempotency_key=key)
            return "created"

        return create

    result = race([worker("first"), worker("second")], clean_database)
    assert result.counts() == Counter(created=2), result.explain()
    with clean_database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(Identity)) == 1
        owners = set(session.scalars(select(Ticket.customer_id)))
    assert len(owners) == 1
