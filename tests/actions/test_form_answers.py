"""No question is asked a third time, and an answer is an answer.

Every slot of every form gets two unusable answers in Chinese and in English, fed turn
by turn to the form's validation action the way Rasa's FormAction hands them over (a
real Tracker with the loop, the requested slot and the slot candidate; a real
CollectingDispatcher). After the second the slot must be settled: kept as written,
taken as "none", or marked unknown for the next action to move on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import NO_CONTACT, NO_ORDER_NUMBER, UNKNOWN_TICKET
from actions.form_answers import answers_question, answers_to, is_question
from actions.self_service import ActionAddTicketInfo, ValidateTicketInfoForm
from actions.tickets import (
    ActionCreateTicket,
    ActionTicketStatus,
    ValidateTicketForm,
    ValidateTicketStatusForm,
)
from tests.actions.fake_api import FakeDeskApi

DOMAIN: dict[str, Any] = {
    "forms": {
        "ticket_form": {"required_slots": ["problem_description", "order_number", "contact"]},
        "ticket_status_form": {"required_slots": ["ticket_number"]},
        "ticket_info_form": {"required_slots": ["ticket_number", "ticket_info"]},
    },
    "slots": {},
}
# A problem about an order, so that the ticket form asks for the order number.
ORDER_PROBLEM = {"problem_description": "parcel never arrived", "category": "after_sales"}


def user(text: str, intent: str, timestamp: float) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp,
        "input_channel": "rest",
        "parse_data": {"intent": {"name": intent}, "entities": []},
        "metadata": {},
    }


class FormConversation:
    """A form asking for one slot, answered turn by turn like Rasa's FormAction does."""

    def __init__(
        self, form: str, slot: str, slots: dict[str, Any] | None = None, language: str = "en"
    ) -> None:
        self.form, self.slot, self.language = form, slot, language
        self.slots = {"language": language, **(slots or {})}
        self.events: list[dict[str, Any]] = [
            {"event": "action", "name": "action_session_start"},
            {"event": "active_loop", "name": form},
            {"event": "slot", "name": "requested_slot", "value": slot},
            {"event": "action", "name": "action_listen"},
        ]
        self.asked = 1  # the form asked once when it started on this slot

    def answer(
        self,
        action: Any,
        text: str,
        intent: str = "inform",
        *,
        run: Callable[..., Any] | None = None,
    ) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
        """The customer answers; the form validates; returns (events, dispatcher)."""
        self.events.append(user(text, intent, 1700000000.0 + len(self.events)))
        candidate = [
            {"event": "action", "name": self.form},
            {"event": "slot", "name": self.slot, "value": text},
        ]
        tracker = Tracker(
            sender_id="customer-1",
            slots={**self.slots, "requested_slot": self.slot, self.slot: text},
            latest_message={"text": text, "intent": {"name": intent}, "entities": []},
            events=self.events + candidate,
            paused=False,
            followup_action=None,
            active_loop={"name": self.form},
            latest_action_name="action_listen",
        )
        dispatcher = CollectingDispatcher()
        coroutine = lambda: action.run(dispatcher, tracker, DOMAIN)  # noqa: E731
        events = run(coroutine) if run else asyncio.run(coroutine())
        if self.value(events) is None and not _rejected(events):
            # Rasa's form asks again for the slot.
            self.asked += 1
            self.events += [
                {"event": "action", "name": self.form},
                {"event": "slot", "name": "requested_slot", "value": self.slot},
                {"event": "action", "name": "action_listen"},
            ]
        return events, dispatcher

    def value(self, events: list[dict[str, Any]]) -> Any:
        return next(
            (e["value"] for e in events if e.get("event") == "slot" and e["name"] == self.slot),
            None,
        )


def _rejected(events: list[dict[str, Any]]) -> bool:
    return any(e.get("event") == "action_execution_rejected" for e in events)


def _responses(dispatcher: CollectingDispatcher) -> list[str | None]:
    return [m.get("response") for m in dispatcher.messages]


