"""The domain's responses as Rasa renders them: both languages, ticket numbers, buttons."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


def render(domain: Domain, response: str, language: str, **values: Any) -> dict[str, Any]:
    tracker = DialogueStateTracker.from_events(
        "test", [SlotSet("language", language)], slots=domain.slots
    )
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    rendered = asyncio.run(nlg.generate(response, tracker, "rest", **values))
    assert rendered is not None, response
    return rendered


def test_every_response_has_a_chinese_and_an_english_variation(domain: Domain) -> None:
    for name, variations in domain.responses.items():
        conditioned = [v for v in variations if v.get("condition")]
        plain = [v for v in variations if not v.get("condition")]
        assert conditioned and plain, f"{name} lacks a zh or en variation"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_rating_buttons_carry_a_json_payload(domain: Domain, language: str) -> None:
    rendered = render(domain, "utter_ask_rating", language, ticket_number="SD-100007")
    assert "SD-100007" in rendered["text"]
    payloads = [button["payload"] for button in rendered["buttons"]]
    assert len(payloads) == 5
    for score, payload in zip(range(5, 0, -1), payloads, strict=True):
        intent, _, entities = payload.partition("{")
        assert intent == "/rate_service"
        assert json.loads("{" + entities) == {"rating": str(score)}


@pytest.mark.parametrize(
    "response",
    [
        "utter_confirm_cancel",
        "utter_ticket_cancelled",
        "utter_ticket_kept",
        "utter_ticket_not_cancellable",
        "utter_ticket_info_added",
        "utter_ticket_closed_no_info",
        "utter_ask_ticket_info",
        "utter_ticket_action_failed",
        "utter_ask_rating",
        "utter_ask_rating_score",
        "utter_rating_thanks",
        "utter_rating_sorry",
        "utter_rating_already",
        "utter_rating_not_resolved",
        "utter_rating_failed",
    ],
)
@pytest.mark.parametrize("language", ["zh", "en"])
def test_replies_about_a_ticket_name_it(domain: Domain, response: str, language: str) -> None:
    rendered = render(
        domain, response, language, ticket_number="SD-100042", status="closed", score=5
    )
    assert "SD-100042" in rendered["text"]


def test_the_list_of_tickets_is_said_in_the_customers_language(domain: Domain) -> None:
    lines = "• SD-100001: 处理中"
    zh = render(domain, "utter_my_tickets", "zh", count=1, tickets=lines)
    en = render(domain, "utter_my_tickets", "en", count=1, tickets="• SD-100001: being worked on")
    assert zh["text"].startswith("您有 1 张") and "SD-100001" in zh["text"]
    assert en["text"].startswith("You have 1 open") and "SD-100001" in en["text"]
