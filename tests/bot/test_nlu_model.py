"""The trained NLU on the conversations of issue 4 (skipped when there is no model).

Phrasings here are neither in the training data nor in the held-out sets; each checks
the intent and the entities the actions rely on.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("DESK_MODEL") or ROOT / "models" / "desk.tar.gz")

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason=f"no trained model at {MODEL}")


@pytest.fixture(scope="module")
def parse() -> Any:
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL))

    def parse_text(text: str) -> dict[str, Any]:
        return asyncio.run(agent.parse_message(text))

    return parse_text


def entities(parsed: dict[str, Any]) -> dict[str, str]:
    return {e["entity"]: str(e["value"]) for e in parsed["entities"] if e["entity"] != "language"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("please cancel the ticket, my wifi works again", "cancel_ticket"),
        ("工单帮我取消掉，不需要了", "cancel_ticket"),
        ("i want to add a detail to my open ticket", "add_ticket_info"),
        ("我要给我的工单补充说明一下", "add_ticket_info"),
        ("list all of my tickets", "my_tickets"),
        ("查看我所有的工单", "my_tickets"),
        ("four stars, the agent was kind", "rate_service"),
        ("非常满意，给五星", "rate_service"),
        ("start again from the beginning", "restart"),
        ("咱们重新开始吧", "restart"),
    ],
)
def test_new_intents(parse: Any, text: str, intent: str) -> None:
    assert parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what's the status of SD-100001", "ticket_status"),
        ("SD-100001 现在什么进度", "ticket_status"),
        ("how do I cancel my order", "faq"),
        ("怎么取消订单", "faq"),
        ("my internet has been down since yesterday", "report_problem"),
    ],
)
def test_neighbouring_intents_keep_their_meaning(parse: Any, text: str, intent: str) -> None:
    assert parse(text)["intent"]["name"] == intent


def test_order_product_and_date_entities(parse: Any) -> None:
    en = entities(parse("the kettle from order DD2026112001 broke yesterday"))
    assert en["order_number"] == "DD2026112001"
    assert en["product"] == "kettle" and en["date"] == "yesterday"
    zh = entities(parse("上周三买的空气炸锅坏了，订单号202611180045771"))
    assert zh["order_number"] == "202611180045771"
    assert zh["product"] == "空气炸锅" and zh["date"] == "上周三"
    assert entities(parse("2026-11-20 那天开始的"))["date"] == "2026-11-20"


def test_a_mobile_number_is_no_order_number(parse: Any) -> None:
    found = entities(parse("我的手机是13800138000"))
    assert found.get("phone_number") == "13800138000" and "order_number" not in found