# (form's validation action, form, slot, slots already filled, two unusable answers,
#  what the slot holds after the second)
ADVERSARIAL: list[tuple[Any, str, str, dict[str, Any], str, tuple[str, str], Any]] = [
    (
        ValidateTicketForm,
        "ticket_form",
        "order_number",
        ORDER_PROBLEM,
        "en",
        ("12345", "it's 12345, that's what the receipt says"),
        "it's 12345, that's what the receipt says",
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "order_number",
        ORDER_PROBLEM,
        "en",
        ("the one from last tuesday", "I really don't remember"),
        NO_ORDER_NUMBER,
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "order_number",
        ORDER_PROBLEM,
        "zh",
        ("订单号是8812345", "就是8812345啊，我从订单页面复制的"),
        "就是8812345啊，我从订单页面复制的",
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "order_number",
        ORDER_PROBLEM,
        "zh",
        ("上周买的那个", "就是那个电饭煲的订单"),
        NO_ORDER_NUMBER,
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "contact",
        {"problem_description": "tv broken"},
        "en",
        ("just call my landline 010 6552 3344", "010-65523344, I don't have a mobile"),
        "010-65523344, I don't have a mobile",
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "contact",
        {"problem_description": "tv broken"},
        "en",
        ("meh", "whatever works"),
        NO_CONTACT,
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "contact",
        {"problem_description": "宽带断了"},
        "zh",
        ("0912 345 678", "我的台湾号码 0912345678"),
        "我的台湾号码 0912345678",
    ),
    (
        ValidateTicketForm,
        "ticket_form",
        "contact",
        {"problem_description": "宽带断了"},
        "zh",
        ("随便", "你们看着办"),
        NO_CONTACT,
    ),
    (
        ValidateTicketStatusForm,
        "ticket_status_form",
        "ticket_number",
        {},
        "en",
        ("I don't have it", "it was in the email you sent"),
        UNKNOWN_TICKET,
    ),
    (
        ValidateTicketStatusForm,
        "ticket_status_form",
        "ticket_number",
        {},
        "en",
        ("SD10023", "sd-1002"),
        UNKNOWN_TICKET,
    ),
    (
        ValidateTicketStatusForm,
        "ticket_status_form",
        "ticket_number",
        {},
        "zh",
        ("忘了", "找不到了"),
        UNKNOWN_TICKET,
    ),
    (
        ValidateTicketStatusForm,
        "ticket_status_form",
        "ticket_number",
        {},
        "zh",
        ("工单 10023", "就是10023"),
        UNKNOWN_TICKET,
    ),
    (
        ValidateTicketInfoForm,
        "ticket_info_form",
        "ticket_number",
        {},
        "en",
        ("the one about my router", "I don't know the number"),
        UNKNOWN_TICKET,
    ),
    (
        ValidateTicketInfoForm,
        "ticket_info_form",
        "ticket_number",
        {},
        "zh",
        ("路由器那个", "SD10023"),
        UNKNOWN_TICKET,
    ),
]


@pytest.mark.parametrize(
    ("validation", "form", "slot", "slots", "language", "answers", "settled"),
    ADVERSARIAL,
    ids=[f"{row[2]}-{row[4]}-{i}" for i, row in enumerate(ADVERSARIAL)],
)
def test_two_unusable_answers_and_the_question_is_not_asked_again(
    validation: Any,
    form: str,
    slot: str,
    slots: dict[str, Any],
    language: str,
    answers: tuple[str, str],
    settled: Any,
    with_api: Any,
) -> None:
    talk = FormConversation(form, slot, slots, language)
    first, said_first = talk.answer(validation(), answers[0], run=with_api)
    assert talk.value(first) is None and not _rejected(first)
    assert any(r and r.startswith("utter_invalid_") for r in _responses(said_first))

    second, said_second = talk.answer(validation(), answers[1], run=with_api)
    assert talk.value(second) == settled
    assert not any(r and r.startswith("utter_invalid_") for r in _responses(said_second))
    assert talk.asked == 2


@pytest.mark.parametrize(
    ("slot", "text", "language"),
    [
        ("problem_description", "???", "en"),
        ("problem_description", "😅", "zh"),
        ("problem_description", "dunno it just broke", "en"),
        ("problem_description", "就是坏了", "zh"),
    ],
)
def test_any_description_is_taken_at_once(slot: str, text: str, language: str) -> None:
    talk = FormConversation("ticket_form", slot, {}, language)
    events, _ = talk.answer(ValidateTicketForm(), text)
    assert talk.value(events) == text and talk.asked == 1


@pytest.mark.parametrize(("text", "language"), [("???", "en"), ("就那个", "zh")])
def test_any_information_for_a_ticket_is_taken_at_once(
    text: str, language: str, with_api: Any
) -> None:
    talk = FormConversation(
        "ticket_info_form", "ticket_info", {"ticket_number": "SD-100001"}, language
    )
    events, _ = talk.answer(ValidateTicketInfoForm(), text, run=with_api)
    assert talk.value(events) == text and talk.asked == 1


