import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from ticketing.db import Database
from ticketing.events import (
    DeskEvent,
    EventBus,
    InProcessBus,
    RedisStreamBus,
    install_publisher,
    pending,
    record,
)


@pytest.fixture(params=["memory", "redis"])
def bus(request: pytest.FixtureRequest) -> Iterator[EventBus]:
    if request.param == "memory":
        yield InProcessBus()
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set")
    client = redis.Redis.from_url(url)
    key = f"test:events:{uuid.uuid4().hex}"
    try:
        yield RedisStreamBus(client, key=key)
    finally:
        client.delete(key)
        client.close()


class TestDeskEvent:
    def test_round_trip(self) -> None:
        event = DeskEvent("ticket.created", "SD-100001", {"queue": "billing"})
        assert DeskEvent.from_json(event.to_json()) == event

    def test_unknown_type_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown event type"):
            DeskEvent("ticket.exploded")


class TestBus:
    def test_readers_resume_after_the_last_id(self, bus: EventBus) -> None:
        first = bus.publish(DeskEvent("ticket.created", "SD-100001"))
        bus.publish(DeskEvent("ticket.assigned", "SD-100001"))
        bus.publish(DeskEvent("ticket.resolved", "SD-100001"))
        after_first = bus.read(after=first)
        assert [d.event.type for d in after_first] == ["ticket.assigned", "ticket.resolved"]
        assert bus.read(after=after_first[-1].id) == []

    def test_a_new_reader_sees_only_new_events(self, bus: EventBus) -> None:
        bus.publish(DeskEvent("ticket.created", "SD-100001"))
        seen: list[str] = []

        def wait_for_one() -> None:
            seen.extend(d.event.type for d in bus.read(after=None, wait_ms=3000))

        reader = threading.Thread(target=wait_for_one)
        reader.start()
        # Give the reader time to start waiting, then publish what it should see.
        threading.Event().wait(0.3)
        bus.publish(DeskEvent("sla.warning", "SD-100001"))
        reader.join(timeout=5)
        assert seen == ["sla.warning"]


class TestPublishAfterCommit:
    def test_committed_events_are_published_rolled_back_ones_are_not(
        self, clean_database: Database
    ) -> None:
        bus = InProcessBus()
        start = bus.publish(DeskEvent("agent.presence"))
        sessions = clean_database.sessions
        install_publisher(sessions, bus)

        with sessions() as session:
            record(session, DeskEvent("ticket.created", "SD-100001"))
            assert bus.read(after=start) == []  # not before the commit
            session.commit()
        with sessions() as session:
            record(session, DeskEvent("ticket.created", "SD-100002"))
            assert [e.ticket_number for e in pending(session)] == ["SD-100002"]
            session.rollback()
            session.commit()

        published = [d.event.ticket_number for d in bus.read(after=start)]
        assert published == ["SD-100001"]
