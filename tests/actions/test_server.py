"""The action server as Rasa reaches it: rasa-sdk's app behind the desk's secret and the
tracker check, served on a real port and called over HTTP.

The attack of the trust-boundary probe: a made-up tracker posted straight to
``/webhook`` to run actions for another customer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from sanic import Sanic

from actions.server import SECRET_HEADER, build_app
from tests.actions.conversation import connector_id
from tests.actions.served import start

SECRET = "action-secret-for-tests"


def user(text: str, channel: str, **metadata: Any) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": 1700000000.0,
        "input_channel": channel,
        "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}, "entities": []},
        "metadata": metadata,
    }


def action_call(sender_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """What Rasa posts for ``action_clarify`` (an action that needs no API)."""
    latest = events[-1]
    return {
        "next_action": "action_clarify",
        "sender_id": sender_id,
        "version": "3.6.2",
        "domain": {"slots": {}, "responses": {}, "forms": {}},
        "tracker": {
            "sender_id": sender_id,
            "slots": {"language": "en"},
            "latest_message": {
                "text": latest["text"],
                "intent": {"name": "nlu_fallback", "confidence": 0.3},
                "entities": [],
                "intent_ranking": [
                    {"name": "nlu_fallback", "confidence": 0.3},
                    {"name": "my_tickets", "confidence": 0.25},
                    {"name": "ticket_status", "confidence": 0.2},
                ],
            },
            "latest_event_time": 1700000000.0,
            "paused": False,
            "events": events,
            "latest_input_channel": latest["input_channel"],
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
    }


def call(
    method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async def main() -> tuple[int, Any]:
        Sanic.test_mode = True  # several apps in one test process
        app = build_app(SECRET)
        app.name = f"actions_{uuid.uuid4().hex[:8]}"
        server, port = await start(app)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.request(
                    method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers or {}
                ) as response,
            ):
                return response.status, await response.json(content_type=None)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


GOOD = {SECRET_HEADER: SECRET}


class TestWhoCalls:
    def test_health_is_open(self) -> None:
        assert call("GET", "/health") == (200, {"status": "ok"})

    @pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: ""}])
    def test_a_call_without_the_secret_is_refused(self, headers: dict[str, str]) -> None:
        body = action_call("customer-1", [user("my tickets", "rest")])
        status, answer = call("POST", "/webhook", body=body, headers=headers)
        assert status == 401 and answer["error"]["code"] == "unauthorized"

    def test_the_list_of_actions_needs_the_secret_too(self) -> None:
        assert call("GET", "/actions")[0] == 401
        status, answer = call("GET", "/actions", headers=GOOD)
        assert status == 200 and {"name": "action_create_ticket"} in answer

    def test_rasa_with_the_secret_gets_the_actions_answer(self) -> None:
        body = action_call("customer-1", [user("hmm", "rest")])
        status, answer = call("POST", "/webhook", body=body, headers=GOOD)
        assert status == 200
        assert answer["responses"] and answer["responses"][0]["buttons"]


class TestWhatItIsTold:
    def test_a_rest_message_in_a_voice_conversation_is_refused(self) -> None:
        # A made-up tracker: a voice conversation whose message came from the REST channel,
        # carrying someone's number as if the carrier had given it.
        body = action_call(
            connector_id("voice", "call-1"),
            [user("list my tickets", "rest", caller_number="13912345678")],
        )
        status, answer = call("POST", "/webhook", body=body, headers=GOOD)
        assert status == 403 and answer["error"]["code"] == "untrusted_tracker"

    def test_a_wechat_message_under_a_rest_id_is_refused(self) -> None:
        body = action_call("oCustomerOpenId0001", [user("我的工单", "wechat")])
        status, answer = call("POST", "/webhook", body=body, headers=GOOD)
        assert status == 403 and answer["error"]["code"] == "untrusted_tracker"

    def test_a_call_without_a_tracker_is_a_400(self) -> None:
        status, answer = call(
            "POST", "/webhook", body={"next_action": "action_clarify"}, headers=GOOD
        )
        assert status == 400 and answer["error"]["code"] == "bad_request"


def test_the_server_refuses_to_be_built_without_a_secret() -> None:
    with pytest.raises(ValueError, match="DESK_ACTION_SECRET"):
        build_app("")


def test_a_hung_api_gets_the_customer_an_honest_answer_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The action server gives each action call one budget for its API calls."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    hits: list[str] = []

    async def hang(request: web.Request) -> web.Response:
        hits.append(request.path)
        await asyncio.sleep(30)
        return web.json_response({})

    async def main() -> tuple[int, Any]:
        api = web.Application()
        api.router.add_route("*", "/{tail:.*}", hang)
        api_server = TestServer(api)
        await api_server.start_server()
        monkeypatch.setenv("DESK_API_URL", str(api_server.make_url("")).rstrip("/"))
        Sanic.test_mode = True
        app = build_app(SECRET, budget=0.8)
        app.name = f"actions_{uuid.uuid4().hex[:8]}"
        server, port = await start(app)
        body = action_call("customer-1", [user("my tickets", "rest")])
        body["next_action"] = "action_my_tickets"
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"http://127.0.0.1:{port}/webhook", json=body, headers=GOOD) as reply,
            ):
                return reply.status, await reply.json()
        finally:
            server.close()
            await server.wait_closed()
            await api_server.close()

    monkeypatch.setenv("DESK_SERVICE_TOKEN", "service-token-for-tests")
    status, answer = asyncio.run(main())
    assert status == 200
    # One attempt, cut short by the budget (without it: three of DESK_API_TIMEOUT each),
    # and the customer is told the desk could not be reached.
    assert len(hits) == 1
    assert answer["responses"], answer
