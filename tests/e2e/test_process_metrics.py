"""The running desk's three /metrics: they parse, move when a customer talks, and stay
closed to the public."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support_desk import Desk, DeskDidNotStart, running_desk


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    try:
        with running_desk(tmp_path_factory.mktemp("desk")) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))


def scrape(url: str, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in found.items()
        if sample == name and all((k, v) in sample_labels for k, v in labels.items())
    )


def test_rasa_and_the_action_server_count_a_conversation(desk: Desk) -> None:
    token = desk.secret("DESK_METRICS_TOKEN")
    rasa_before = scrape(desk.rasa_url, token)
    actions_before = scrape(desk.actions_url, token)
    sender = f"metrics-{uuid.uuid4().hex[:8]}"
    assert desk.say(sender, "我的宽带连不上了")
    assert desk.say(sender, "我要找人工客服")
    rasa_after = scrape(desk.rasa_url, token)
    actions_after = scrape(desk.actions_url, token)
    turns = total(rasa_after, "desk_bot_turns_total", channel="rest", outcome="answered")
    assert turns - total(rasa_before, "desk_bot_turns_total", channel="rest") == 2
    assert total(rasa_after, "desk_bot_turn_seconds_count", channel="rest") >= 2
    handoffs = total(rasa_after, "desk_bot_handoffs_total", channel="rest")
    assert handoffs - total(rasa_before, "desk_bot_handoffs_total", channel="rest") == 1
    calls = total(actions_after, "desk_action_calls_total", outcome="ok")
    assert calls > total(actions_before, "desk_action_calls_total", outcome="ok")
    assert total(actions_after, "desk_action_calls_total", action="action_request_human") >= 1


@pytest.mark.parametrize("process", ["rasa_url", "actions_url"])
def test_the_public_reads_nothing(desk: Desk, process: str) -> None:
    url = getattr(desk, process)
    assert httpx.get(f"{url}/metrics").status_code == 401
    wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer not-the-token-0000"})
    assert wrong.status_code == 401
    assert "desk_" not in wrong.text
