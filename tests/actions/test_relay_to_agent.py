"""Relaying between customer and agent, with a real Tracker and CollectingDispatcher."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.relay_to_agent import ActionRelayToAgent
from tests.actions.conftest import run_action, run_with_api
from tests.actions.fake_api import FakeDeskApi

NUMBER = "SD-100001"


def tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "我刚重启了路由器，还是不行",
    intent: str = "report_problem",
    entities: list[dict[str, Any]] | None = None,
) -> Tracker:
    return Tracker(
        sender_id="web:widget-session-7",  # as the widget connector names it
        slots={"language": "zh", "handoff_ticket": NUMBER, **(slots or {})},
        latest_message={"text": text, "intent": {"name": intent}, "entities": entities or []},
        events=[
            {
                "event": "user",
                "text": text,
                "timestamp": 1700000002.0,
                "input_channel": "socketio",
                "metadata": {},
            }
        ],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def waiting_ticket(
    api: FakeDeskApi, *, position: int | None = 3, status: str = "escalated"
) -> None:
    api.tickets[NUMBER] = {
        "number": NUMBER,
        "status": status,
        "priority": "high",
        "queue": "technical_support",
        "category": "technical_support",
        "channel": "web",
        "customer_id": 1,
        "queue_names": {"en": "Technical support", "zh": "技术支持"},
        "position": position,
        "assignee": None if position else "Wang Fang",
    }


run = run_with_api


class TestRelayToAgent:
    def test_a_waiting_customer_hears_their_place_and_the_agent_gets_the_words(
        self, api: FakeDeskApi, with_api
    ) -> None:
        waiting_ticket(api, position=3)
        events, dispatcher = run(with_api, ActionRelayToAgent(), tracker())
        posted = [r for r in api.requests if r["method"] == "POST"]
        assert [r["path"] for r in posted] == [f"/api/v1/tickets/{NUMBER}/messages"]
        assert posted[0]["json"] == {
            "body": "我刚重启了路由器，还是不行",
            "author_type": "customer",
        }
        # Scoped to this conversation, like every call of the bot.
        assert posted[0]["headers"]["X-Desk-Channel"] == "web"
        assert posted[0]["headers"]["X-Desk-Sender"] == "widget-session-7"
        [message] = dispatcher.messages
        assert message["response"] == "utter_queue_position"
        assert (message["position"], message["queue"]) == (3, "技术支持")
        assert events == [SlotSet("pending_relay", None)]

    def test_while_an_agent_holds_it_the_bot_stays_quiet(self, api: FakeDeskApi, with_api) -> None:
        waiting_ticket(api, position=None, status="open")
        _events, dispatcher = run(with_api, ActionRelayToAgent(), tracker(text="thanks, trying"))
        assert dispatcher.messages == []
        assert api.messages[NUMBER][0]["body"] == "thanks, trying"

    def test_an_outage_keeps_the_message_and_says_so(self, api_down) -> None:
        events, dispatcher = run_action(ActionRelayToAgent(), tracker(text="hello?"))
        assert dispatcher.messages[0]["response"] == "utter_relay_kept"
        assert events == [SlotSet("pending_relay", ["hello?"])]

    def test_kept_messages_go_first_once_the_desk_is_back(self, api: FakeDeskApi, with_api) -> None:
        waiting_ticket(api, position=None, status="open")
        run(
            with_api, ActionRelayToAgent(), tracker({"pending_relay": ["one", "two"]}, text="three")
        )
        assert [m["body"] for m in api.messages[NUMBER]] == ["one", "two", "three"]

    def test_a_closed_ticket_ends_the_handoff(self, api: FakeDeskApi, with_api) -> None:
        waiting_ticket(api, status="closed")
        events, dispatcher = run(with_api, ActionRelayToAgent(), tracker())
        assert dispatcher.messages[0]["response"] == "utter_handoff_over"
        assert SlotSet("handoff_ticket", None) in events
