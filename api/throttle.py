"""Slowing down password guessing on the staff log-in.

Failed log-ins are counted per account and per client address over a window; past the
limit, further attempts (right or wrong) get 429 with ``Retry-After`` until the window
ends. A successful log-in clears the account's count. The counts live in Redis when the
desk has it (shared by every API worker), in this process otherwise.

Argon2 already makes each guess slow; the throttle bounds how many guesses one account
or one address gets at all.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from ticketing.errors import DomainError


class TooManyAttempts(DomainError):
    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed log-ins; try again in {retry_after} s.",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


@dataclass
class LoginThrottle:
    """Failure counters with a fixed window, keyed by account and by address."""

    # Keys are HMACs under this secret: Redis names no account or address, and desks
    # (or test runs) sharing one Redis with different secrets never share counters.
    secret: bytes = b""
    per_account: int = 5
    per_address: int = 30
    window_seconds: int = 15 * 60
    redis_client: redis.Redis | None = None
    clock: Callable[[], float] = time.monotonic
    _local: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        def digest(value: str) -> str:
            return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()[:32]

        account = digest("account:" + username.strip().lower())
        return f"desk:login:{account}", f"desk:login:{digest('address:' + address)}"

    def check(self, username: str, address: str) -> None:
        """Raise TooManyAttempts when this account or address is over its limit."""
        account, where = self._keys(username, address)
        for key, limit in ((account, self.per_account), (where, self.per_address)):
            count, remaining = self._read(key)
            if count >= limit:
                raise TooManyAttempts(max(1, remaining))

    def failed(self, username: str, address: str) -> None:
        """Count a failed log-in against the account and the address."""
        for key in self._keys(username, address):
            self._increment(key)

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the account's failures (not the address's)."""
        account, _where = self._keys(username, address)
        if self.redis_client is not None:
            self.redis_client.delete(account)
        else:
            with self._lock:
                self._local.pop(account, None)

    def _read(self, key: str) -> tuple[int, int]:
        if self.redis_client is not None:
            pipe = self.redis_client.pipeline()
            pipe.get(key)
            pipe.ttl(key)
            raw, ttl = pipe.execute()
            return int(raw or 0), int(ttl if ttl and ttl > 0 else self.window_seconds)
        with self._lock:
            count, started = self._local.get(key, (0, self.clock()))
            elapsed = self.clock() - started
            if elapsed >= self.window_seconds:
                self._local.pop(key, None)
                return 0, self.window_seconds
            return count, int(self.window_seconds - elapsed)

    def _increment(self, key: str) -> None:
        if self.redis_client is not None:
            pipe = self.redis_client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window_seconds, nx=True)
            pipe.execute()
            return
        with self._lock:
            now = self.clock()
            count, started = self._local.get(key, (0, now))
            if now - started >= self.window_seconds:
                count, started = 0, now
            self._local[key] = (count + 1, started)
            if len(self._local) > 100_000:  # bounded memory under a spray of usernames
                oldest = min(self._local, key=lambda k: self._local[k][1])
                self._local.pop(oldest, None)
