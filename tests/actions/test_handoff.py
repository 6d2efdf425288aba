"""Asking for a human and complaining, with a real Tracker and CollectingDispatcher."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.handoff import ActionRequestHuman, ActionStartComplaint
from tests.actions.conftest import run_action, run_with_api
from tests.actions.fake_api import FakeDeskApi


def tracker(slots: dict[str, Any] | None = None, *, text: str = "转人工") -> Tracker:
    return Tracker(
        sender_id="customer-9",
        slots={"language": "zh", "requested_slot": None, **(slots or {})},
        latest_message={"text": text, "intent": {"name": "request_human"}, "entities": []},
        events=[
            {
                "event": "user",
                "text": "我的宽带断了",
                "timestamp": 1700000000.0,
                "input_channel": "rest",
                "metadata": {},
            },
            {"event": "bot", "text": "请留下手机号。", "timestamp": 1700000001.0},
            {
                "event": "user",
                "text": text,
                "timestamp": 1700000002.0,
                "input_channel": "rest",
                "metadata": {},
            },
        ],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


run = run_with_api


class TestRequestHuman:
    def test_without_a_ticket_one_is_opened_with_everything_and_escalated(
        self, api: FakeDeskApi, with_api
    ) -> None:
        events, dispatcher = run(
            with_api,
            ActionRequestHuman(),
            tracker({"problem_description": "我的宽带断了", "contact": "13800138000"}),
        )
        created, escalated = api.requests[0], api.requests[1]
        assert created["path"] == "/api/v1/tickets"
        assert created["json"]["description"] == "我的宽带断了"
        assert created["json"]["customer"]["phone"] == "13800138000"
        assert [line["body"] for line in created["json"]["transcript"]] == [
            "我的宽带断了",
            "请留下手机号。",
            "转人工",
        ]
        assert escalated["path"] == "/api/v1/tickets/SD-100001/escalate"
        assert escalated["json"]["source"] == "customer"
        message = dispatcher.messages[0]
        assert message["response"] == "utter_human_on_the_way"
        # Asked for a person before the form decided: the category model reads the
        # description ("my broadband is down") and the ticket goes to technical support.
        assert created["json"]["category"] == "technical_support"
        assert (message["ticket_number"], message["queue"]) == ("SD-100001", "技术支持")
        assert message["due_time"] == "2026-11-23 16:00"  # 08:00Z in Asia/Shanghai
        assert SlotSet("ticket_number", "SD-100001") in events

    def test_order_number_product_and_date_gathered_so_far_travel_with_the_ticket(
        self, api: FakeDeskApi, with_api
    ) -> None:
        run(
            with_api,
            ActionRequestHuman(),
            tracker(
                {
                    "problem_description": "耳机没声音",
                    "order_number": "DD2026112003",
                    "product": "耳机",
                    "incident_date": "2026-11-20",
                }
            ),
        )
        description = api.requests[0]["json"]["description"]
        assert description.startswith("耳机没声音\n\n")
        assert "DD2026112003" in description and "耳机" in description
        assert "2026-11-20" in description

    def test_the_escalated_ticket_comes_with_its_card(self, api: FakeDeskApi, with_api) -> None:
        _, dispatcher = run(with_api, ActionRequestHuman(), tracker({"problem_description": "x"}))
        [message] = dispatcher.messages
        assert message["response"] == "utter_human_on_the_way"
        assert message["custom"] == {"ticket": "SD-100001", "status": "escalated"}

    def test_the_conversations_ticket_is_escalated_with_the_transcript(
        self, api: FakeDeskApi, with_api
    ) -> None:
        run(with_api, ActionRequestHuman(), tracker({"problem_description": "x"}))
        api.requests.clear()
        run(with_api, ActionRequestHuman(), tracker({"ticket_number": "SD-100001"}))
        assert [r["path"] for r in api.requests] == ["/api/v1/tickets/SD-100001/escalate"]
        assert len(api.requests[0]["json"]["transcript"]) == 3

    def test_a_resolved_ticket_gets_a_new_one(self, api: FakeDeskApi, with_api) -> None:
        run(with_api, ActionRequestHuman(), tracker({"problem_description": "x"}))
        api.tickets["SD-100001"]["status"] = "resolved"
        events, _ = run(with_api, ActionRequestHuman(), tracker({"ticket_number": "SD-100001"}))
        assert SlotSet("ticket_number", "SD-100002") in events

    def test_an_outage_gets_an_honest_answer(self, api_down) -> None:
        events, dispatcher = run_action(ActionRequestHuman(), tracker())
        assert events == []
        assert dispatcher.messages[0]["response"] == "utter_human_unavailable"


class TestComplaint:
    def test_apology_first_then_the_complaints_category(self) -> None:
        events, dispatcher = run_action(ActionStartComplaint(), tracker(text="我要投诉"))
        assert dispatcher.messages[0]["response"] == "utter_complaint_heard"
        assert events == [SlotSet("category", "complaints")]
