"""The request id of a customer message reaches the API: Rasa's connector puts it in the
message's metadata, the action server reads it from the tracker and every API call of
the action carries it as X-Request-ID (ticketing/jsonlog.py)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sanic import Sanic

from actions.server import build_app
from tests.actions.served import start
from tests.actions.test_server import GOOD, SECRET, action_call, user


def run_my_tickets(metadata: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``action_my_tickets`` for a message with ``metadata``; the API requests' headers."""
    seen: list[dict] = []

    async def tickets(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"items": [], "total": 0, "limit": 5, "offset": 0})

    async def main() -> int:
        api = web.Application()
        api.router.add_get("/api/v1/tickets", tickets)
        api_server = TestServer(api)
        await api_server.start_server()
        monkeypatch.setenv("DESK_API_URL", str(api_server.make_url("")).rstrip("/"))
        Sanic.test_mode = True
        app = build_app(SECRET)
        app.name = f"actions_{uuid.uuid4().hex[:8]}"
        server, port = await start(app)
        body = action_call("customer-1", [user("my tickets", "rest", **metadata)])
        body["tracker"]["latest_message"]["metadata"] = metadata
        body["next_action"] = "action_my_tickets"
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"http://127.0.0.1:{port}/webhook", json=body, headers=GOOD) as reply,
            ):
                return reply.status
        finally:
            server.close()
            await server.wait_closed()
            await api_server.close()

    monkeypatch.setenv("DESK_SERVICE_TOKEN", "service-token-for-tests")
    assert asyncio.run(main()) == 200
    assert seen, "the action did not call the API"
    return seen


def test_the_messages_request_id_goes_with_every_api_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = run_my_tickets({"request_id": "msg-0123456789abcdef"}, monkeypatch)
    assert {headers["X-Request-ID"] for headers in seen} == {"msg-0123456789abcdef"}


def test_a_malformed_id_in_the_tracker_is_not_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = run_my_tickets({"request_id": 'x"\n{"level":"ERROR"}'}, monkeypatch)
    (rid,) = {headers["X-Request-ID"] for headers in seen}
    assert "\n" not in rid and len(rid) == 32
