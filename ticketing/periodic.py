"""Background work on an interval, in a daemon thread (the SLA scheduler, the relay)."""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)


class PeriodicWorker(threading.Thread):
    """Runs :meth:`tick` every ``interval_seconds`` until stopped.

    A failed tick is logged and the next one runs on time, so a database or network
    hiccup never kills the worker.
    """

    def __init__(self, name: str, *, interval_seconds: float) -> None:
        super().__init__(name=name, daemon=True)
        self._interval = interval_seconds
        self._stopping = threading.Event()

    def tick(self) -> None:
        """One pass of the work."""
        raise NotImplementedError

    def run(self) -> None:
        """Tick, then sleep, until stopped."""
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("%s: pass failed", self.name)
            self._stopping.wait(self._interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it."""
        self._stopping.set()
        self.join(timeout)
