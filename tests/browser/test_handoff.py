"""Live handoff end to end: a customer in the chat widget, an agent through the API.

The whole desk runs (API with its relay, action server, Rasa on the trained model).
The customer asks for a person in the widget; what they write next lands on the
ticket instead of being answered by the bot; the agent's reply, written through the
ticketing API, appears in the customer's widget; when the agent resolves the ticket
the bot takes the conversation back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.test_widget import open_demo
from tests.support_desk import Desk

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

TICKET = re.compile(r"SD-\d{6,}")


def thread(desk: Desk, number: str) -> list[tuple[str, str, bool]]:
    with desk.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT m.author_type, m.body, m.public FROM ticket_messages m"
                " JOIN tickets t ON t.id = m.ticket_id WHERE t.number = :n ORDER BY m.id"
            ),
            {"n": number},
        ).all()
    return [(row.author_type, row.body, bool(row.public)) for row in rows]


def wait_for(check: Callable[[], bool], *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.2)


def test_customer_and_agent_talk_through_the_desk_until_it_is_resolved(
    page: Page, desk: Desk, screenshot: Callable[[Page, str], Path]
) -> None:
    widget = open_demo(page, desk, "zh")
    replies = widget.say("我要找人工客服")
    numbers = TICKET.findall(" ".join(replies))
    assert numbers, replies
    number = numbers[0]

    with desk.engine.connect() as connection:
        conversation = connection.execute(
            sa.text("SELECT conversation_id FROM tickets WHERE number = :n"), {"n": number}
        ).scalar_one()
    assert conversation == widget.session_id()

    # Handed over: the customer's next words go to the ticket, not to the bot.
    bot_rows_before = widget.bot_rows.count()
    widget.send("型号是 AX3000，背面的灯也不亮")
    expect(widget.customer_rows.last).to_have_attribute("data-status", "sent")
    wait_for(lambda: ("customer", "型号是 AX3000，背面的灯也不亮", True) in thread(desk, number))

    # The agent who has the ticket (or the one who claims it) answers through the API.
    supervisor = desk.staff_headers("zhao.min")
    ticket = httpx.get(
        f"{desk.api_url}/api/v1/tickets/{number}", headers=supervisor, timeout=30
    ).json()
    agent = ticket["assignee"] or "wang.fang"
    headers = desk.staff_headers(agent)
    if ticket["assignee"] is None:
        claimed = httpx.post(
            f"{desk.api_url}/api/v1/tickets/{number}/claim", headers=headers, timeout=30
        )
        assert claimed.status_code == 200, claimed.text
    # While waiting the bot may have said the customer's place in the queue; never more.
    assert widget.bot_rows.count() - bot_rows_before <= 1

    reply = "您好，我是负责您工单的客服。请把路由器断电一分钟再开机，然后告诉我灯的颜色。"
    posted = httpx.post(
        f"{desk.api_url}/api/v1/tickets/{number}/messages",
        json={"body": reply, "public": True},
        headers=headers,
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    expect(widget.bot_rows.last).to_contain_text(reply)
    screenshot(page, "zh-agent-reply")

    # An internal note never reaches the customer.
    httpx.post(
        f"{desk.api_url}/api/v1/tickets/{number}/messages",
        json={"body": "客户很着急，优先处理", "public": False},
        headers=headers,
        timeout=30,
    ).raise_for_status()

    widget.send("重启以后变成绿灯了，可以上网了")
    wait_for(lambda: ("customer", "重启以后变成绿灯了，可以上网了", True) in thread(desk, number))

    current = httpx.get(f"{desk.api_url}/api/v1/tickets/{number}", headers=headers, timeout=30)
    resolved = httpx.patch(
        f"{desk.api_url}/api/v1/tickets/{number}",
        json={"status": "resolved", "version": current.json()["version"]},
        headers=headers,
        timeout=30,
    )
    assert resolved.status_code == 200, resolved.text

    # The bot has the conversation again: the handoff slot is cleared by the relay.
    wait_for(lambda: desk.tracker(widget.session_id())["slots"].get("handoff_ticket") is None)
    texts = " ".join(widget.bot_texts())
    assert "客户很着急" not in texts
    answer = widget.say("谢谢")
    assert answer and not any("排第" in text for text in answer), answer
    screenshot(page, "zh-after-resolution")
