"""Live pages wait for events on the event loop, not in threads (issue 14: 45 open staff
pages held 45 worker threads and a ticket read waited two seconds behind them)."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest
import redis
import redis.asyncio as redis_asyncio

from ticketing.events import DeskEvent, InProcessBus, RedisStreamBus

READERS = 200  # far more than a thread pool's 40 workers


def created(number: str) -> DeskEvent:
    return DeskEvent(type="ticket.created", ticket_number=number, data={"queue": "general"})


class TestInProcessBus:
    def test_many_waiting_readers_use_no_threads_and_all_wake_on_one_publish(self) -> None:
        bus = InProcessBus()

        async def main() -> tuple[int, list[list[str]]]:
            before = threading.active_count()
            readers = [
                asyncio.create_task(bus.read_async(after=None, wait_ms=10_000))
                for _ in range(READERS)
            ]
            await asyncio.sleep(0)  # every reader is now waiting
            while len(bus._waiters) < READERS:
                await asyncio.sleep(0.01)
            threads_while_waiting = threading.active_count() - before
            # Published from a worker thread, as a request's commit does.
            publisher = threading.Thread(target=bus.publish, args=(created("SD-100001"),))
            publisher.start()
            results = await asyncio.wait_for(asyncio.gather(*readers), 10)
            publisher.join()
            return threads_while_waiting, [[d.event.ticket_number for d in r] for r in results]

        threads, results = asyncio.run(main())
        assert threads == 0
        assert results == [["SD-100001"]] * READERS
        assert bus._waiters == set()  # nobody left registered

    def test_a_reader_times_out_empty_and_resumes_after_an_id(self) -> None:
        bus = InProcessBus()
        first = bus.publish(created("SD-1"))
        bus.publish(created("SD-2"))

        async def main() -> tuple[list[str], list[str]]:
            nothing = await bus.read_async(after=None, wait_ms=50)
            resumed = await bus.read_async(after=first, wait_ms=50)
            return [d.id for d in nothing], [d.event.ticket_number or "" for d in resumed]

        assert asyncio.run(main()) == ([], ["SD-2"])


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the Redis of REDIS_URL")
class TestRedisStreamBus:
    def test_an_async_reader_gets_what_a_worker_publishes(self) -> None:
        url = os.environ["REDIS_URL"]
        key = f"test:events:{uuid.uuid4().hex[:10]}"
        sync_client = redis.Redis.from_url(url)

        async def main() -> list[str]:
            async_client = redis_asyncio.Redis.from_url(url)
            bus = RedisStreamBus(sync_client, key=key, async_client=async_client)
            try:
                # After the newest id (not "$"), so a publish racing the XREAD is not missed.
                after = bus.last_id()
                waiting = asyncio.create_task(bus.read_async(after=after, wait_ms=5000))
                await asyncio.to_thread(bus.publish, created("SD-100002"))
                return [d.event.ticket_number or "" for d in await waiting]
            finally:
                await async_client.aclose()

        try:
            assert asyncio.run(main()) == ["SD-100002"]
        finally:
            sync_client.delete(key)
            sync_client.close()

    def test_a_bus_without_an_async_client_says_so(self) -> None:
        bus = RedisStreamBus(redis.Redis.from_url(os.environ["REDIS_URL"]))
        with pytest.raises(RuntimeError, match="asyncio Redis client"):
            asyncio.run(bus.read_async(after=None))
