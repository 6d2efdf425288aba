"""How many customer turns one Rasa process works on at once, and what the others hear.

Every message Rasa accepts shares one event loop and the CPU it gets. Without a limit, a
burst of a hundred messages interleaves: each turn takes as long as all of them, and past
Sanic's response timeout (60 s) the customer gets a 503 while the turn may still finish
later; a customer who then sends the message again is answered twice. So each Rasa
process (the REST and widget channels share it):

- works on at most ``DESK_TURNS_IN_FLIGHT`` turns at once (8); the others wait for a free
  place, first come first served;
- does not take in a message that found no place within ``DESK_TURN_QUEUE_SECONDS``
  (10 s): the customer gets ``utter_desk_busy`` (an honest "busy, send it again"), and
  since nothing of that message reached the conversation, sending it again is safe;
- finishes a turn it has started even when the customer's connection goes away, so the
  saved conversation never holds half a turn (the reply is lost with the connection;
  the conversation is not).

Several Rasa instances behind the balancer each have their own limit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.channels.responses import conversation_language, render

logger = logging.getLogger(__name__)

DEFAULT_TURNS_IN_FLIGHT = 8
DEFAULT_QUEUE_SECONDS = 10.0
BUSY_RESPONSE = "utter_desk_busy"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class TurnGate:
    """At most ``in_flight`` turns at once; a turn that cannot start within
    ``queue_seconds`` is not run."""

    def __init__(self, in_flight: int, queue_seconds: float) -> None:
        if in_flight < 1:
            raise ValueError("DESK_TURNS_IN_FLIGHT must be at least 1")
        if queue_seconds <= 0:
            raise ValueError("DESK_TURN_QUEUE_SECONDS must be more than 0")
        self.in_flight = in_flight
        self.queue_seconds = queue_seconds
        self._places = asyncio.Semaphore(in_flight)
        self.turned_away = 0

    async def run(self, turn: Callable[[], Awaitable[Any]]) -> bool:
        """Run ``turn`` once a place is free and return True; False if none freed up in
        time (``turn`` not run). A started turn runs to its end even if the caller is
        cancelled (the caller then gets the CancelledError)."""
        if not await self._enter():
            self.turned_away += 1
            logger.warning(
                "busy: a message waited %.0f s for one of %d places and was not taken in "
                "(%d turned away since the start)",
                self.queue_seconds,
                self.in_flight,
                self.turned_away,
            )
            return False
        await asyncio.shield(asyncio.ensure_future(self._run_then_leave(turn)))
        return True

    async def _enter(self) -> bool:
        acquiring = asyncio.ensure_future(self._places.acquire())
        try:
            done, _ = await asyncio.wait({acquiring}, timeout=self.queue_seconds)
        except asyncio.CancelledError:
            await self._give_up(acquiring)
            raise
        if done:
            return True
        await self._give_up(acquiring)
        return False

    async def _give_up(self, acquiring: asyncio.Future[Any]) -> None:
        acquiring.cancel()
        try:
            await acquiring
        except asyncio.CancelledError:
            return
        self._places.release()  # the place came free just as the wait ended

    async def _run_then_leave(self, turn: Callable[[], Awaitable[Any]]) -> None:
        try:
            await turn()
        finally:
            self._places.release()


_gate: TurnGate | None = None


def turn_gate() -> TurnGate:
    """This process's gate, from DESK_TURNS_IN_FLIGHT and DESK_TURN_QUEUE_SECONDS."""
    global _gate
    if _gate is None:
        try:
            in_flight = int(os.environ.get("DESK_TURNS_IN_FLIGHT", DEFAULT_TURNS_IN_FLIGHT))
            queue = float(os.environ.get("DESK_TURN_QUEUE_SECONDS", DEFAULT_QUEUE_SECONDS))
        except ValueError as error:
            raise ValueError(
                f"DESK_TURNS_IN_FLIGHT / DESK_TURN_QUEUE_SECONDS: not a number ({error})"
            ) from None
        _gate = TurnGate(in_flight, queue)
    return _gate


async def busy_reply(
    agent: Any | None, conversation: str, text: str, *, output_channel: str
) -> dict[str, Any] | None:
    """The busy message in the conversation's language; in a new conversation, Chinese
    when the message has Chinese in it."""
    language = await conversation_language(agent, conversation)
    if language is None and _CJK.search(text):
        language = "zh"
    return await render(
        agent,
        BUSY_RESPONSE,
        sender_id=conversation,
        language=language,
        output_channel=output_channel,
    )
