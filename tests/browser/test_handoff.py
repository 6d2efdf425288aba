"""Live handoff end to end, in two browsers: a customer in the chat widget, an agent in
the console.

The whole desk runs (API with its relay, action server, Rasa on the trained model).
The customer asks for a person in the widget; what they write next lands on the
ticket (the agent sees it in the console) instead of being answered by the bot; the
agent's reply, typed in the console, appears in the customer's widget; when the agent
resolves the ticket the bot takes the conversation again and asks for a rating, which
lands in the database; an agent can also hand the chat back without resolving.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.test_console import HOLDER, db_value, log_in
from tests.browser.test_widget import Widget, open_demo
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


def hand_over(widget: Widget, desk: Desk) -> str:
    """The customer asks for a person; the ticket's number."""
    replies = widget.say("我要找人工客服")
    numbers = TICKET.findall(" ".join(replies))
    assert numbers, replies
    with desk.engine.connect() as connection:
        conversation = connection.execute(
            sa.text("SELECT conversation_id FROM tickets WHERE number = :n"), {"n": numbers[0]}
        ).scalar_one()
    # The ticket keeps Rasa's id of the widget's conversation (web:<session id>).
    assert conversation == widget.conversation_id()
    return numbers[0]


def open_in_console(agent: Page, desk: Desk, number: str) -> None:
    """Log in as whoever holds the ticket (claiming it when nobody does) and open it."""
    with desk.engine.connect() as connection:
        holder = connection.execute(sa.text(HOLDER), {"n": number}).scalar()
    log_in(agent, desk, "/console/", holder or "wang.fang")
    if holder is None:
        agent.click("#tab-queue")
    item = agent.locator(f"#ticket-list li[data-number='{number}']")
    expect(item).to_be_visible(timeout=15_000)
    item.click()
    expect(agent.locator("#detail-number")).to_have_text(number)
    if holder is None:
        agent.click("#claim")


def test_customer_and_agent_talk_until_the_ticket_is_resolved(
    new_page: Callable[..., Page], desk: Desk, screenshot: Callable[[Page, str], Path]
) -> None:
    customer, agent = new_page(), new_page()
    widget = open_demo(customer, desk, "zh")
    number = hand_over(widget, desk)
    open_in_console(agent, desk, number)

    # Handed over: the customer's words go to the ticket, and the agent sees them live.
    bot_rows_before = widget.bot_rows.count()
    widget.send("型号是 AX3000，背面的灯也不亮")
    expect(widget.customer_rows.last).to_have_attribute("data-status", "sent")
    expect(agent.locator("#thread .msg").last).to_contain_text("型号是 AX3000")
    wait_for(lambda: ("customer", "型号是 AX3000，背面的灯也不亮", True) in thread(desk, number))

    # The agent's reply, typed in the console, appears in the customer's chat.
    reply = "您好，我是负责您工单的客服。请把路由器断电一分钟再开机，然后告诉我灯的颜色。"
    agent.locator("#compose").fill(reply)
    agent.click("#send")
    expect(widget.bot_rows.last).to_contain_text(reply)
    # While waiting the bot said at most the customer's place in the queue.
    assert widget.bot_rows.count() - bot_rows_before <= 2
    screenshot(customer, "zh-agent-reply")

    # An internal note never reaches the customer.
    agent.keyboard.press("Escape")
    agent.locator("body").click(position={"x": 5, "y": 790})
    agent.keyboard.press("n")
    agent.locator("#compose").fill("客户很着急，优先处理")
    agent.click("#send")
    expect(agent.locator("#thread .msg.internal[data-author=agent]")).to_have_count(1)

    widget.send("重启以后变成绿灯了，可以上网了")
    expect(agent.locator("#thread .msg").last).to_contain_text("变成绿灯了")
    screenshot(agent, "zh-console-live-chat")

    agent.click("#resolve")
    expect(agent.locator("#detail-status")).to_have_text("已解决")

    # The bot has the conversation again and asks for a rating; the customer gives five stars.
    expect(widget.bot_rows.last).to_contain_text(f"工单 {number} 已解决")
    stars = customer.locator("#desk-widget .quick-reply")
    expect(stars).to_have_count(5)
    assert desk.tracker(widget.conversation_id())["slots"].get("handoff_ticket") is None
    assert "客户很着急" not in " ".join(widget.bot_texts())
    screenshot(customer, "zh-rating-asked")
    stars.first.click()
    wait_for(
        lambda: (
            db_value(
                desk,
                "SELECT r.score FROM satisfaction_ratings r JOIN tickets t ON t.id = r.ticket_id"
                " WHERE t.number = :n",
                n=number,
            )
            == 5
        )
    )
    expect(widget.bot_rows.last).not_to_contain_text("已解决")
    screenshot(customer, "zh-after-resolution")


def test_an_agent_hands_the_chat_back_to_the_bot(new_page: Callable[..., Page], desk: Desk) -> None:
    customer, agent = new_page(), new_page()
    widget = open_demo(customer, desk, "zh")
    number = hand_over(widget, desk)
    open_in_console(agent, desk, number)

    agent.click("#handback")
    expect(widget.bot_rows.last).to_contain_text("客服已把对话交还给我")
    expect(widget.bot_rows.last).to_contain_text(number)
    wait_for(lambda: desk.tracker(widget.conversation_id())["slots"].get("handoff_ticket") is None)
    # The ticket itself stays with the agent, with a note of the handback.
    assert any("handed the conversation back" in body for _, body, _ in thread(desk, number))
    row = desk.ticket_row(number)
    assert row is not None and row.status not in ("resolved", "closed")
