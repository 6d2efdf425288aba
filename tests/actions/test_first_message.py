"""Everything in the first message is taken, never asked for, and read back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.form_answers import describes_a_problem
from actions.parsing import parse_name
from actions.tickets import ActionCreateTicket, ValidateTicketForm
from tests.actions.fake_api import FakeDeskApi

DOMAIN: dict[str, Any] = {
    "forms": {
        "ticket_form": {"required_slots": ["problem_description", "order_number", "contact"]}
    },
    "slots": {},
}


def first_message(text: str, slots: dict[str, Any], language: str = "en") -> Tracker:
    """The tracker the ticket form's validation sees when the form starts on ``text``."""
    events = [
        {"event": "action", "name": "action_session_start"},
        {
            "event": "user",
            "text": text,
            "timestamp": 1.0,
            "input_channel": "rest",
            "parse_data": {"intent": {"name": "report_problem"}, "entities": []},
            "metadata": {},
        },
        {"event": "action", "name": "action_check_profile"},
        {"event": "slot", "name": "contact_on_file", "value": False},
        *({"event": "slot", "name": k, "value": v} for k, v in slots.items()),
    ]
    return Tracker(
        sender_id="customer-1",
        slots={"language": language, "requested_slot": None, "contact_on_file": False, **slots},
        latest_message={"text": text, "intent": {"name": "report_problem"}, "entities": []},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_check_profile",
    )


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


@pytest.mark.parametrize(
    ("text", "language", "category", "order", "contact"),
    [
        (
            "你好，我叫赵磊，手机13766668888，订单号DD2026110807，买的空气净化器昨天收到就开不了机",
            "zh",
            "after_sales",
            "DD2026110807",
            "13766668888",
        ),
        (
            "Hi, Grace Lee here (grace.lee@qq.com, 137 0000 1234). Order 202611220045671: "
            "the kettle arrived with a cracked lid",
            "en",
            "after_sales",
            "202611220045671",
            "grace.lee@qq.com",
        ),
        (
            "同一个订单扣了我两次钱！淘宝订单号2611230987654，电话 139 1234 5678",
            "zh",
            "billing",
            "2611230987654",
            "13912345678",
        ),
        (
            "charged twice on amazon order 112-4837261-5573920, mail me at a.b@example.com",
            "en",
            "billing",
            "112-4837261-5573920",
            "a.b@example.com",
        ),
    ],
)
def test_the_form_asks_nothing_the_first_message_gave(
    text: str, language: str, category: str, order: str, contact: str
) -> None:
    tracker = first_message(text, {"problem_description": text, "category": category}, language)
    events = asyncio.run(ValidateTicketForm().run(CollectingDispatcher(), tracker, DOMAIN))
    slots = slot_events(events)
    assert slots["order_number"] == order
    assert slots["contact"] == contact
    assert slots.get("requested_slot") is None  # nothing left to ask


def test_an_uncategorised_problem_about_an_order_asks_for_its_number() -> None:
    text = "我訂的吸塵器少寄了一個配件，盒子裡沒有刷頭"
    assert _required(text, "zh") == ["problem_description", "order_number", "contact"]


def test_a_problem_not_about_an_order_does_not() -> None:
    assert _required("my wifi keeps dropping", "en") == ["problem_description", "contact"]


@pytest.mark.parametrize(
    ("text", "category", "asked"),
    [
        ("我这个月的话费多扣了五十多块钱", "billing", False),
        ("my broadband plan fee went up without notice", "billing", False),
        ("同一个订单扣了我两次钱", "billing", True),
        ("charged twice for one order", "billing", True),
        ("the kettle arrived with a cracked lid", "after_sales", True),
    ],
)
def test_a_bill_needs_the_order_number_only_when_it_names_an_order(
    text: str, category: str, asked: bool
) -> None:
    required = _required(text, "en", category=category)
    assert ("order_number" in required) is asked


