"""The action server's /metrics: counts and latency per action, readable only by scrapers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sanic import Sanic

from actions.server import SECRET_HEADER, build_app
from tests.actions.conversation import connector_id
from tests.actions.served import start
from tests.actions.test_server import SECRET, action_call, user
from ticketing.scrape_access import ScrapeAccess, parse_networks

TOKEN = "scrape-token-0123456789"
GOOD = {SECRET_HEADER: SECRET}
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


def session_of(
    requests: list[tuple[str, str, Any, dict[str, str]]], access: ScrapeAccess
) -> list[tuple[int, str]]:
    """Serve one action server on a free port and make these requests in order."""

    async def main() -> list[tuple[int, str]]:
        Sanic.test_mode = True
        app = build_app(SECRET, scrape=access)
        app.name = f"actions_{uuid.uuid4().hex[:8]}"
        server, port = await start(app)
        answers: list[tuple[int, str]] = []
        try:
            async with aiohttp.ClientSession() as http:
                for method, path, body, headers in requests:
                    async with http.request(
                        method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers
                    ) as response:
                        answers.append((response.status, await response.text()))
        finally:
            server.close()
            await server.wait_closed()
        return answers

    return asyncio.run(main())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_calls_outcomes_and_latency_are_counted() -> None:
    good = action_call("customer-1", [user("hmm", "rest")])
    forged = action_call(connector_id("voice", "call-1"), [user("hi", "rest", caller_number="1")])
    made_up = dict(good, next_action="action_that_does_not_exist")
    answers = session_of(
        [
            ("POST", "/webhook", good, GOOD),
            ("POST", "/webhook", good, GOOD),
            ("POST", "/webhook", forged, GOOD),
            ("POST", "/webhook", made_up, GOOD),
            ("GET", "/metrics", None, SCRAPER),
        ],
        ScrapeAccess(token=TOKEN),
    )
    assert [status for status, _ in answers] == [200, 200, 403, 404, 200]
    found = samples(answers[-1][1])
    ok = ("desk_action_calls_total", (("action", "action_clarify"), ("outcome", "ok")))
    refused = ("desk_action_calls_total", (("action", "action_clarify"), ("outcome", "refused")))
    other = ("desk_action_calls_total", (("action", "other"), ("outcome", "error")))
    assert (found[ok], found[refused], found[other]) == (2.0, 1.0, 1.0)
    assert found[("desk_action_seconds_count", (("action", "action_clarify"),))] == 3.0
    assert "action_that_does_not_exist" not in answers[-1][1]


@pytest.mark.parametrize(
    ("access", "headers", "status"),
    [
        (ScrapeAccess(token=TOKEN), {}, 401),
        (ScrapeAccess(token=TOKEN), {"Authorization": "Bearer wrong-token-0123456789"}, 401),
        (ScrapeAccess(token=TOKEN), GOOD, 401),  # the action secret is not a scrape token
        (ScrapeAccess(), SCRAPER, 403),  # nothing configured: nobody
        (ScrapeAccess(networks=parse_networks("10.0.0.0/8")), {}, 403),
        (ScrapeAccess(networks=parse_networks("127.0.0.1")), {}, 200),
    ],
)
def test_only_scrapers_read(access: ScrapeAccess, headers: dict[str, str], status: int) -> None:
    [(answer, text)] = session_of([("GET", "/metrics", None, headers)], access)
    assert answer == status
    assert ("desk_action_calls" in text) is (status == 200)


def test_a_short_or_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="DESK_METRICS_TOKEN"):
        ScrapeAccess.from_environ({"DESK_METRICS_TOKEN": "short"})
    with pytest.raises(ValueError, match="DESK_METRICS_ALLOW"):
        ScrapeAccess.from_environ({"DESK_METRICS_ALLOW": "example.com"})
    access = ScrapeAccess.from_environ({"DESK_METRICS_TOKEN": TOKEN, "DESK_METRICS_ALLOW": ""})
    assert access.status("10.1.2.3", f"Bearer {TOKEN}") == 200
