import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator

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
    key = f"test:events:{uuid.uuid4().hex}"
    # Named, so a test can find its own reader among the server's clients.
    client = redis.Redis.from_url(url, client_name=key)
    try:
        yield RedisStreamBus(client, key=key)
    finally:
        client.delete(key)
        client.close()


def wait_until(condition: Callable[[], bool], *, seconds: float) -> bool:
    """Poll a condition until it holds or the deadline passes; whether it held."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def reader_is_waiting(bus: EventBus) -> bool:
    """Whether a reader of this bus is blocked waiting for new events."""
    if isinstance(bus, InProcessBus):
        return bool(bus._changed._waiters)  # type: ignore[attr-defined]
    assert isinstance(bus, RedisStreamBus)
    client = bus._client
    name = client.get_connection_kwargs()["client_name"]
    return any(
        c.get("name") == name and c.get("cmd") == "xread" and "b" in c.get("flags", "")
        for c in client.client_list()
    )


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
        # Publish what the reader should see once it is waiting, not after a guess.
        assert wait_until(lambda: reader_is_waiting(bus), seconds=2.5), "the reader never waited"
        bus.publish(DeskEvent("sla.warning", "SD-100001"))
        reader.join(timeout=5)
        assert not reader.is_alive()
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