@pytest.mark.parametrize(
    "text",
    [
        "Hi, this is Sarah Jones, sarah.jones@gmail.com / 139 8765 4321. Order DD2026112208: "
        "you charged my card twice (2 x 899 yuan) for one TV stand.",
        "我叫黄小玲，电邮 siuling@gmail.com，订单编号 DD2026112511，收到的电饭煲内胆凹了",
        "13800138000 宽带从昨晚开始就断了",
    ],
)
def test_a_first_message_read_as_a_contact_also_gives_the_problem(text: str) -> None:
    tracker = first_message(text, {})
    tracker.latest_message["intent"] = {"name": "provide_contact"}
    events = asyncio.run(ValidateTicketForm().run(CollectingDispatcher(), tracker, DOMAIN))
    slots = slot_events(events)
    assert slots["problem_description"] == text
    assert slots.get("requested_slot") != "problem_description"


@pytest.mark.parametrize(
    "text",
    [
        "my number is 13800138000, you can call me",
        "Hi, this is Tom Becker, tom.becker@gmx.de",
        "我的手机号是13800138000，有事打给我",
        "電郵 siuling.wong@gmail.com 唔該",
        "order DD2026112208, my email is a@b.com",
    ],
)
def test_a_contact_alone_is_no_description(text: str) -> None:
    assert not describes_a_problem(text)
    tracker = first_message(text, {})
    tracker.latest_message["intent"] = {"name": "provide_contact"}
    events = asyncio.run(ValidateTicketForm().run(CollectingDispatcher(), tracker, DOMAIN))
    assert slot_events(events).get("requested_slot") == "problem_description"


def _required(text: str, language: str, category: str | None = None) -> list[str]:
    slots = {"problem_description": text, **({"category": category} if category else {})}
    tracker = first_message(text, slots, language)
    return asyncio.run(
        ValidateTicketForm().required_slots(
            DOMAIN["forms"]["ticket_form"]["required_slots"],
            CollectingDispatcher(),
            tracker,
            DOMAIN,
        )
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("你好，我叫赵磊，手机13766668888", "赵磊"),
        ("姓名：王建国 电话13800138866", "王建国"),
        ("Hi, Grace Lee here (grace.lee@qq.com)", "Grace Lee"),
        ("my name is Tom Becker and my parcel never came", "Tom Becker"),
        ("我是在你们店买的", None),
        ("I am so angry", None),
    ],
)
def test_names(text: str, name: str | None) -> None:
    assert parse_name(text) == name


def test_the_new_ticket_reads_back_what_was_understood(api: FakeDeskApi, with_api: Any) -> None:
    text = "Hi, Grace Lee here (grace.lee@qq.com, 137 0000 1234). Order 202611220045671"
    tracker = first_message(
        text,
        {
            "problem_description": text,
            "order_number": "202611220045671",
            "contact": "grace.lee@qq.com",
            "product": "kettle",
        },
    )
    dispatcher = CollectingDispatcher()
    with_api(lambda: ActionCreateTicket().run(dispatcher, tracker, DOMAIN))

    body = api.requests[0]["json"]
    # Both contacts she typed reach her profile, and her name.
    assert body["customer"]["email"] == "grace.lee@qq.com"
    assert body["customer"]["phone"] == "13700001234"
    assert body["customer"]["display_name"] == "Grace Lee"
    assert "Order number: 202611220045671" in body["description"]

    created, readback = dispatcher.messages
    assert created["response"] == "utter_ticket_created"
    assert readback["response"] == "utter_ticket_readback"
    assert readback["details"].splitlines() == [
        "Name: Grace Lee",
        "Contact: grace.lee@qq.com",
        "Order number: 202611220045671",
        "Product: kettle",
    ]


def test_the_read_back_is_in_the_customers_language(api: FakeDeskApi, with_api: Any) -> None:
    tracker = first_message(
        "我叫赵磊", {"problem_description": "开不了机", "contact": "13766668888"}, "zh"
    )
    dispatcher = CollectingDispatcher()
    with_api(lambda: ActionCreateTicket().run(dispatcher, tracker, DOMAIN))
    assert dispatcher.messages[1]["details"].splitlines() == ["姓名: 赵磊", "联系方式: 13766668888"]
