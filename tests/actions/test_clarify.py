"""The clarifying question on low confidence, the offer of a person, and stopping a form."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.clarify import ActionClarify, ActionStopForm
from tests.actions.conversation import make_tracker, responses, run, user_event

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.4},
    {"name": "faq", "confidence": 0.3},
    {"name": "cancel_ticket", "confidence": 0.25},
    {"name": "my_tickets", "confidence": 0.2},
    {"name": "greet", "confidence": 0.05},
]


class TestActionClarify:
    def test_offers_the_two_likeliest_intents_in_the_customers_language(self) -> None:
        tr = make_tracker(
            text="工单那个", intent="nlu_fallback", intent_ranking=RANKING, language="zh"
        )
        events, dispatcher = run(ActionClarify(), tr)
        assert responses(dispatcher) == ["utter_clarify"]
        assert dispatcher.messages[0]["buttons"] == [
            {"title": "取消工单", "payload": "/cancel_ticket"},
            {"title": "查看我的工单", "payload": "/my_tickets"},
        ]
        # Not an offer of a person: a typed yes here brings no one in.
        assert events == [SlotSet("human_offered", False)]

    def test_english_labels(self) -> None:
        tr = make_tracker(text="ticket thing", intent="nlu_fallback", intent_ranking=RANKING)
        _, dispatcher = run(ActionClarify(), tr)
        assert [b["title"] for b in dispatcher.messages[0]["buttons"]] == [
            "Cancel a ticket",
            "See my tickets",
        ]

    def test_the_second_miss_in_a_row_offers_a_person(self) -> None:
        tr = make_tracker(
            text="blorp",
            intent="nlu_fallback",
            intent_ranking=RANKING,
            earlier=[user_event("ticket thing", "nlu_fallback")],
        )
        events, dispatcher = run(ActionClarify(), tr)
        assert responses(dispatcher) == ["utter_offer_human"]
        # The rules bring a person in on a typed yes to this question.
        assert events == [SlotSet("human_offered", True)]

    def test_a_miss_after_an_understood_message_asks_again(self) -> None:
        tr = make_tracker(
            text="blorp",
            intent="nlu_fallback",
            intent_ranking=RANKING,
            earlier=[user_event("ticket thing", "nlu_fallback"), user_event("hi", "greet")],
        )
        _, dispatcher = run(ActionClarify(), tr)
        assert responses(dispatcher) == ["utter_clarify"]

    def test_nothing_to_offer_asks_to_rephrase(self) -> None:
        ranking = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "faq", "confidence": 0.3}]
        tr = make_tracker(text="?", intent="nlu_fallback", intent_ranking=ranking)
        _, dispatcher = run(ActionClarify(), tr)
        assert responses(dispatcher) == ["utter_default"]


def test_stopping_a_form_forgets_the_unfinished_request() -> None:
    tr = make_tracker(
        {
            "problem_description": "router broken",
            "category": "technical_support",
            "ticket_number": "SD-100001",
            "contact": "a@b.com",
        },
        text="never mind",
        intent="deny",
    )
    events, dispatcher = run(ActionStopForm(), tr)
    assert responses(dispatcher) == ["utter_form_stopped"]
    assert SlotSet("problem_description", None) in events
    assert SlotSet("category", None) in events
    assert SlotSet("requested_slot", None) in events
    # What the customer has (their ticket, their contact) stays.
    assert all(e["name"] not in ("ticket_number", "contact") for e in events)