def test_a_ticket_that_is_not_theirs_twice_is_left_to_a_person(
    api: FakeDeskApi, with_api: Any
) -> None:
    talk = FormConversation("ticket_info_form", "ticket_number", {}, "zh")
    first, said = talk.answer(ValidateTicketInfoForm(), "SD-999999", run=with_api)
    assert talk.value(first) is None and _responses(said) == ["utter_ticket_not_found"]
    second, said = talk.answer(ValidateTicketInfoForm(), "就是SD-999999", run=with_api)
    assert talk.value(second) == UNKNOWN_TICKET and said.messages == []


def test_a_good_answer_after_a_bad_one_is_kept() -> None:
    talk = FormConversation("ticket_form", "order_number", ORDER_PROBLEM, "en")
    talk.answer(ValidateTicketForm(), "hmm")
    events, _ = talk.answer(ValidateTicketForm(), "oh here: 112-4837261-5573920")
    assert talk.value(events) == "112-4837261-5573920"


class TestAnAnswerIsAnAnswer:
    @pytest.mark.parametrize(
        ("slot", "slots", "text", "value"),
        [
            (
                "order_number",
                ORDER_PROBLEM,
                "DD2026112315, also how do I get an invoice?",
                "DD2026112315",
            ),
            (
                "problem_description",
                {},
                "I can't log in, it always says the password is wrong",
                "I can't log in, it always says the password is wrong",
            ),
            ("problem_description", {}, "忘记密码了，一直登录不上", "忘记密码了，一直登录不上"),
            (
                "contact",
                {"problem_description": "x"},
                "13912345678 顺便问下运费多少？",
                "13912345678",
            ),
        ],
    )
    def test_an_faq_that_answers_fills_the_slot(
        self, slot: str, slots: dict[str, Any], text: str, value: str
    ) -> None:
        talk = FormConversation("ticket_form", slot, slots)
        events, _ = talk.answer(ValidateTicketForm(), text, intent="faq")
        assert talk.value(events) == value

    @pytest.mark.parametrize(
        ("slot", "slots", "text"),
        [
            ("order_number", ORDER_PROBLEM, "oh wait - do you cover the return shipping?"),
            ("contact", {"problem_description": "x"}, "对了 退款一般几天能到账？"),
            ("problem_description", {}, "how long do refunds take?"),
        ],
    )
    def test_an_faq_that_does_not_answer_steps_outside(
        self, slot: str, slots: dict[str, Any], text: str
    ) -> None:
        talk = FormConversation("ticket_form", slot, slots)
        events, dispatcher = talk.answer(ValidateTicketForm(), text, intent="faq")
        # The text Rasa's mapping put in the slot is taken out again.
        assert events == [SlotSet(slot, None), ActionExecutionRejected("ticket_form")]
        assert dispatcher.messages == []

    def test_back_from_the_faq_the_form_asks_again(self) -> None:
        """After the FAQ rule answered, the form runs again with no new answer: it must
        not reject that run (nothing would be said), but ask for the slot again."""
        text = "oh wait - do you cover the return shipping?"
        events = [
            {"event": "action", "name": "action_session_start"},
            {"event": "active_loop", "name": "ticket_form"},
            {"event": "slot", "name": "requested_slot", "value": "order_number"},
            {"event": "action", "name": "action_listen"},
            user(text, "faq", 1.0),
            {"event": "action_execution_rejected", "name": "ticket_form"},
            {"event": "action", "name": "utter_faq"},
            {"event": "action", "name": "ticket_form"},
        ]
        tracker = Tracker(
            sender_id="customer-1",
            slots={"language": "en", "requested_slot": "order_number", **ORDER_PROBLEM},
            latest_message={"text": text, "intent": {"name": "faq"}, "entities": []},
            events=events,
            paused=False,
            followup_action=None,
            active_loop={"name": "ticket_form"},
            latest_action_name="ticket_form",
        )
        out = asyncio.run(ValidateTicketForm().run(CollectingDispatcher(), tracker, DOMAIN))
        assert not _rejected(out)

    def test_another_tickets_status_leaves_the_form(self) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"})
        events, _ = talk.answer(
            ValidateTicketForm(), "what's the status of SD-100023?", "ticket_status"
        )
        assert events == [SlotSet("contact", None), ActionExecutionRejected("ticket_form")]

    def test_a_bare_no_to_the_contact_question_stops_the_form(self) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"}, "zh")
        events, _ = talk.answer(ValidateTicketForm(), "算了", intent="deny")
        assert events == [SlotSet("contact", None), ActionExecutionRejected("ticket_form")]

    @pytest.mark.parametrize(
        ("form", "validation", "slot", "slots", "settled"),
        [
            ("ticket_form", ValidateTicketForm, "order_number", ORDER_PROBLEM, NO_ORDER_NUMBER),
            (
                "ticket_form",
                ValidateTicketForm,
                "contact",
                {"problem_description": "x"},
                NO_CONTACT,
            ),
            ("ticket_status_form", ValidateTicketStatusForm, "ticket_number", {}, UNKNOWN_TICKET),
        ],
    )
    def test_a_second_detour_is_answered_but_the_question_not_asked_a_third_time(
        self, form: str, validation: Any, slot: str, slots: dict[str, Any], settled: Any
    ) -> None:
        talk = FormConversation(form, slot, slots)
        first, _ = talk.answer(validation(), "how long do refunds take?", intent="faq")
        assert first == [SlotSet(slot, None), ActionExecutionRejected(form)]
        talk.asked += 1  # back from the FAQ, the form asks again
        second, _ = talk.answer(validation(), "发票怎么开？", intent="faq")
        assert second == [SlotSet(slot, settled), ActionExecutionRejected(form)]

    @pytest.mark.parametrize("text", ["不方便留电话", "I'd rather not give my number"])
    @pytest.mark.parametrize("intent", ["deny", "faq", "inform"])
    def test_declining_the_contact_is_an_answer_whatever_the_intent(
        self, text: str, intent: str
    ) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"})
        events, dispatcher = talk.answer(ValidateTicketForm(), text, intent=intent)
        assert talk.value(events) == NO_CONTACT
        assert _responses(dispatcher) == ["utter_contact_skipped"]

    def test_a_landline_with_no_mobile_is_kept_not_declined(self) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"})
        talk.answer(ValidateTicketForm(), "hmm")
        events, _ = talk.answer(ValidateTicketForm(), "no mobile, my number is 010-6552 3344")
        assert talk.value(events) == "no mobile, my number is 010-6552 3344"

    @pytest.mark.parametrize(
        "text", ["没有订单号", "不记得了", "dunno", "no idea, sorry", "I don't have it"]
    )
    def test_no_order_number_is_an_answer_at_once(self, text: str) -> None:
        talk = FormConversation("ticket_form", "order_number", ORDER_PROBLEM)
        events, dispatcher = talk.answer(ValidateTicketForm(), text)
        assert talk.value(events) == NO_ORDER_NUMBER and dispatcher.messages == []

    def test_talking_about_the_order_number_is_not_declining_a_contact(self) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"})
        events, _ = talk.answer(
            ValidateTicketForm(), "no idea where the order number is", intent="faq"
        )
        assert events == [SlotSet("contact", None), ActionExecutionRejected("ticket_form")]

    def test_not_wanting_to_leave_a_number_goes_on_without_one(self) -> None:
        talk = FormConversation("ticket_form", "contact", {"problem_description": "x"}, "zh")
        events, dispatcher = talk.answer(ValidateTicketForm(), "不方便留电话", intent="deny")
        assert talk.value(events) == NO_CONTACT
        assert _responses(dispatcher) == ["utter_contact_skipped"]

    def test_question_and_answer_shapes(self) -> None:
        assert is_question("how long do refunds take") and is_question("發票要怎麼開")
        assert not is_question("the kettle is broken")
        assert answers_question("ticket_number", "it's 100023") is True
        assert answers_question("ticket_info", "what do you need?") is False


