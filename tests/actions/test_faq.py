"""FAQ or problem: a question gets its answer, a fault the answer and the offer of a
ticket, and a customer the answer did not help gets the ticket, never the FAQ again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq

TOPIC = "utter_faq/reset_password"


def user(text: str, intent: str, timestamp: float) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp,
        "parse_data": {"intent": {"name": intent}, "entities": []},
    }


def tracker(
    text: str,
    intent: str = "faq",
    *,
    offered_for: str | None = None,
    runner_up: float = 0.0,
    language: str = "en",
) -> Tracker:
    """A conversation whose latest message is ``text``; ``offered_for``: an earlier
    message that got an FAQ answer with the offer of a ticket."""
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
    slots: dict[str, Any] = {"language": language}
    if offered_for:
        events += [
            user(offered_for, "faq", 1.0),
            {"event": "action", "name": "action_answer_faq"},
            {"event": "slot", "name": "faq_outcome", "value": "offered"},
            {"event": "slot", "name": "problem_description", "value": offered_for},
            {"event": "action", "name": "action_listen"},
        ]
        slots.update(faq_outcome="offered", problem_description=offered_for)
    events.append(user(text, intent, 2.0))
    return Tracker(
        sender_id="c1",
        slots=slots,
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": 0.7},
            "intent_ranking": [
                {"name": intent, "confidence": 0.7},
                {"name": "report_problem", "confidence": runner_up},
            ],
            "entities": [],
            "response_selector": {"faq": {"response": {"utter_action": TOPIC}}},
        },
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(tr: Tracker) -> tuple[list[Any], list[str | None]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswerFaq().run(dispatcher, tr, {}))
    return events, [m.get("response") for m in dispatcher.messages]


@pytest.mark.parametrize(
    ("text", "language"),
    [("how do I reset my password?", "en"), ("发票怎么开", "zh"), ("你們客服幾點上班", "zh")],
)
def test_a_question_gets_its_answer_and_nothing_more(text: str, language: str) -> None:
    events, said = run(tracker(text, language=language))
    assert said == [TOPIC]
    assert events == [SlotSet("faq_outcome", "answered")]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I can't log in, it keeps saying my password is wrong", "en"),
        ("我买的电水壶坏了，想退货", "zh"),
        ("付款一直失败怎么回事", "zh"),
        ("電飯煲內膽有劃痕，想換一個", "zh"),
    ],
)
def test_a_fault_gets_the_answer_and_the_offer_of_a_ticket(text: str, language: str) -> None:
    events, said = run(tracker(text, language=language))
    assert said == [TOPIC, "utter_faq_offer_ticket"]
    assert events == [SlotSet("faq_outcome", "offered"), SlotSet("problem_description", text)]


def test_the_classifier_thinking_it_may_be_a_fault_is_enough() -> None:
    _, said = run(tracker("where is the reset link", runner_up=0.3))
    assert said == [TOPIC, "utter_faq_offer_ticket"]


@pytest.mark.parametrize(
    "again",
    [
        "I still can't log in",  # the problem again
        "that didn't help, the reset email never arrives",
        "我已经试过了，还是不行",
        "my email is olivia.m@hotmail.com",  # a contact
        "订单号 DD2026112315",  # an order number
    ],
)
def test_after_the_offer_the_problem_again_becomes_a_ticket(again: str) -> None:
    first = "I can't log in, it keeps saying my password is wrong"
    events, said = run(tracker(again, offered_for=first))
    assert said == []  # not the FAQ again
    assert events[0] == SlotSet("faq_outcome", "ticket")
    assert events[1]["value"] == f"{first}\n{again}"


def test_a_fault_with_an_order_number_becomes_a_ticket_at_once() -> None:
    text = "My refund still hasn't come back after two weeks. Order 48902113650027781234"
    events, said = run(tracker(text))
    assert said == []
    assert events == [
        SlotSet("faq_outcome", "ticket"),
        SlotSet("problem_description", text),
    ]


@pytest.mark.parametrize(
    ("text", "ticket"),
    [
        ("no, that didn't help", True),
        ("没用", True),
        ("no thanks", False),
        ("不用了", False),
    ],
)
def test_a_no_to_the_offer(text: str, ticket: bool) -> None:
    events, said = run(tracker(text, "deny", offered_for="登录不上"))
    if ticket:
        assert said == [] and events[0] == SlotSet("faq_outcome", "ticket")
    else:
        assert said == ["utter_how_can_i_help"]
        assert events == [
            SlotSet("faq_outcome", "answered"),
            SlotSet("problem_description", None),
        ]


def test_another_question_after_the_offer_is_just_answered() -> None:
    events, said = run(tracker("what are your opening hours?", offered_for="登录不上"))
    assert said == [TOPIC]
    assert events == [SlotSet("faq_outcome", "answered")]


def test_the_outcome_slot_is_set_only_by_the_action() -> None:
    """A custom slot mapping that names an action makes Rasa run that action after every
    message; action_answer_faq must run only when the rules call it."""
    from pathlib import Path

    import yaml

    domain = Path(__file__).resolve().parents[2] / "bot" / "domain" / "answers.yml"
    mappings = yaml.safe_load(domain.read_text("utf-8"))["slots"]["faq_outcome"]["mappings"]
    assert mappings == [{"type": "custom"}]
