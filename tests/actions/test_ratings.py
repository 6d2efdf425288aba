"""Asking for and storing satisfaction ratings, against the fake API."""

from __future__ import annotations

from rasa_sdk.events import SlotSet

from actions.ratings import ActionAskRating, ActionRateTicket
from tests.actions.conversation import entity, make_tracker, responses, run, run_with
from tests.actions.fake_api import FakeDeskApi


class TestActionAskRating:
    def test_triggered_with_the_resolved_ticket(self) -> None:
        tr = make_tracker(
            text="",
            intent="ticket_resolved",
            entities=[entity("ticket_number", "SD-100007")],
            language="zh",
        )
        events, dispatcher = run(ActionAskRating(), tr)
        assert responses(dispatcher) == ["utter_ask_rating"]
        assert dispatcher.messages[0]["ticket_number"] == "SD-100007"
        assert SlotSet("rating_ticket", "SD-100007") in events

    def test_without_a_ticket_it_does_not_ask(self) -> None:
        events, dispatcher = run(ActionAskRating(), make_tracker(intent="ticket_resolved"))
        assert dispatcher.messages == [] and events == []


class TestActionRateTicket:
    def test_a_button_rating_is_stored_for_the_asked_ticket(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100007", "resolved")
        tr = make_tracker(
            {"rating_ticket": "SD-100007"},
            text='/rate_service{"rating": "5"}',
            intent="rate_service",
            entities=[entity("rating", "5")],
        )
        events, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_thanks"]
        assert dispatcher.messages[0]["score"] == 5
        assert dispatcher.messages[0]["ticket_number"] == "SD-100007"
        assert api.ratings["SD-100007"] == {"score": 5, "comment": None}
        assert SlotSet("rating_ticket", None) in events

    def test_a_volunteered_rating_goes_to_the_latest_resolved_ticket(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100001", "resolved")
        api.add_ticket("SD-100002", "open")
        api.add_ticket("SD-100003", "resolved")
        tr = make_tracker(text="不满意，太慢了", intent="rate_service", language="zh")
        events, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_sorry"]
        assert api.ratings == {"SD-100003": {"score": 2, "comment": "不满意，太慢了"}}
        # "不满意" is also a complaint keyword: it must not colour the next ticket.
        assert SlotSet("category", None) in events

    def test_a_rating_without_a_score_asks_for_one(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100003", "resolved")
        tr = make_tracker(text="i want to rate the service", intent="rate_service")
        events, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_ask_rating_score"]
        assert SlotSet("rating_ticket", "SD-100003") in events
        assert api.ratings == {}

    def test_already_rated(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100003", "resolved")
        api.ratings["SD-100003"] = {"score": 4}
        tr = make_tracker(text="5 stars for SD-100003", intent="rate_service")
        _, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_already"]
        assert api.ratings["SD-100003"] == {"score": 4}

    def test_not_resolved_yet(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100003", "open")
        tr = make_tracker(text="SD-100003 gets 4 stars", intent="rate_service")
        _, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_not_resolved"]

    def test_nothing_to_rate(self, with_api) -> None:
        tr = make_tracker(text="5 stars", intent="rate_service")
        _, dispatcher = run_with(with_api, ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_no_ticket"]

    def test_api_down_keeps_the_question_open(self, api_down) -> None:
        tr = make_tracker({"rating_ticket": "SD-100003"}, text="5", intent="rate_service")
        events, dispatcher = run(ActionRateTicket(), tr)
        assert responses(dispatcher) == ["utter_rating_failed"]
        assert SlotSet("rating_ticket", None) not in events
