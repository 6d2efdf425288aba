"""End to end: the ticketing API hangs (its process paused with SIGSTOP) in the middle of
a ticket form. The customer gets an honest answer while it hangs; the creation that
lands when it comes back is the ticket the customer's next attempt finds: one ticket,
and its number reaches the customer.
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support_desk import Desk, DeskDidNotStart, running_desk

TICKET = re.compile(r"SD-\d{6,}")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    try:
        with running_desk(tmp_path_factory.mktemp("desk")) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))


def _pid_listening_on(port: int) -> int:
    """The process that owns the listening socket of a local TCP port."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    raise AssertionError(f"nothing listens on port {port}")


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """The process stopped (as a hung one is) until the block ends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def ticket_numbers(desk: Desk) -> set[str]:
    with desk.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT number FROM tickets")).scalars())


def test_a_ticket_that_lands_after_the_api_hung_reaches_the_customer_once(desk: Desk) -> None:
    sender = f"en-{uuid.uuid4().hex[:8]}"
    problem = "my internet has been down since yesterday"
    asked = " ".join(desk.say(sender, problem))
    assert "phone number or e-mail" in asked, asked
    before = ticket_numbers(desk)

    api = _pid_listening_on(int(desk.api_url.rsplit(":", 1)[1]))
    with paused(api):
        apology = " ".join(desk.say(sender, "13800138000"))
        # Answered while the API still hangs: honest, and no number it cannot know.
        assert "can't confirm your ticket" in apology, apology
        assert not TICKET.search(apology), apology

    # The request the API took in before it hung is served now: the ticket lands late.
    deadline = time.monotonic() + 60
    while not (landed := ticket_numbers(desk) - before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(landed) == 1, f"the paused creation did not land: {landed}"

    again = " ".join(desk.say(sender, problem))
    assert TICKET.findall(again)[:1] == list(landed), again
    assert ticket_numbers(desk) - before == landed  # not a second ticket
