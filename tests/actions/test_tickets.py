"""Ticket actions with a real Tracker and CollectingDispatcher against the fake API."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.desk_api import turn_budget
from actions.tickets import (
    ActionCheckProfile,
    ActionCreateTicket,
    ActionTicketStatus,
    ValidateTicketForm,
    ValidateTicketStatusForm,
)
from tests.actions.conftest import run_action
from tests.actions.conversation import connector_id, user_event
from tests.actions.fake_api import FakeDeskApi

DOMAIN: dict[str, Any] = {
    "forms": {
        "ticket_form": {"required_slots": ["problem_description", "contact"]},
        "ticket_status_form": {"required_slots": ["ticket_number"]},
    },
    "slots": {},
}


def tracker(
    slots: dict[str, Any] | None = None,
    *,
    text: str = "",
    sender: str = "customer-1",
    channel: str = "rest",
    active_loop: str | None = None,
    metadata: dict[str, Any] | None = None,
    message_id: str | None = None,
    timestamp: float = 1700000000.0,
) -> Tracker:
    events = [
        {"event": "action", "name": "action_session_start"},
        {
            "event": "user",
            "text": text,
            "timestamp": timestamp,
            "message_id": message_id,
            "input_channel": channel,
            "parse_data": {"intent": {"name": "report_problem"}, "entities": []},
            "metadata": metadata or {},
        },
    ]
    return Tracker(
        sender_id=connector_id(channel, sender),
        slots={"language": "en", "requested_slot": None, **(slots or {})},
        latest_message={"text": text, "intent": {"name": "report_problem"}, "entities": []},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def run_with_api(with_api, action: Any, tr: Tracker) -> tuple[list[Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()

    async def scenario():
        return await action.run(dispatcher, tr, DOMAIN)

    return with_api(scenario), dispatcher


class TestActionCreateTicket:
    def test_creates_ticket_and_answers_with_number(self, api: FakeDeskApi, with_api) -> None:
        tr = tracker(
            {
                "problem_description": "我的宽带从昨天开始就连不上了",
                "contact": "13800138000",
                "category": "technical_support",
                "language": "zh",
            },
            text="13800138000",
        )
        events, dispatcher = run_with_api(with_api, ActionCreateTicket(), tr)

        assert dispatcher.messages[0]["response"] == "utter_ticket_created"
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        # 08:00 UTC is 16:00 in Shanghai.
        assert dispatcher.messages[0]["due_time"] == "2026-11-23 16:00"
        assert SlotSet("ticket_number", "SD-100001") in events
        assert SlotSet("problem_description", None) in events
        body = api.requests[0]["json"]
        assert body["description"] == "我的宽带从昨天开始就连不上了"
        assert body["language"] == "zh" and body["category"] == "technical_support"
        assert body["customer"]["phone"] == "13800138000" and body["customer"]["email"] is None
        assert body["transcript"] == [{"author_type": "customer", "body": "13800138000"}]

    def test_email_contact_goes_to_email(self, api: FakeDeskApi, with_api) -> None:
        tr = tracker({"problem_description": "refund missing", "contact": "a@b.com"})
        run_with_api(with_api, ActionCreateTicket(), tr)
        customer = api.requests[0]["json"]["customer"]
        assert customer["email"] == "a@b.com" and customer["phone"] is None

    def test_running_twice_for_one_turn_makes_one_ticket(self, api: FakeDeskApi, with_api) -> None:
        tr = tracker({"problem_description": "router broken", "contact": "a@b.com"})
        run_with_api(with_api, ActionCreateTicket(), tr)
        _, dispatcher = run_with_api(with_api, ActionCreateTicket(), tr)
        assert len(api.tickets) == 1
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"

    def test_a_message_answered_again_on_another_instance_makes_one_ticket(
        self, api: FakeDeskApi, with_api
    ) -> None:
        slots = {"problem_description": "router broken", "contact": "a@b.com"}
        # The instance that ran the first turn died before saving it; the widget sent the
        # message again (same id), another instance received it later.
        first = tracker(slots, message_id="web-m-1", timestamp=1700000000.0)
        again = tracker(slots, message_id="web-m-1", timestamp=1700000021.5)
        run_with_api(with_api, ActionCreateTicket(), first)
        _, dispatcher = run_with_api(with_api, ActionCreateTicket(), again)
        assert len(api.tickets) == 1
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        # Another message with the same words is another request.
        run_with_api(with_api, ActionCreateTicket(), tracker(slots, message_id="web-m-2"))
        assert len(api.tickets) == 2

    def test_api_down_apologises_and_keeps_the_collected_slots(self, api_down) -> None:
        tr = tracker({"problem_description": "router broken", "contact": "a@b.com"})
        events, dispatcher = run_action(ActionCreateTicket(), tr)
        assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_created"]
        assert events == []


class TestActionTicketStatus:
    def test_answers_with_the_real_status(self, api: FakeDeskApi, with_api) -> None:
        api.tickets["SD-100001"] = {
            "number": "SD-100001",
            "status": "pending",
            "priority": "normal",
            "queue": "billing",
            "category": "billing",
            "first_response_due_at": "2026-11-23T08:00:00Z",
        }
        events, dispatcher = run_with_api(
            with_api, ActionTicketStatus(), tracker({"ticket_number": "sd100001"})
        )
        assert dispatcher.messages[0]["response"] == "utter_ticket_status_pending"
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert api.requests[0]["path"] == "/api/v1/tickets/SD-100001"
        assert events == []

    def test_unknown_number_says_so_and_forgets_it(self, with_api) -> None:
        events, dispatcher = run_with_api(
            with_api, ActionTicketStatus(), tracker({"ticket_number": "SD-999999"})
        )
        assert dispatcher.messages[0]["response"] == "utter_ticket_not_found"
        assert dispatcher.messages[0]["ticket_number"] == "SD-999999"
        assert events == [SlotSet("ticket_number", None)]

    def test_api_down_says_the_lookup_failed(self, api_down) -> None:
        _, dispatcher = run_action(ActionTicketStatus(), tracker({"ticket_number": "SD-100001"}))
        assert dispatcher.messages[0]["response"] == "utter_ticket_lookup_failed"


class TestTicketCards:
    """The number and status go to the channel as data beside the text (``custom``)."""

    def test_a_created_ticket_comes_with_its_card(self, api: FakeDeskApi, with_api) -> None:
        tr = tracker({"problem_description": "router broken", "contact": "a@b.com"})
        _, dispatcher = run_with_api(with_api, ActionCreateTicket(), tr)
        [created] = [m for m in dispatcher.messages if m["response"] == "utter_ticket_created"]
        assert created["custom"] == {"ticket": "SD-100001", "status": "new"}

    def test_a_status_answer_comes_with_the_tickets_card(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100007", "escalated")
        _, dispatcher = run_with_api(
            with_api, ActionTicketStatus(), tracker({"ticket_number": "SD-100007"})
        )
        [answer] = dispatcher.messages
        assert answer["response"] == "utter_ticket_status_escalated"
        assert answer["custom"] == {"ticket": "SD-100007", "status": "escalated"}

    def test_no_card_without_a_ticket(self, with_api) -> None:
        _, unknown = run_with_api(
            with_api, ActionTicketStatus(), tracker({"ticket_number": "SD-999999"})
        )
        assert unknown.messages[0]["response"] == "utter_ticket_not_found"
        assert unknown.messages[0]["custom"] == {}


class TestActionCheckProfile:
    def test_known_customer_with_contact(self, api: FakeDeskApi, with_api) -> None:
        api.customers[("web", "c9")] = {"id": 7, "has_phone": True, "has_email": False}
        events, _ = run_with_api(
            with_api, ActionCheckProfile(), tracker(sender="c9", channel="socketio")
        )
        assert events == [SlotSet("contact_on_file", True)]
        assert api.requests[0]["query"] == {"channel": "web", "external_id": "c9"}

    def test_new_customer_has_no_contact(self, with_api) -> None:
        events, _ = run_with_api(with_api, ActionCheckProfile(), tracker())
        assert events == [SlotSet("contact_on_file", False)]

    def test_api_down_asks_for_contact(self, api_down) -> None:
        events, _ = run_action(ActionCheckProfile(), tracker())
        assert events == [SlotSet("contact_on_file", False)]


class TestValidateTicketForm:
    def test_contact_on_file_skips_the_contact_question(self) -> None:
        import asyncio

        slots = asyncio.run(
            ValidateTicketForm().required_slots(
                ["problem_description", "contact"],
                CollectingDispatcher(),
                tracker({"contact_on_file": True}),
                DOMAIN,
            )
        )
        assert slots == ["problem_description"]

    def test_valid_phone_is_normalised(self) -> None:
        dispatcher = CollectingDispatcher()
        result = ValidateTicketForm().validate_contact(
            "call me on 139 1234 5678", dispatcher, tracker(), DOMAIN
        )
        assert result == {"contact": "13912345678"} and dispatcher.messages == []

    def test_invalid_contact_is_refused_with_a_hint(self) -> None:
        dispatcher = CollectingDispatcher()
        result = ValidateTicketForm().validate_contact("12345", dispatcher, tracker(), DOMAIN)
        assert result == {"contact": None}
        assert dispatcher.messages[0]["response"] == "utter_invalid_contact"

    def test_description_is_trimmed(self) -> None:
        result = ValidateTicketForm().validate_problem_description(
            "  x" * 3000, CollectingDispatcher(), tracker(), DOMAIN
        )
        assert len(result["problem_description"]) == 4000

    def test_blank_description_is_asked_again(self) -> None:
        result = ValidateTicketForm().validate_problem_description(
            "   ", CollectingDispatcher(), tracker(), DOMAIN
        )
        assert result == {"problem_description": None}


class TestValidateTicketStatusForm:
    def test_canonical_number(self) -> None:
        result = ValidateTicketStatusForm().validate_ticket_number(
            "sd 100007 进度", CollectingDispatcher(), tracker(), DOMAIN
        )
        assert result == {"ticket_number": "SD-100007"}

    def test_bad_number(self) -> None:
        dispatcher = CollectingDispatcher()
        result = ValidateTicketStatusForm().validate_ticket_number(
            "12", dispatcher, tracker(), DOMAIN
        )
        assert result == {"ticket_number": None}
        assert dispatcher.messages[0]["response"] == "utter_invalid_ticket_number"


class TestVoiceCallers:
    def test_the_caller_number_is_the_verified_contact(self, api: FakeDeskApi, with_api) -> None:
        from actions.tickets import ActionCheckProfile, ActionCreateTicket

        call = tracker(
            {"problem_description": "宽带断了", "language": "zh"},
            text="宽带断了",
            sender="call-7",
            channel="voice",
            metadata={"caller_number": "+8613912345678", "transcript": True},
        )
        events, _ = run_with_api(with_api, ActionCheckProfile(), call)
        assert events == [SlotSet("contact_on_file", True)]  # no need to ask for a number
        run_with_api(with_api, ActionCreateTicket(), call)
        customer = api.requests[-1]["json"]["customer"]
        assert (customer["channel"], customer["external_id"]) == ("voice", "call-7")
        assert (customer["phone"], customer["contact_verified"]) == ("+8613912345678", True)

    def test_a_typed_contact_is_not_verified(self, api: FakeDeskApi, with_api) -> None:
        from actions.tickets import ActionCreateTicket

        chat = tracker({"problem_description": "router broken", "contact": "13800138000"})
        run_with_api(with_api, ActionCreateTicket(), chat)
        assert api.requests[-1]["json"]["customer"]["contact_verified"] is False


class TestOrderNumberAndDetails:
    def test_order_number_is_asked_only_for_orders_and_bills(self) -> None:
        import asyncio

        slots = ["problem_description", "order_number", "contact"]

        def required(category: str | None) -> list[str]:
            return asyncio.run(
                ValidateTicketForm().required_slots(
                    slots, CollectingDispatcher(), tracker({"category": category}), DOMAIN
                )
            )

        assert required("after_sales") == slots
        assert required("billing") == slots
        assert required("technical_support") == ["problem_description", "contact"]
        assert required(None) == ["problem_description", "contact"]

    def test_order_number_forms(self) -> None:
        form = ValidateTicketForm()
        for said, stored in (
            ("dd 2026112001", "DD2026112001"),
            ("订单号是202611180045771", "202611180045771"),
        ):
            dispatcher = CollectingDispatcher()
            assert form.validate_order_number(said, dispatcher, tracker(), DOMAIN) == {
                "order_number": stored
            }
            assert dispatcher.messages == []

    def test_a_no_means_there_is_none_and_gibberish_is_asked_again(self) -> None:
        form = ValidateTicketForm()
        no = tracker(text="没有")
        no.latest_message["intent"] = {"name": "deny"}
        assert form.validate_order_number("没有", CollectingDispatcher(), no, DOMAIN) == {
            "order_number": "none"
        }
        dispatcher = CollectingDispatcher()
        assert form.validate_order_number("12345", dispatcher, tracker(), DOMAIN) == {
            "order_number": None
        }
        assert dispatcher.messages[0]["response"] == "utter_invalid_order_number"

    def test_order_product_and_date_go_into_the_description(
        self, api: FakeDeskApi, with_api, monkeypatch
    ) -> None:
        from datetime import date

        import actions.tickets as tickets_module

        monkeypatch.setattr(
            tickets_module, "local_today", lambda settings, at=None: date(2026, 11, 28)
        )
        tr = tracker(
            {
                "problem_description": "昨天收到的破壁机漏水",
                "contact": "13800138000",
                "category": "after_sales",
                "order_number": "DD2026112045",
                "product": "破壁机",
                "incident_date": "昨天",
                "language": "zh",
            },
            text="13800138000",
        )
        events, _ = run_with_api(with_api, ActionCreateTicket(), tr)
        assert api.requests[0]["json"]["description"] == (
            "昨天收到的破壁机漏水\n\n订单号: DD2026112045\n商品: 破壁机\n发生日期: 2026-11-27"
        )
        assert SlotSet("order_number", None) in events and SlotSet("product", None) in events

    def test_none_is_not_an_order_number(self, api: FakeDeskApi, with_api) -> None:
        tr = tracker(
            {
                "problem_description": "refund missing",
                "contact": "a@b.com",
                "order_number": "none",
                "category": "billing",
            }
        )
        run_with_api(with_api, ActionCreateTicket(), tr)
        assert api.requests[0]["json"]["description"] == "refund missing"


def conversation(slots: dict[str, Any], events: list[dict[str, Any]]) -> Tracker:
    """A rest conversation of customer-1 with these events and slots."""
    return Tracker(
        sender_id=connector_id("rest", "customer-1"),
        slots={"language": "en", "requested_slot": None, **slots},
        latest_message=events[-1].get("parse_data", {}),
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


REPORT = {"problem_description": "router broken", "contact": "13800138000"}
FORM_FILLED = [
    {"event": "action", "name": "action_session_start"},
    user_event("my router is broken", "report_problem", timestamp=1700000000.0),
    {"event": "slot", "name": "language", "value": "en"},
    {"event": "slot", "name": "problem_description", "value": "router broken"},
    {"event": "bot", "text": "What's a phone number or e-mail we can reach you on?"},
    user_event("13800138000", "inform", timestamp=1700000010.0),
    {"event": "slot", "name": "contact", "value": "13800138000"},
]


def unanswered_then(*later: dict[str, Any]) -> list[dict[str, Any]]:
    """The form filled, a creation that got no answer, then ``later`` events."""
    return [
        *FORM_FILLED,
        {"event": "action", "name": "action_create_ticket"},
        {"event": "bot", "text": "the ticketing system can't be reached right now"},
        {"event": "action", "name": "action_listen"},
        *later,
    ]


def create_within(
    with_api: Any, tr: Tracker, budget: float
) -> tuple[list[Any], CollectingDispatcher]:
    """Run action_create_ticket as the action server does: within a turn's budget."""
    dispatcher = CollectingDispatcher()

    async def scenario() -> list[Any]:
        with turn_budget(budget):
            return await ActionCreateTicket().run(dispatcher, tr, DOMAIN)

    return with_api(scenario), dispatcher


