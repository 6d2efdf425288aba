"""Two relays at once, on the real PostgreSQL: each delivery is claimed by one of them."""

import pytest

from tests.support_service.database import configured_postgres_url
from tests.ticketing.test_relay_worker import agent_replies, open_ticket
from ticketing.db import Database
from ticketing.privacy import Vault
from ticketing.services import relay

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)


def test_a_delivery_held_by_one_relay_is_skipped_by_the_other(
    clean_database: Database, vault: Vault
) -> None:
    first = open_ticket(clean_database, vault, sender="chat-a")
    second = open_ticket(clean_database, vault, sender="chat-b")
    agent_replies(clean_database, first, "for a")
    agent_replies(clean_database, second, "for b")

    with clean_database.sessions.begin() as one, clean_database.sessions.begin() as two:
        [taken_by_one] = relay.due(one, limit=1)
        # The second relay does not wait for the first and does not get the same row.
        taken_by_two = relay.due(two, limit=5)
        assert [d.id for d in taken_by_two] != [taken_by_one.id]
        assert taken_by_one.id not in {d.id for d in taken_by_two}
        assert len(taken_by_two) == 1
