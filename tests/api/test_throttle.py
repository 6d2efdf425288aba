"""The log-in throttle's counters in Redis: they expire with their window, and the
window is not pushed out by later failures (the README's claim for shared counters)."""

import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from api.throttle import LoginThrottle, TooManyAttempts

REDIS_URL = os.environ.get("REDIS_URL")
WINDOW = 2  # seconds; Redis expiry works in whole seconds

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    assert REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def throttle(client: redis.Redis) -> Iterator[LoginThrottle]:
    # A secret of its own: its keys are HMACs under it, so no other run shares them.
    throttle = LoginThrottle(
        secret=uuid.uuid4().bytes, per_account=2, window_seconds=WINDOW, redis_client=client
    )
    yield throttle
    client.delete(*throttle._keys("wang.fang", "10.0.0.1"))


def gone(client: redis.Redis, keys: tuple[str, str], *, seconds: float) -> bool:
    """Poll until every key has expired, up to a deadline; whether they all did."""
    deadline = time.monotonic() + seconds
    while client.exists(*keys):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_failures_are_counted_in_redis_with_the_window_as_expiry(
    client: redis.Redis, throttle: LoginThrottle
) -> None:
    keys = throttle._keys("wang.fang", "10.0.0.1")
    throttle.failed("wang.fang", "10.0.0.1")
    assert [int(client.get(k) or 0) for k in keys] == [1, 1]
    ttls = [client.pttl(k) for k in keys]
    assert all(0 < ttl <= WINDOW * 1000 for ttl in ttls), ttls


def test_a_later_failure_does_not_extend_the_window(
    client: redis.Redis, throttle: LoginThrottle
) -> None:
    keys = throttle._keys("wang.fang", "10.0.0.1")
    throttle.failed("wang.fang", "10.0.0.1")
    first = client.pttl(keys[0])
    # Wait until the window's clock has visibly run, then fail again.
    deadline = time.monotonic() + WINDOW
    while client.pttl(keys[0]) > first - 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    throttle.failed("wang.fang", "10.0.0.1")
    assert int(client.get(keys[0]) or 0) == 2
    assert 0 < client.pttl(keys[0]) <= first - 300


def test_a_locked_account_is_free_again_once_redis_expires_its_count(
    client: redis.Redis, throttle: LoginThrottle
) -> None:
    for _ in range(2):
        throttle.failed("wang.fang", "10.0.0.1")
    with pytest.raises(TooManyAttempts) as locked:
        throttle.check("wang.fang", "10.0.0.1")
    assert 1 <= locked.value.retry_after <= WINDOW
    assert gone(client, throttle._keys("wang.fang", "10.0.0.1"), seconds=WINDOW + 3)
    throttle.check("wang.fang", "10.0.0.1")  # no longer raises