class TestTicketThatLandsLate:
    """A creation answered after the turn's budget still lands; asking again finds it."""

    def test_asking_again_gets_the_late_ticket_not_a_second_one(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.create_answer_delay = 1.5
        events, dispatcher = create_within(with_api, conversation(REPORT, FORM_FILLED), 0.5)
        # Honest within the budget: not created as far as the bot knows, slots kept.
        assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_created"]
        assert events == []
        assert list(api.tickets) == ["SD-100001"]  # it landed after the answer

        api.create_answer_delay = 0
        retry = conversation(
            REPORT,
            unanswered_then(user_event("please try again", "affirm", timestamp=1700000300.0)),
        )
        events, dispatcher = create_within(with_api, retry, 3.5)

        assert list(api.tickets) == ["SD-100001"]
        assert dispatcher.messages[0]["response"] == "utter_ticket_created"
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert SlotSet("ticket_number", "SD-100001") in events
        first, second = (r for r in api.requests if r["path"] == "/api/v1/tickets")
        assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
        # The same request as the first time: the transcript stops where it stopped then.
        assert first["json"] == second["json"]
        assert "please try again" not in str(second["json"])

    def test_an_api_that_was_down_gets_the_report_on_the_retry(
        self, api: FakeDeskApi, with_api, api_down
    ) -> None:
        _, dispatcher = run_action(ActionCreateTicket(), conversation(REPORT, FORM_FILLED))
        assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_created"]

        retry = conversation(
            {**REPORT, "language": "zh"},
            unanswered_then(
                user_event("再试一次", "affirm", timestamp=1700000300.0),
                {"event": "slot", "name": "language", "value": "zh"},
            ),
        )
        _, dispatcher = create_within(with_api, retry, 3.5)
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        # The report as it was sent first: in the language it was made in.
        assert api.requests[0]["json"]["language"] == "en"

    def test_the_report_told_again_in_other_words_finds_it_and_adds_the_words(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.create_answer_delay = 1.5
        create_within(with_api, conversation(REPORT, FORM_FILLED), 0.5)
        api.create_answer_delay = 0
        retold = {**REPORT, "problem_description": "the router still shows a red light"}
        retry = conversation(
            retold,
            unanswered_then(
                user_event(retold["problem_description"], "report_problem", timestamp=17e8 + 300),
                {"event": "slot", "name": "problem_description", "value": "the router still"},
                {
                    "event": "slot",
                    "name": "problem_description",
                    "value": retold["problem_description"],
                },
            ),
        )
        _, dispatcher = create_within(with_api, retry, 3.5)
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert len(api.tickets) == 1
        [added] = [r for r in api.requests if r["path"] == "/api/v1/tickets/SD-100001/messages"]
        assert added["json"]["body"] == retold["problem_description"]

    def test_after_starting_over_a_report_is_a_new_one(self, api: FakeDeskApi, with_api) -> None:
        api.create_answer_delay = 1.5
        create_within(with_api, conversation(REPORT, FORM_FILLED), 0.5)
        api.create_answer_delay = 0
        restarted = unanswered_then(
            {"event": "restart"},
            user_event("my router is broken", "report_problem", timestamp=1700000900.0),
            {"event": "slot", "name": "problem_description", "value": "router broken"},
            {"event": "slot", "name": "contact", "value": "13800138000"},
        )
        _, dispatcher = create_within(with_api, conversation(REPORT, restarted), 3.5)
        assert dispatcher.messages[0]["ticket_number"] == "SD-100002"

    def test_the_same_words_after_a_ticket_was_created_open_a_new_one(
        self, api: FakeDeskApi, with_api
    ) -> None:
        create_within(with_api, conversation(REPORT, FORM_FILLED), 3.5)
        again = [
            *FORM_FILLED,
            {"event": "action", "name": "action_create_ticket"},
            {"event": "bot", "text": "Your ticket SD-100001 is open."},
            {"event": "slot", "name": "ticket_number", "value": "SD-100001"},
            {"event": "slot", "name": "problem_description", "value": None},
            {"event": "action", "name": "action_listen"},
            user_event("my router is broken again", "report_problem", timestamp=1700000900.0),
            {"event": "slot", "name": "problem_description", "value": "router broken"},
        ]
        _, dispatcher = create_within(with_api, conversation(REPORT, again), 3.5)
        assert dispatcher.messages[0]["ticket_number"] == "SD-100002"
