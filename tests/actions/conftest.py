"""Fixtures for action tests: a fake ticketing API and the action server's settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.actions.fake_api import TOKEN, FakeDeskApi

T = TypeVar("T")


@pytest.fixture
def api() -> FakeDeskApi:
    return FakeDeskApi()


@pytest.fixture
def with_api(
    api: FakeDeskApi, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[], Awaitable[T]]], T]]:
    """Run an async scenario while the fake API listens and the settings point at it."""

    def run(scenario: Callable[[], Awaitable[T]]) -> T:
        async def inner() -> T:
            server = api.server()
            await server.start_server()
            monkeypatch.setenv("DESK_API_URL", str(server.make_url("")).rstrip("/"))
            try:
                return await scenario()
            finally:
                await server.close()

        result = asyncio.run(inner())
        # What the actions sent and what the fake answered both fit the real API's
        # OpenAPI document (tests/actions/contract.py).
        assert not api.violations, "outside the API's contract:\n" + "\n".join(api.violations)
        return result

    monkeypatch.setenv("DESK_SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("DESK_API_TIMEOUT", "2")
    monkeypatch.setenv("DESK_TIMEZONE", "Asia/Shanghai")
    yield run


@pytest.fixture
def api_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings pointing at a port where nothing listens."""
    monkeypatch.setenv("DESK_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DESK_SERVICE_TOKEN", TOKEN)
    monkeypatch.setenv("DESK_API_TIMEOUT", "1")


def run_action(
    action: Any, tracker: Any, domain: dict[str, Any] | None = None
) -> tuple[list[Any], Any]:
    """Run an action's coroutine outside a fake API (for api_down tests)."""
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {}))
    return events, dispatcher


def run_with_api(
    with_api: Callable[[Callable[[], Awaitable[Any]]], Any], action: Any, tracker: Any
) -> tuple[list[Any], Any]:
    """Run an action while the fake API listens: (events, dispatcher)."""
    from rasa_sdk.executor import CollectingDispatcher

    async def scenario() -> tuple[list[Any], Any]:
        dispatcher = CollectingDispatcher()
        events = await action.run(dispatcher, tracker, {})
        return events, dispatcher

    return with_api(scenario)
