"""The parts of `make bench-bot` that run without a desk: customers against a scripted
REST channel, finding processes by port, and where a run lands in BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from pathlib import Path

import pytest

from scripts.bench_bot import LINES, Customer, Phase, append_report, cpu_seconds, pid_listening_on


class ScriptedDesk:
    """Answers each message with the next reply of a script; records what was said."""

    def __init__(self, replies: list[list[str]]) -> None:
        self.replies = replies
        self.said: list[str] = []

    async def say(self, sender: str, message: str) -> tuple[list[str], str | None]:
        self.said.append(message)
        texts = self.replies.pop(0)
        return texts, None if texts else "empty reply"


def customer(desk: ScriptedDesk, phase: Phase, opens_ticket: bool, n: int = 0) -> Customer:
    return Customer(desk, phase, random.Random(1), "t", n, 1.0 if opens_ticket else 0.0)  # type: ignore[arg-type]


class TestCustomer:
    def test_answers_the_forms_questions_until_the_ticket_number(self) -> None:
        desk = ScriptedDesk(
            [
                ["What's the order number? It's DD followed by 10 digits"],
                ["I'll open a ticket. What phone number or e-mail address can we reach you on?"],
                ["Ticket SD-100042 is open."],
                ["Ticket SD-100042 is waiting for an agent."],
            ]
        )
        phase = Phase("stress 1", 1, None)
        asyncio.run(customer(desk, phase, opens_ticket=True).run(time.monotonic() + 60))
        assert [t.kind for t in phase.turns] == ["problem", "order", "contact", "status"]
        assert desk.said[1] == "DD2026112001"
        assert "SD-100042" in desk.said[3]
        assert not phase.errors and phase.conversations == 1

    def test_a_ticket_reply_without_a_number_is_an_error(self) -> None:
        desk = ScriptedDesk(
            [["What phone number or e-mail address can we reach you on?"], ["Done!"]]
        )
        phase = Phase("stress 1", 1, None)
        asyncio.run(customer(desk, phase, opens_ticket=True).run(time.monotonic() + 60))
        assert phase.errors == {"ticket flow: unexpected reply 'Done!'": 1}

    def test_a_status_reply_must_name_the_ticket_asked_about(self) -> None:
        desk = ScriptedDesk([["Shipping is free over 99 yuan."], ["I can't find that ticket."]])
        phase = Phase("stress 1", 1, None)
        asyncio.run(customer(desk, phase, opens_ticket=False, n=1).run(time.monotonic() + 60))
        assert [t.kind for t in phase.turns] == ["faq", "status"]
        assert phase.errors == {"status reply without the ticket number": 1}
        # an odd-numbered customer speaks Chinese
        assert desk.said[0] in LINES["zh"]["faq"]


class TestProcesses:
    def test_finds_the_process_listening_on_a_port(self) -> None:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            assert pid_listening_on(listener.getsockname()[1]) == os.getpid()

    def test_counts_cpu_seconds(self) -> None:
        before = cpu_seconds([os.getpid()])
        deadline = time.process_time() + 0.05
        while time.process_time() < deadline:
            pass
        assert cpu_seconds([os.getpid()]) > before


class TestAppendReport:
    def test_runs_are_appended_at_the_end_of_their_section(self, tmp_path: Path) -> None:
        path = tmp_path / "BENCHMARKS.md"
        path.write_text("# Benchmarks\n\n## Ticketing API\n\nfigures\n")
        append_report("### run 1\n", path)
        append_report("### run 2\n", path)
        path.write_text(path.read_text() + "\n## NLU\n\nmore\n")
        append_report("### run 3\n", path)
        text = path.read_text()
        assert text.index("## Ticketing API") < text.index("## The bot under load")
        assert text.index("### run 1") < text.index("### run 2") < text.index("### run 3")
        assert text.index("### run 3") < text.index("## NLU")


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_ticket_share_decides_who_opens_a_ticket(share: float) -> None:
    phase = Phase("human 2", 2, (3.0, 8.0))
    c = Customer(ScriptedDesk([]), phase, random.Random(3), "t", 0, share)  # type: ignore[arg-type]
    assert c.opens_ticket is (share == 1.0)
