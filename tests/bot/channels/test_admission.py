"""A saturated Rasa process: messages wait for a place, or get an honest "busy" reply
without being processed; a started turn is finished; never a 5xx, never a message
handled twice.

The REST and widget channels are served as `rasa run` serves them, in front of the
channel tests' FakeAgent (a real Agent whose dialogue is scripted and takes ``delay``
seconds per turn), with a gate of one place so that a second message finds it taken.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

import bot.channels.admission as admission
from bot.channels.admission import TurnGate
from bot.channels.rest import DeskRestInput
from tests.bot.channels.conftest import FakeAgent, run, serve
from tests.bot.channels.test_widget import Customer, new_session, widget_server

BUSY_ZH = "抱歉，现在咨询的人很多，我没能接收您刚才的消息。请稍等片刻再发一次。"
BUSY_EN = (
    "Sorry, a lot of customers are writing to us right now and I couldn't take that "
    "message in. Please send it again in a moment."
)


@pytest.fixture
def one_place(monkeypatch: pytest.MonkeyPatch) -> Iterator[TurnGate]:
    """This process's gate: one turn at a time, 0.3 s of waiting for it."""
    gate = TurnGate(1, 0.3)
    monkeypatch.setattr(admission, "_gate", gate)
    yield gate


async def post(http: aiohttp.ClientSession, url: str, sender: str, text: str) -> tuple[int, Any]:
    async with http.post(url, json={"sender": sender, "message": text}) as response:
        return response.status, await response.json(content_type=None)


class TestTurnGate:
    """Turns are ordered by events, not by sleeping: a turn holds its place until the
    test lets it go."""

    def test_a_turn_waits_for_a_place_and_then_runs(self) -> None:
        ran: list[str] = []

        async def main() -> list[bool]:
            gate = TurnGate(1, 30.0)
            started, go = asyncio.Event(), asyncio.Event()

            async def first() -> None:
                started.set()
                await go.wait()
                ran.append("a")

            async def second() -> None:
                ran.append("b")

            a = asyncio.ensure_future(gate.run(first))
            await started.wait()  # "a" holds the only place
            b = asyncio.ensure_future(gate.run(second))
            await asyncio.sleep(0)  # let "b" ask for a place (it must wait)
            assert ran == []
            go.set()
            return list(await asyncio.gather(a, b))

        assert run(main()) == [True, True]
        assert ran == ["a", "b"]

    def test_a_turn_that_finds_no_place_in_time_is_not_run(self) -> None:
        ran: list[str] = []

        async def main() -> tuple[list[bool], int]:
            gate = TurnGate(1, 0.1)
            started, go = asyncio.Event(), asyncio.Event()

            async def first() -> None:
                started.set()
                await go.wait()  # held until "b" has been turned away
                ran.append("a")

            async def second() -> None:
                ran.append("b")

            a = asyncio.ensure_future(gate.run(first))
            await started.wait()
            b = await gate.run(second)
            go.set()
            return [await a, b], gate.turned_away

        assert run(main()) == ([True, False], 1)
        assert ran == ["a"]

    def test_a_started_turn_finishes_when_its_caller_goes_away(self) -> None:
        ran: list[str] = []

        async def main() -> bool:
            gate = TurnGate(1, 30.0)
            started, go, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

            async def held() -> None:
                started.set()
                await go.wait()
                ran.append("done")
                finished.set()

            async def quick() -> None:
                ran.append("done")

            caller = asyncio.ensure_future(gate.run(held))
            await started.wait()
            caller.cancel()
            go.set()
            await finished.wait()  # the turn ran to its end without its caller
            # The place is free again: the next turn runs at once.
            return await asyncio.wait_for(gate.run(quick), 30.0)

        assert run(main()) is True
        assert ran == ["done", "done"]

    @pytest.mark.parametrize(("in_flight", "queue"), [(0, 1.0), (1, 0.0)])
    def test_a_gate_that_could_serve_nobody_is_refused(self, in_flight: int, queue: float) -> None:
        with pytest.raises(ValueError, match="DESK_TURN"):
            TurnGate(in_flight, queue)

    def test_settings_come_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(admission, "_gate", None)
        monkeypatch.setenv("DESK_TURNS_IN_FLIGHT", "3")
        monkeypatch.setenv("DESK_TURN_QUEUE_SECONDS", "4.5")
        gate = admission.turn_gate()
        assert (gate.in_flight, gate.queue_seconds) == (3, 4.5)
        monkeypatch.setattr(admission, "_gate", None)
        monkeypatch.setenv("DESK_TURNS_IN_FLIGHT", "many")
        with pytest.raises(ValueError, match="DESK_TURNS_IN_FLIGHT"):
            admission.turn_gate()