def test_answers_are_counted_per_slot_and_form_run() -> None:
    events = [
        {"event": "active_loop", "name": "ticket_form"},
        {"event": "slot", "name": "requested_slot", "value": "contact"},
        user("a", "inform", 1.0),
        {"event": "slot", "name": "requested_slot", "value": "contact"},
        user("b", "inform", 2.0),
        {"event": "active_loop", "name": None},
        {"event": "active_loop", "name": "ticket_form"},
        {"event": "slot", "name": "requested_slot", "value": "contact"},
        user("c", "inform", 3.0),
    ]
    tracker = Tracker("s", {"requested_slot": "contact"}, {}, events, False, None, {}, None)
    assert answers_to(tracker, "contact") == 1
    assert answers_to(tracker, "order_number") == 0


class TestWhatComesAfter:
    def _tracker(self, slots: dict[str, Any], text: str = "") -> Tracker:
        return Tracker(
            sender_id="customer-1",
            slots={"language": "en", **slots},
            latest_message={"text": text, "intent": {"name": "inform"}, "entities": []},
            events=[user(text, "inform", 1.0)],
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    def _run(self, with_api: Any, action: Any, tracker: Tracker) -> tuple[list[Any], Any]:
        dispatcher = CollectingDispatcher()
        events = with_api(lambda: action.run(dispatcher, tracker, DOMAIN))
        return events, dispatcher

    def test_an_unknown_ticket_number_lists_the_open_tickets(
        self, api: FakeDeskApi, with_api: Any
    ) -> None:
        api.add_ticket("SD-100001")
        api.add_ticket("SD-100002", "pending")
        events, dispatcher = self._run(
            with_api, ActionTicketStatus(), self._tracker({"ticket_number": UNKNOWN_TICKET})
        )
        message = dispatcher.messages[0]
        assert message["response"] == "utter_ticket_unknown_open_tickets"
        assert message["count"] == 2 and "SD-100002" in message["tickets"]
        assert events == [SlotSet("ticket_number", None)]

    def test_an_unknown_ticket_number_without_open_tickets_offers_a_person(
        self, with_api: Any
    ) -> None:
        _, dispatcher = self._run(
            with_api, ActionTicketStatus(), self._tracker({"ticket_number": UNKNOWN_TICKET})
        )
        assert _responses(dispatcher) == ["utter_ticket_unknown_offer_human"]

    def test_information_for_an_unknown_ticket_goes_to_a_person(self, with_api: Any) -> None:
        events, dispatcher = self._run(
            with_api,
            ActionAddTicketInfo(),
            self._tracker({"ticket_number": UNKNOWN_TICKET, "ticket_info": "师傅来过了还是不行"}),
        )
        assert _responses(dispatcher) == ["utter_ticket_unknown_offer_human"]
        assert SlotSet("problem_description", "师傅来过了还是不行") in events

    def test_a_contact_kept_as_written_is_under_the_description(
        self, api: FakeDeskApi, with_api: Any
    ) -> None:
        tracker = self._tracker(
            {"problem_description": "TV won't connect", "contact": "010-65523344, landline"}
        )
        self._run(with_api, ActionCreateTicket(), tracker)
        body = api.requests[0]["json"]
        assert body["customer"]["phone"] is None and body["customer"]["email"] is None
        assert "Contact (as the customer wrote it): 010-65523344, landline" in body["description"]

    def test_no_contact_is_no_contact(self, api: FakeDeskApi, with_api: Any) -> None:
        tracker = self._tracker({"problem_description": "宽带断了", "contact": NO_CONTACT})
        self._run(with_api, ActionCreateTicket(), tracker)
        body = api.requests[0]["json"]
        assert body["customer"]["phone"] is None and body["description"] == "宽带断了"


def test_my_ticket_without_a_number_is_the_only_open_one(api: FakeDeskApi, with_api: Any) -> None:
    api.add_ticket("SD-100007")
    tracker = Tracker(
        sender_id="customer-1",
        slots={"language": "en", "requested_slot": None},
        latest_message={"text": "any news on my ticket?", "intent": {"name": "ticket_status"}},
        events=[user("any news on my ticket?", "ticket_status", 1.0)],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = with_api(lambda: ValidateTicketStatusForm().run(dispatcher, tracker, DOMAIN))
    assert SlotSet("ticket_number", "SD-100007") in events


def test_with_several_open_tickets_the_number_is_asked(api: FakeDeskApi, with_api: Any) -> None:
    api.add_ticket("SD-100007")
    api.add_ticket("SD-100008")
    tracker = Tracker(
        sender_id="customer-1",
        slots={"language": "en", "requested_slot": None},
        latest_message={"text": "any news on my ticket?", "intent": {"name": "ticket_status"}},
        events=[user("any news on my ticket?", "ticket_status", 1.0)],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = with_api(lambda: ValidateTicketStatusForm().run(dispatcher, tracker, DOMAIN))
    assert not any(e.get("name") == "ticket_number" and e.get("value") for e in events)
