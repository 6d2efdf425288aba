"""The ticket's category in the ticket form, with a real Tracker and CollectingDispatcher:
decided from the description, complaints by rule, asked only when the model is unsure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.categories import (
    MODEL_PATH_ENV,
    CategoryModel,
    category_model,
    load_model,
    save_model,
)
from actions.ticket_category import picked_category, request_words
from actions.tickets import ActionAskTicketCategory, ActionCreateTicket, ValidateTicketForm
from tests.actions.conversation import connector_id
from tests.actions.fake_api import FakeDeskApi

REQUIRED = ["problem_description", "ticket_category", "order_number", "contact"]
DOMAIN: dict[str, Any] = {
    "forms": {"ticket_form": {"required_slots": REQUIRED}},
    "slots": {},
}


def form_turn(
    text: str,
    *,
    slots: dict[str, Any] | None = None,
    filled: dict[str, Any] | None = None,
    requested: str | None = None,
    language: str = "en",
    intent: str = "report_problem",
    earlier_answers: int = 0,
) -> Tracker:
    """The ticket form's turn after the customer said ``text``: ``filled`` are the slots
    Rasa's mappings just extracted from it (what the validation judges), ``requested`` the
    slot the form had asked for (answered ``earlier_answers`` times before)."""
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_session_start"},
        {"event": "active_loop", "name": "ticket_form"},
    ]
    if requested:
        events.append({"event": "slot", "name": "requested_slot", "value": requested})
    for index in range(earlier_answers):
        events += [
            {
                "event": "user",
                "text": f"answer {index}",
                "timestamp": 1700000000.0 + index,
                "input_channel": "rest",
                "parse_data": {"intent": {"name": intent}},
            },
            {"event": "action", "name": "ticket_form"},
        ]
    events.append(
        {
            "event": "user",
            "text": text,
            "timestamp": 1700000100.0,
            "input_channel": "rest",
            "parse_data": {"intent": {"name": intent}, "entities": []},
            "metadata": {},
        }
    )
    events += [{"event": "slot", "name": k, "value": v} for k, v in (filled or {}).items()]
    return Tracker(
        sender_id=connector_id("rest", "customer-7"),
        slots={
            "language": language,
            "requested_slot": requested,
            "contact_on_file": False,
            **(slots or {}),
            **(filled or {}),
        },
        latest_message={"text": text, "intent": {"name": intent}, "entities": []},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": "ticket_form"},
        latest_action_name="action_listen",
    )


def validate(tracker: Tracker) -> tuple[list[Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ValidateTicketForm().run(dispatcher, tracker, DOMAIN))
    return events, dispatcher


@pytest.fixture
def unsure_model(
    category_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CategoryModel:
    """The same model with a threshold no guess reaches: the form always has to ask."""
    model = load_model(category_model_file)
    unsure = CategoryModel(model.pipeline, threshold=1.01, trained_on=model.trained_on)
    save_model(unsure, tmp_path / "unsure.pkl")
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "unsure.pkl"))
    category_model.cache_clear()
    return unsure


class TestDecidedFromTheDescription:
    def test_a_clear_description_is_routed_without_a_question(self) -> None:
        description = "wifi keeps dropping every few minutes since the storm"
        tracker = form_turn(description, filled={"problem_description": description})
        events, dispatcher = validate(tracker)
        assert SlotSet("ticket_category", "technical_support") in events
        # Technical support needs no order number: the contact comes next.
        assert SlotSet("requested_slot", "contact") in events
        assert dispatcher.messages == []

    def test_the_whole_long_description_counts_not_its_first_words(self) -> None:
        description = (
            "我上个月在你们这买了一台路由器，快递很快，包装也挺好，用着也没问题，"
            "就是这个月信用卡上被扣了两次一样的钱"
        )
        tracker = form_turn(description, filled={"problem_description": description}, language="zh")
        events, dispatcher = validate(tracker)
        assert SlotSet("ticket_category", "billing") in events
        # A bill: the order number is asked next (Rasa's form picks it: the required
        # slots are the domain's, the first empty one after the category).
        required = asyncio.run(
            ValidateTicketForm().required_slots(REQUIRED, dispatcher, tracker, DOMAIN)
        )
        assert required == REQUIRED

    def test_a_traditional_script_description(self) -> None:
        description = "帳號被盜了，有人用我的帳號下單"
        events, _ = validate(
            form_turn(description, filled={"problem_description": description}, language="zh")
        )
        assert SlotSet("ticket_category", "account_security") in events

    def test_the_nlu_category_word_does_not_override_the_model(self) -> None:
        description = "the delivery of my new router was fine but now my internet won't connect"
        events, _ = validate(
            form_turn(
                description,
                filled={"problem_description": description, "category": "after_sales"},
            )
        )
        assert SlotSet("ticket_category", "technical_support") in events


class TestTheWholeRequest:
    def test_an_faq_message_before_the_description_counts(self) -> None:
        # "It broke, I want to return it" got the returns FAQ; "no, it trips the
        # breaker, deal with it" alone reads like a complaint, with the first like a repair.
        tracker = form_turn(
            "不是问怎么退，水壶一插电就跳闸，你们得处理一下",
            filled={"problem_description": "不是问怎么退，水壶一插电就跳闸，你们得处理一下"},
            language="zh",
        )
        tracker.events.insert(
            1,
            {
                "event": "user",
                "text": "我买的电水壶坏了，想退货",
                "timestamp": 1699999999.0,
                "input_channel": "rest",
                "parse_data": {"intent": {"name": "faq"}},
            },
        )
        tracker.events.insert(
            1,
            {  # an earlier, finished request does not count
                "event": "user",
                "text": "the courier was rude",
                "timestamp": 1699999990.0,
                "input_channel": "rest",
                "parse_data": {"intent": {"name": "complain"}},
            },
        )
        tracker.events.insert(2, {"event": "action", "name": "action_create_ticket"})
        assert request_words(tracker) == (
            "我买的电水壶坏了，想退货 不是问怎么退，水壶一插电就跳闸，你们得处理一下"
        )
        events, _ = validate(tracker)
        assert SlotSet("ticket_category", "after_sales") in events

    def test_a_button_payload_is_not_the_description(self) -> None:
        said = "The blender I bought arrived with a cracked jug. I'd like a replacement"
        tracker = form_turn("/report_problem", filled={"problem_description": "/report_problem"})
        tracker.events.insert(
            1,
            {
                "event": "user",
                "text": said,
                "timestamp": 1699999999.0,
                "input_channel": "rest",
                "parse_data": {"intent": {"name": "nlu_fallback"}},
            },
        )
        events, _ = validate(tracker)
        assert SlotSet("problem_description", said) in events
        assert SlotSet("ticket_category", "after_sales") in events


class TestComplaintsAlwaysReachTheComplaintsTeam:
    @pytest.mark.parametrize(
        ("description", "language"),
        [
            ("the courier threw my parcel over the gate and swore at me", "en"),
            ("you promised a refund last week and it still hasn't come", "en"),
            ("快递员态度恶劣，东西直接扔在门口", "zh"),
            ("說好會回電，結果一個禮拜都沒有人打給我", "zh"),
        ],
    )
    def test_staff_couriers_and_broken_promises(
        self, description: str, language: str, unsure_model: CategoryModel
    ) -> None:
        # Even a model that would ask routes these straight to complaints.
        events, dispatcher = validate(
            form_turn(description, filled={"problem_description": description}, language=language)
        )
        assert SlotSet("ticket_category", "complaints") in events
        assert dispatcher.messages == []

    def test_a_conversation_begun_as_a_complaint(self) -> None:
        description = "my parcel is two weeks late"
        events, _ = validate(
            form_turn(
                description,
                slots={"category": "complaints"},
                filled={"problem_description": description},
                intent="complain",
            )
        )
        assert SlotSet("ticket_category", "complaints") in events

    def test_the_ticket_goes_to_the_api_as_a_complaint(self, api: FakeDeskApi, with_api) -> None:
        tracker = form_turn(
            "13800138000",
            slots={
                "problem_description": "the installer shouted at my mother",
                "ticket_category": "complaints",
                "contact": "13800138000",
            },
        )

        async def scenario() -> list[Any]:
            return await ActionCreateTicket().run(CollectingDispatcher(), tracker, DOMAIN)

        events = with_api(scenario)
        assert api.requests[0]["json"]["category"] == "complaints"
        assert SlotSet("ticket_category", None) in events


class TestAskedOnlyWhenUnsure:
    def test_unsure_leaves_the_category_to_ask(self, unsure_model: CategoryModel) -> None:
        description = "there is something wrong with it"
        events, _ = validate(form_turn(description, filled={"problem_description": description}))
        assert not any(e.get("name") == "ticket_category" for e in events)
        assert SlotSet("requested_slot", "ticket_category") in events

    def test_the_question_offers_the_likeliest_and_something_else(
        self, unsure_model: CategoryModel
    ) -> None:
        tracker = form_turn(
            "嗯",
            slots={"problem_description": "这个东西有点问题，麻烦看一下"},
            requested="ticket_category",
            language="zh",
        )
        dispatcher = CollectingDispatcher()
        assert asyncio.run(ActionAskTicketCategory().run(dispatcher, tracker, DOMAIN)) == []
        [message] = dispatcher.messages
        assert message["response"] == "utter_ask_ticket_category"
        titles = [b["title"] for b in message["buttons"]]
        assert len(titles) in (3, 4) and "其他事项" in titles
        assert all(b["payload"] == b["title"] for b in message["buttons"])
        labels = {
            "technical_support": "网络、设备或 App 故障",
            "after_sales": "订单、配送、退换货或维修",
            "billing": "账单、扣费或发票",
            "account_security": "账号登录或安全",
            "complaints": "投诉服务或人员",
            "general": "其他事项",
        }
        likeliest = unsure_model.guess("这个东西有点问题，麻烦看一下").top(3)
        assert titles[:3] == [labels[c] for c in likeliest]

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [
            ("Bill, charge or invoice", "billing"),  # the English button
            ("账单、扣费或发票", "billing"),  # the Chinese button
            ("帳單、扣費或發票", "billing"),  # the button as a Traditional channel shows it
            ("it's about my password", "account_security"),
            ("嗯，这个嘛", None),  # words no category lists: read with the description
            ("something else", "general"),
        ],
    )
    def test_a_typed_or_pressed_answer(
        self, answer: str, expected: str | None, unsure_model: CategoryModel
    ) -> None:
        tracker = form_turn(
            answer,
            slots={"problem_description": "there is a problem"},
            filled={"ticket_category": answer},
            requested="ticket_category",
        )
        events, _ = validate(tracker)
        if expected:
            assert SlotSet("ticket_category", expected) in events
        else:
            # An unsure model cannot place it: asked once more, never a third time.
            assert SlotSet("ticket_category", None) in events

    def test_a_number_picks_that_choice(self, unsure_model: CategoryModel) -> None:
        description = "it doesn't work and I want my money"
        second = unsure_model.guess(description).top(3)[1]
        tracker = form_turn(
            "2",
            slots={"problem_description": description},
            filled={"ticket_category": "2"},
            requested="ticket_category",
        )
        events, _ = validate(tracker)
        assert SlotSet("ticket_category", second) in events

    def test_more_words_decide_when_they_make_it_clear(self, category_model_file: Path) -> None:
        # A confident model: the customer's extra words settle it without a pick.
        tracker = form_turn(
            "someone logged into my account from another country and changed my password",
            slots={"problem_description": "there is a problem"},
            filled={
                "ticket_category": "someone logged into my account from another country "
                "and changed my password"
            },
            requested="ticket_category",
        )
        events, _ = validate(tracker)
        assert SlotSet("ticket_category", "account_security") in events

    def test_never_asked_a_third_time(self, unsure_model: CategoryModel) -> None:
        description = "there is a problem"
        first = form_turn(
            "hmm",
            slots={"problem_description": description},
            filled={"ticket_category": "hmm"},
            requested="ticket_category",
        )
        events, dispatcher = validate(first)
        assert SlotSet("ticket_category", None) in events
        assert dispatcher.messages[0]["response"] == "utter_ticket_category_not_understood"

        second = form_turn(
            "hmm",
            slots={"problem_description": description},
            filled={"ticket_category": "hmm"},
            requested="ticket_category",
            earlier_answers=1,
        )
        events, dispatcher = validate(second)
        likeliest = unsure_model.guess(f"{description} hmm").category
        assert SlotSet("ticket_category", likeliest) in events
        assert dispatcher.messages == []


class TestPickedCategory:
    CHOICES: ClassVar[list[str]] = ["billing", "after_sales", "technical_support", "general"]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1", "billing"),
            ("第二个", "after_sales"),
            ("the third one", "technical_support"),
            ("4", "general"),
            ("投诉", "complaints"),
            ("Billing", "billing"),
            ("帳號", "account_security"),
            ("happy", None),  # "app" only as a whole word
            ("billing or delivery", None),  # two categories: not a pick
            ("", None),
        ],
    )
    def test_picks(self, text: str, expected: str | None) -> None:
        assert picked_category(text, self.CHOICES) == expected