class TestRestWhenSaturated:
    def test_the_message_that_finds_no_place_gets_busy_and_is_not_processed(
        self, one_place: TurnGate
    ) -> None:
        agent = FakeAgent(gated=True)

        async def main() -> list[tuple[int, Any]]:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                first = asyncio.ensure_future(post(http, url, "li", "我的宽带连不上了"))
                await agent.started.wait()  # the first turn holds the only place
                busy = await asyncio.gather(
                    post(http, url, "wang", "路由器坏了"), post(http, url, "ann", "router broken")
                )
                agent.release.set()
                return [await first, *busy]

        (status, answer), (busy_zh_status, busy_zh), (busy_en_status, busy_en) = run(main())
        assert (status, answer) == (200, [{"recipient_id": "li", "text": "收到：我的宽带连不上了"}])
        assert busy_zh_status == busy_en_status == 200
        assert [m["text"] for m in busy_zh] == [BUSY_ZH]
        assert [m["text"] for m in busy_en] == [BUSY_EN]
        # Only the first message reached the dialogue; the others can be sent again.
        assert [m.text for m in agent.received] == ["我的宽带连不上了"]

    def test_a_busy_reply_follows_the_conversations_language(self, one_place: TurnGate) -> None:
        agent = FakeAgent()

        async def main() -> Any:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                await post(http, url, "li", "我的宽带连不上了")  # a Chinese conversation
                agent.gated = True
                agent.started.clear()
                first = asyncio.ensure_future(post(http, url, "wang", "路由器坏了"))
                await agent.started.wait()  # that turn holds the only place
                _, busy = await post(http, url, "li", "13912345678")  # no language in it
                agent.release.set()
                await first
                return busy

        assert [m["text"] for m in run(main())] == [BUSY_ZH]

    def test_a_message_sent_again_after_busy_is_answered_once(self, one_place: TurnGate) -> None:
        agent = FakeAgent(gated=True)

        async def main() -> list[Any]:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                first = asyncio.ensure_future(post(http, url, "wang", "路由器坏了"))
                await agent.started.wait()
                _, busy = await post(http, url, "li", "我的宽带连不上了")
                agent.release.set()
                await first
                _, again = await post(http, url, "li", "我的宽带连不上了")
                return [busy, again]

        busy, again = run(main())
        assert [m["text"] for m in busy] == [BUSY_ZH]
        assert [m["text"] for m in again] == ["收到：我的宽带连不上了"]
        assert [m.text for m in agent.received] == ["路由器坏了", "我的宽带连不上了"]

    def test_a_named_message_turned_away_is_taken_in_when_sent_again(
        self, one_place: TurnGate
    ) -> None:
        agent = FakeAgent(gated=True)
        sender = f"li-{uuid.uuid4().hex[:8]}"
        body = {"sender": sender, "message": "我的宽带连不上了", "message_id": "m-1"}

        async def main() -> list[Any]:
            async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
                first = asyncio.ensure_future(post(http, url, "wang", "路由器坏了"))
                await agent.started.wait()
                async with http.post(url, json=body) as response:
                    busy = await response.json()
                agent.release.set()
                await first
                async with http.post(url, json=body) as response:
                    again = await response.json()
                return [busy, again]

        busy, again = run(main())
        assert [m["text"] for m in busy] == [BUSY_ZH]
        assert [m["text"] for m in again] == ["收到：我的宽带连不上了"]

    def test_a_customer_who_hung_up_leaves_a_finished_turn_and_a_free_place(
        self, one_place: TurnGate
    ) -> None:
        agent = FakeAgent(gated=True)

        async def main() -> tuple[list[str], Any]:
            async with serve(DeskRestInput(), agent) as url:
                async with aiohttp.ClientSession() as http:
                    caller = asyncio.ensure_future(post(http, url, "li", "我的宽带连不上了"))
                    await agent.started.wait()
                    caller.cancel()  # the customer hangs up while the turn is held
                    with pytest.raises(asyncio.CancelledError):
                        await caller
                assert not agent.finished.is_set()
                agent.release.set()
                await asyncio.wait_for(agent.finished.wait(), 30)  # finished without its caller
                tracker = await agent.tracker_store.retrieve("li")
                said = [e.text for e in tracker.events if getattr(e, "text", None)]
                async with aiohttp.ClientSession() as http:
                    _, next_answer = await post(http, url, "wang", "路由器坏了")
                return said, next_answer

        said, next_answer = run(main())
        assert said == ["我的宽带连不上了"]
        assert [m["text"] for m in next_answer] == ["收到：路由器坏了"]


class TestWidgetWhenSaturated:
    def test_the_message_that_finds_no_place_gets_busy_and_can_be_sent_again(
        self, one_place: TurnGate
    ) -> None:
        agent = FakeAgent(gated=True)
        busy_session, other_session = new_session(), new_session()

        async def main() -> tuple[Any, dict[str, Any], Any]:
            async with widget_server(agent) as (url, _):
                other, customer = Customer(), Customer()
                await other.connect(url, other_session)
                await customer.connect(url, busy_session)
                first = asyncio.ensure_future(other.say("路由器坏了", session_id=other_session))
                await agent.started.wait()  # the other customer's turn holds the place
                ack = await customer.say(
                    "转人工", session_id=busy_session, metadata={"message_id": "m-1"}
                )
                busy = await customer.next_message()
                agent.release.set()
                await first
                again = await customer.say(
                    "转人工", session_id=busy_session, metadata={"message_id": "m-1"}
                )
                await other.client.disconnect()
                await customer.client.disconnect()
                return ack, busy, again

        ack, busy, again = run(main())
        assert ack == {"error": "busy", "retry": True}
        assert busy["text"] == BUSY_ZH
        assert again is None  # taken in the second time (the first was not processed)
        assert [m.text for m in agent.received] == ["路由器坏了", "转人工"]
