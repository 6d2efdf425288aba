"""Two relays at once, on the real PostgreSQL: each delivery is claimed by one of them.

Each race is a ``check_*`` function run as the test and, with the relay's row lock
taken away or made to wait (``tests/support_service/protections.py``), as a test of
the test that must fail.
"""

from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.support_service import protections
from tests.support_service.database import configured_postgres_url
from tests.support_service.race import race
from tests.ticketing.test_delivery_worker import agent_replies, open_ticket
from ticketing.db import Database
from ticketing.models import RelayDelivery
from ticketing.privacy import Vault
from ticketing.services import outbox

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)

# How long the second relay may wait for a row lock before the test calls it a failure.
LOCK_TIMEOUT = "2s"


def check_held_delivery_is_skipped(database: Database, vault: Vault) -> None:
    first = open_ticket(database, vault, sender="chat-a")
    second = open_ticket(database, vault, sender="chat-b")
    agent_replies(database, first, "for a")
    agent_replies(database, second, "for b")

    with database.sessions.begin() as one, database.sessions.begin() as two:
        # Both relays run in this thread: a relay that waited would wait forever.
        two.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        [taken_by_one] = outbox.due(one, limit=1)
        # The second relay does not wait for the first and does not get the same row.
        taken_by_two = outbox.due(two, limit=5)
        assert [d.id for d in taken_by_two] != [taken_by_one.id]
        assert taken_by_one.id not in {d.id for d in taken_by_two}
        assert len(taken_by_two) == 1


def test_a_delivery_held_by_one_relay_is_skipped_by_the_other(
    clean_database: Database, vault: Vault
) -> None:
    check_held_delivery_is_skipped(clean_database, vault)


def test_without_the_row_lock_the_held_delivery_is_taken_twice(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=RelayDelivery)
    with pytest.raises(AssertionError):
        check_held_delivery_is_skipped(clean_database, vault)


def test_without_skip_locked_the_second_relay_waits(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=RelayDelivery, waiting=True)
    with pytest.raises(Exception, match="lock timeout"):
        check_held_delivery_is_skipped(clean_database, vault)


def check_two_relays_share_the_deliveries(
    database: Database, vault: Vault, *, deadline: float = 30.0
) -> None:
    """Two relays in two threads, both transactions open at once: four deliveries, two
    each, none taken by both."""
    for n in range(4):
        number = open_ticket(database, vault, sender=f"chat-{n}")
        agent_replies(database, number, f"for {n}")

    def relay_pass(session: Session) -> list[int]:
        return [d.id for d in outbox.due(session, limit=2)]

    result = race([relay_pass, relay_pass], database, hold=True, timeout=deadline)
    assert result.counts() == Counter(done=2), result.explain()
    taken = [result.values[0], result.values[1]]
    assert [len(ids) for ids in taken] == [2, 2]
    assert set(taken[0]).isdisjoint(taken[1]), f"both relays took {taken}"


def test_two_relays_in_two_threads_share_the_deliveries(
    clean_database: Database, vault: Vault
) -> None:
    check_two_relays_share_the_deliveries(clean_database, vault)


def test_without_the_row_lock_two_relays_take_the_same_deliveries(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=RelayDelivery)
    with pytest.raises(AssertionError, match="both relays took"):
        check_two_relays_share_the_deliveries(clean_database, vault, deadline=3.0)


def test_without_skip_locked_two_relays_wait_for_each_other(
    clean_database: Database, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    protections.without_row_locks(monkeypatch, of=RelayDelivery, waiting=True)
    with pytest.raises(AssertionError, match=r"outcomes: \{'error:"):
        check_two_relays_share_the_deliveries(clean_database, vault, deadline=3.0)
