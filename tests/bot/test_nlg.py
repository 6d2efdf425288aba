"""The desk's response generator: FAQ answers as edited in the desk, everything else and
every failure from the trained domain. Driven against a local HTTP server standing in for
the ticketing API's GET /api/v1/faq/{topic} (its contract is tested in tests/api/test_faq.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.nlg import DeskNaturalLanguageGenerator

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "bot" / "domain"))
TOKEN = "service-token-for-nlg-tests"
EDITED = "退款在审核通过后 1 个工作日内原路退回（已更新）。"


def tracker(language: str, sender: str = "web:session-1") -> DialogueStateTracker:
    return DialogueStateTracker.from_events(sender, [SlotSet("language", language)])


class FaqApi:
    def __init__(self, *, delay: float = 0.0, status: int = 200) -> None:
        self.delay, self.status = delay, status
        self.requests: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/faq/{topic}", self.topic)
        return app

    async def topic(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "headers": dict(request.headers)})
        await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": {"code": "x"}}, status=self.status)
        return web.json_response({"topic": request.match_info["topic"], "texts": {"zh": EDITED}})


def generate(
    api: FaqApi | None,
    action: str,
    language: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    times: int = 1,
    timeout: float = 1.0,
) -> list[dict[str, Any] | None]:
    monkeypatch.setenv("DESK_SERVICE_TOKEN", TOKEN)

    async def main() -> list[dict[str, Any] | None]:
        server = TestServer(api.app()) if api else None
        if server:
            await server.start_server()
        url = str(server.make_url("")).rstrip("/") if server else "http://127.0.0.1:9"
        nlg = DeskNaturalLanguageGenerator(
            EndpointConfig(url=url, timeout=timeout, retry_after=30), DOMAIN
        )
        try:
            return [await nlg.generate(action, tracker(language), "socketio") for _ in range(times)]
        finally:
            if server:
                await server.close()

    return asyncio.run(main())


def trained(action: str, language: str) -> str:
    variants = DOMAIN.responses[action]
    chosen = next(
        (v for v in variants if any(c.get("value") == language for c in v.get("condition") or [])),
        variants[-1],
    )
    return str(chosen["text"])


def test_an_edited_faq_answer_is_what_the_customer_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FaqApi()
    [response] = generate(api, "utter_faq/refund_time", "zh", monkeypatch)
    assert response is not None and response["text"] == EDITED
    [request] = api.requests
    assert request["path"] == "/api/v1/faq/refund_time"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    # The service token acts for this conversation, as the action server's calls do.
    assert (request["headers"]["X-Desk-Channel"], request["headers"]["X-Desk-Sender"]) == (
        "web",
        "session-1",
    )


def test_a_language_the_desk_did_not_edit_keeps_the_trained_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [response] = generate(FaqApi(), "utter_faq/refund_time", "en", monkeypatch)
    assert response is not None and response["text"] == trained("utter_faq/refund_time", "en")


def test_other_responses_never_ask_the_desk(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FaqApi()
    [response] = generate(api, "utter_greet", "zh", monkeypatch)
    assert response is not None and response["text"] == trained("utter_greet", "zh")
    assert api.requests == []


@pytest.mark.parametrize(
    "api",
    [None, FaqApi(status=500), FaqApi(status=404), FaqApi(delay=2.0)],
    ids=["unreachable", "error", "unknown-topic", "too-slow"],
)
def test_without_the_desk_the_trained_answer(
    api: FaqApi | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses = generate(api, "utter_faq/refund_time", "zh", monkeypatch, times=2, timeout=0.3)
    assert [r["text"] for r in responses if r] == [trained("utter_faq/refund_time", "zh")] * 2


def test_after_a_failure_the_desk_is_left_alone_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = FaqApi(status=503)
    generate(api, "utter_faq/refund_time", "zh", monkeypatch, times=3)
    assert len(api.requests) == 1  # one slow answer, not one per customer
