"""Races between workers: each in its own thread and transaction, released together.

Every worker's outcome is kept, exceptions included. A worker that returns gives its
value when that is a string, ``"done"`` otherwise (the value is kept in ``values``);
one that raises a domain ``Conflict`` gives the conflict's code; one that raises
anything else gives ``"error:<ExceptionName>"`` (the exception is kept in ``errors``).
A worker still running at the deadline is ``"unfinished"``. So an assertion on the
counts of outcomes also fails when a worker died or hung.
"""

from __future__ import annotations

import threading
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.errors import Conflict

UNFINISHED = "unfinished"
DONE = "done"


@dataclass
class RaceResult:
    """What each worker did, by worker index."""

    outcomes: list[str]
    errors: dict[int, BaseException] = field(default_factory=dict)
    values: dict[int, Any] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        """How many workers ended with each outcome."""
        return Counter(self.outcomes)

    def explain(self) -> str:
        """The outcomes and every unexpected exception, for an assertion message."""
        lines = [f"outcomes: {dict(self.counts())}"]
        for index, error in sorted(self.errors.items()):
            if isinstance(error, Conflict):
                continue
            trace = "".join(traceback.format_exception(error)).strip().splitlines()[-3:]
            lines.append(f"worker {index}: {' | '.join(trace)}")
        return "\n".join(lines)


def outcome_of(error: BaseException) -> str:
    """The outcome a raised exception stands for."""
    if isinstance(error, Conflict):
        return error.code
    return f"error:{type(error).__name__}"


def run_threads(workers: Sequence[Callable[[], Any]], *, timeout: float = 30.0) -> RaceResult:
    """Start one thread per worker, join them all by a deadline, collect everything."""
    outcomes: list[str] = [UNFINISHED] * len(workers)
    result = RaceResult(outcomes=outcomes)

    def run(index: int, worker: Callable[[], Any]) -> None:
        try:
            value = worker()
        except BaseException as error:  # reported to the main thread, never lost
            result.errors[index] = error
            outcomes[index] = outcome_of(error)
        else:
            result.values[index] = value
            outcomes[index] = value if isinstance(value, str) else DONE

    threads = [
        threading.Thread(target=run, args=(i, w), name=f"race-{i}", daemon=True)
        for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    for index, thread in enumerate(threads):
        if thread.is_alive():
            outcomes[index] = UNFINISHED
    return result


def race(
    workers: Sequence[Callable[[Session], Any]],
    database: Database,
    *,
    timeout: float = 30.0,
    hold: bool = False,
) -> RaceResult:
    """Run each worker in its own thread and transaction, released at the same moment.

    With ``hold``, no worker commits before every worker has done its work, so each
    transaction's locks are held while the others run (a worker blocked on one of those
    locks breaks the second barrier after ``timeout`` and is reported as an error).
    """
    start = threading.Barrier(len(workers), timeout=timeout)
    done = threading.Barrier(len(workers), timeout=timeout)

    def in_transaction(worker: Callable[[Session], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with database.sessions.begin() as session:
                start.wait()
                try:
                    value = worker(session)
                finally:
                    if hold:
                        done.wait()
            return value

        return run

    return run_threads([in_transaction(w) for w in workers], timeout=timeout * 2 + 5)
