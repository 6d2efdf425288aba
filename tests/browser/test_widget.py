"""The chat widget in headless Chromium.

``TestWidgetOnTheDesk`` opens the demo page of a running desk (API, action server and
Rasa on the trained model, one desk for this module) and talks to the bot through the
widget as a customer would: tickets in Chinese and English, history across reloads,
buttons, messages pushed by the desk, and messages typed while the network is down.
``TestWidgetOnAnySite`` embeds the widget in plain pages of a static server to check
what does not need the bot: configuration errors, language, isolation from the host
page, and that ticket cards come from a message's data (kept with the history), never
from its words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.support_browser import PHONE, PageLog, StaticSite
from tests.support_desk import Desk, free_port
from ticketing.conversations import rasa_conversation_id

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)

TICKET = re.compile(r"SD-\d{6,}")


class Widget:
    """The widget on a page, driven through what a customer sees."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("#desk-widget")
        self.launcher = page.locator("#desk-widget .launcher")
        self.panel = page.locator("#desk-widget .panel")
        self.input = page.locator("#desk-widget textarea.input")
        self.banner = page.locator("#desk-widget .banner")
        self.typing = page.locator("#desk-widget .typing")
        self.rows = page.locator("#desk-widget .log .row:not(.typing)")
        self.bot_rows = page.locator("#desk-widget .log .row.bot:not(.typing)")
        self.customer_rows = page.locator("#desk-widget .log .row.customer")
        self.cards = page.locator("#desk-widget .ticket-card")

    def open(self) -> None:
        """Open the chat (unless it is open already) and wait until it is connected."""
        expect(self.launcher).to_be_visible()
        if not self.panel.is_visible():
            self.launcher.click()
        expect(self.panel).to_be_visible()
        expect(self.input).to_be_focused()

    def wait_online(self) -> None:
        expect(self.panel).to_have_attribute("data-connection", "online")

    def send(self, text: str) -> None:
        """Type a message and press Enter."""
        self.input.fill(text)
        self.input.press("Enter")
        expect(self.input).to_have_value("")

    def say(self, text: str) -> list[str]:
        """Send a message and return the bot's replies to it (once its turn is over)."""
        before = self.bot_rows.count()
        self.send(text)
        expect(self.customer_rows.last).to_have_attribute("data-status", "sent")
        expect(self.typing).to_be_hidden()
        expect(self.bot_rows).not_to_have_count(before)
        return self.bot_texts()[before:]

    def card_under(self, text: str) -> Locator:
        """The ticket card of the bot message that says ``text``."""
        return self.bot_rows.filter(has_text=text).locator(".ticket-card")

    def bot_texts(self) -> list[str]:
        return [
            text.strip()
            for text in self.page.locator(
                "#desk-widget .row.bot:not(.typing) .bubble"
            ).all_inner_texts()
        ]

    def transcript(self) -> list[tuple[str, str]]:
        """(who, bubble text) for every message shown."""
        result = []
        for row in self.rows.all():
            who = "bot" if "bot" in (row.get_attribute("class") or "") else "customer"
            bubble = row.locator(".bubble")
            result.append((who, bubble.inner_text().strip() if bubble.count() else ""))
        return result

    def session_id(self) -> str:
        return str(self.page.evaluate("window.DeskWidget.sessionId()"))

    def conversation_id(self) -> str:
        """Rasa's id of this widget's conversation, as the widget connector names it."""
        return rasa_conversation_id("web", self.session_id())

    def watch_typing(self) -> None:
        """Record whether the typing indicator shows at any moment from now on."""
        self.page.evaluate(
            """() => {
                const root = document.querySelector('#desk-widget').shadowRoot;
                const typing = root.querySelector('.typing');
                window.__typingSeen = false;
                new MutationObserver(() => { if (!typing.hidden) window.__typingSeen = true; })
                    .observe(typing, { attributes: true, attributeFilter: ['hidden'] });
            }"""
        )

    def typing_was_seen(self) -> bool:
        return bool(self.page.evaluate("window.__typingSeen"))

    def focused_in_widget(self) -> str | None:
        """The class of the element focused inside the widget, if focus is there."""
        return self.page.evaluate(
            """() => {
                const host = document.querySelector('#desk-widget');
                if (document.activeElement !== host) return null;
                const inner = host.shadowRoot.activeElement;
                return inner ? inner.className : null;
            }"""
        )


def demo_url(desk: Desk, lang: str) -> str:
    return f"{desk.api_url}/widget/demo.html?lang={lang}&rasa={desk.rasa_url}"


def open_demo(page: Page, desk: Desk, lang: str) -> Widget:
    page.goto(demo_url(desk, lang))
    widget = Widget(page)
    widget.open()
    widget.wait_online()
    return widget


class TestWidgetOnTheDesk:
    def test_demo_page_embeds_the_widget_with_one_script_tag(self, page: Page, desk: Desk) -> None:
        printed = f"{desk.api_url}/widget/demo.html?rasa={desk.rasa_url}"
        assert any(printed in line for line in desk.output), "desk.py does not print the demo URL"
        page.goto(printed + "&lang=en")
        expect(page.locator("h1")).to_have_text("Gigabit fibre that stays up")
        snippet = page.locator("#snippet").inner_text()
        assert snippet.startswith(f'<script src="{desk.api_url}/widget/desk-widget.js"')
        assert f'data-rasa-url="{desk.rasa_url}"' in snippet
        widget = Widget(page)
        expect(widget.launcher).to_have_attribute("aria-label", "Chat with the service desk")
        expect(widget.panel).to_be_hidden()

        page.goto(demo_url(desk, "zh"))
        expect(page.locator("h1")).to_have_text("千兆光纤，稳定到家")
        expect(widget.launcher).to_have_attribute("aria-label", "打开在线客服")

    def test_chinese_customer_opens_a_ticket_and_finds_it_again_after_a_reload(
        self, page: Page, desk: Desk, screenshot: Callable[[Page, str], Path]
    ) -> None:
        widget = open_demo(page, desk, "zh")
        expect(page.locator("#desk-widget .title")).to_have_text("服务台")
        expect(page.locator("#desk-widget .state-label")).to_have_text("在线")
        assert widget.bot_texts() == [
            "您好！我是服务台助手，可以帮您报修、查询工单进度。请描述您遇到的问题。"
        ]

        widget.watch_typing()
        asked = widget.say("我的宽带从昨天开始就连不上了")
        assert widget.typing_was_seen()
        assert any("手机号" in text for text in asked), asked
        answered = widget.say("我的手机是13912345678")
        numbers = TICKET.findall(" ".join(answered))
        assert numbers, answered
        number = numbers[0]

        row = desk.ticket_row(number)
        assert row is not None, f"{number} is not in the database"
        # The card under the answer is the ticket as the desk created it: 王芳 works
        # technical support in Chinese and is online, so it is hers (in progress) at once.
        card = widget.card_under(f"已为您创建工单 {number}")
        expect(card.locator(".ticket-number")).to_have_text(number)
        assert row.status == "open"
        expect(card).to_have_attribute("data-ticket-status", "open")
        expect(card.locator(".ticket-status")).to_have_text("处理中")
        expect(card).to_have_attribute("aria-label", f"工单 {number}, 状态: 处理中")
        # The customer's words, then the day they named ("昨天") as an ISO date.
        yesterday = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
        assert (row.channel, row.language, row.description) == (
            "web",
            "zh",
            f"我的宽带从昨天开始就连不上了\n\n发生日期: {yesterday.isoformat()}",
        )

        # Rasa's conversation is the widget's session, and each message carries its id.
        session_id = widget.session_id()
        events = desk.tracker(widget.conversation_id())["events"]
        user_events = [e for e in events if e["event"] == "user"]
        assert [e["text"] for e in user_events] == [
            "我的宽带从昨天开始就连不上了",
            "我的手机是13912345678",
        ]
        assert all(e["input_channel"] == "socketio" for e in user_events)
        assert all(re.fullmatch(r"[0-9a-f]{32}", e["metadata"]["message_id"]) for e in user_events)
        screenshot(page, "zh-desktop-ticket")

        before = widget.transcript()
        page.reload()
        # The chat was open, so it opens again, with the same session and messages.
        expect(widget.panel).to_be_visible()
        # The same messages in the same order; the only addition may be the desk's notice
        # that an agent took the ticket, pushed by the relay while the page reloaded.
        after = widget.transcript()
        assert after[: len(before)] == before
        assert all(who == "bot" and "已由客服" in text for who, text in after[len(before) :]), after
        assert widget.session_id() == session_id
        expect(widget.cards.last.locator(".ticket-number")).to_have_text(number)
        widget.wait_online()

        status = widget.say(f"{number} 现在什么进度")
        # 王芳 works technical support in Chinese and is online: the ticket is hers already.
        assert any(number in text and "客服已经接手" in text for text in status), status
        card = widget.card_under(next(text for text in status if number in text))
        expect(card).to_have_attribute("data-ticket-status", "open")
        expect(card.locator(".ticket-status")).to_have_text("处理中")
        screenshot(page, "zh-desktop-ticket-status")

    def test_english_customer_on_a_phone(
        self, new_page: Callable[..., Page], desk: Desk, screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page(
            viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True, device_scale_factor=2
        )
        page.goto(demo_url(desk, "en"))
        widget = Widget(page)
        screenshot(page, "en-phone-closed")
        widget.launcher.tap()
        expect(widget.panel).to_be_visible()
        widget.wait_online()
        box = widget.panel.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (
            0,
            0,
            PHONE["width"],
            PHONE["height"],
        )
        expect(widget.launcher).to_be_hidden()

        asked = widget.say("my internet has been down since yesterday")
        assert any("phone" in text or "e-mail" in text for text in asked), asked
        answered = widget.say("13800138000")
        number = TICKET.findall(" ".join(answered))[0]
        row = desk.ticket_row(number)
        assert row is not None and (row.channel, row.language) == ("web", "en")
        # Each card shows the ticket as the desk had it when the bot answered.
        labels = {
            "new": "Received",
            "open": "In progress",
            "pending": "Waiting for you",
            "escalated": "Escalated",
        }
        created = widget.card_under(f"I've opened ticket {number}")
        expect(created.locator(".ticket-number")).to_have_text(number)
        expect(created).to_have_attribute("data-ticket-status", row.status)
        expect(created.locator(".ticket-status")).to_have_text(labels[row.status])
        expect(created).to_have_attribute(
            "aria-label", f"Ticket {number}, Status: {labels[row.status]}"
        )

        status = widget.say(f"what's the status of {number}")
        answer = next(text for text in status if number in text)
        now = desk.ticket_row(number)
        assert now is not None
        card = widget.card_under(answer)
        expect(card.locator(".ticket-number")).to_have_text(number)
        expect(card).to_have_attribute("data-ticket-status", now.status)
        expect(card.locator(".ticket-status")).to_have_text(labels[now.status])
        screenshot(page, "en-phone-ticket")

        widget.input.press("Escape")
        expect(widget.panel).to_be_hidden()
        expect(widget.launcher).to_be_visible()
        assert widget.focused_in_widget() == "launcher"

    def test_buttons_from_the_bot_send_their_payload_and_show_their_title(
        self, page: Page, desk: Desk, screenshot: Callable[[Page, str], Path]
    ) -> None:
        widget = open_demo(page, desk, "en")
        widget.say("hello")

        desk.push_bot_message(
            widget.conversation_id(),
            "Did that answer your question?",
            buttons=[
                {"title": "Yes, thanks", "payload": "/affirm"},
                {"title": "Not really", "payload": "/deny"},
            ],
        )
        buttons = page.locator("#desk-widget .quick-reply")
        expect(buttons).to_have_count(2)
        expect(buttons).to_have_text(["Yes, thanks", "Not really"])
        screenshot(page, "en-desktop-buttons")

        before = widget.bot_rows.count()
        buttons.first.click()
        expect(widget.customer_rows.last.locator(".bubble")).to_have_text("Yes, thanks")
        expect(widget.customer_rows.last).to_have_attribute("data-status", "sent")
        expect(widget.bot_rows).to_have_count(before + 1)
        assert widget.bot_texts()[-1] == "All right. What can I do for you?"
        expect(buttons.first).to_be_disabled()
        expect(buttons.first).to_have_attribute("aria-pressed", "true")
        expect(buttons.last).to_be_disabled()
        events = desk.tracker(widget.conversation_id())["events"]
        user_texts = [e["text"] for e in events if e["event"] == "user"]
        assert user_texts[-1] == "/affirm"

    def test_a_message_the_desk_sends_shows_a_card_only_with_the_tickets_data(
        self, page: Page, desk: Desk
    ) -> None:
        widget = open_demo(page, desk, "zh")
        widget.say("你好")
        cards_before = widget.cards.count()
        # Words that read like a status answer, without the data: no card.
        desk.push_bot_message(widget.conversation_id(), "工单 SD-100777已解决。")
        expect(widget.bot_rows.last.locator(".bubble")).to_have_text("工单 SD-100777已解决。")
        expect(widget.cards).to_have_count(cards_before)
        # The same words with the ticket as data (Rasa's custom payload): its card.
        desk.push_bot_message(
            widget.conversation_id(),
            "工单 SD-100778已解决。",
            custom={"ticket": "SD-100778", "status": "resolved"},
        )
        expect(widget.cards).to_have_count(cards_before + 1)
        card = widget.bot_rows.last.locator(".ticket-card")
        expect(card).to_have_attribute("data-ticket", "SD-100778")
        expect(card.locator(".ticket-status")).to_have_text("已解决")
        # Kept with the history: the card is there again after a reload.
        page.reload()
        expect(widget.panel).to_be_visible()
        expect(widget.cards).to_have_count(cards_before + 1)
        expect(widget.cards.last).to_have_attribute("data-ticket-status", "resolved")

    def test_bot_text_is_shown_as_text_and_links_open_safely(self, page: Page, desk: Desk) -> None:
        widget = open_demo(page, desk, "en")
        widget.say("hello")
        hostile = (
            '<img src=x onerror="window.__xss=1"><b>bold</b>'
            " Help: https://example.com/help?a=1. javascript:alert(1)"
            " [our guide](https://example.com/guide) [trap](javascript:alert(3)) www.example.org."
        )
        desk.push_bot_message(widget.conversation_id(), hostile, image="javascript:alert(2)")

        bubble = widget.bot_rows.last.locator(".bubble")
        expect(bubble).to_contain_text('<img src=x onerror="window.__xss=1"><b>bold</b> Help:')
        expect(bubble).to_contain_text("javascript:alert(1) our guide [trap](javascript:alert(3))")
        assert bubble.locator("img, b").count() == 0
        assert widget.bot_rows.last.locator("img").count() == 0
        links = bubble.locator("a")
        expect(links).to_have_count(3)
        assert links.evaluate_all("as => as.map(a => [a.textContent, a.href])") == [
            ["https://example.com/help?a=1", "https://example.com/help?a=1"],
            ["our guide", "https://example.com/guide"],
            ["www.example.org", "https://www.example.org/"],
        ]
        for link in links.all():
            expect(link).to_have_attribute("target", "_blank")
            assert "noopener" in (link.get_attribute("rel") or "")
        assert page.evaluate("window.__xss") is None

    def test_messages_pushed_while_the_chat_is_closed_raise_a_badge(
        self, page: Page, desk: Desk
    ) -> None:
        widget = open_demo(page, desk, "zh")
        widget.say("你好")
        widget.launcher.click()
        expect(widget.panel).to_be_hidden()

        desk.push_bot_message(widget.conversation_id(), "客服王芳已接手您的问题，请稍候。")
        badge = page.locator("#desk-widget .badge")
        expect(badge).to_be_visible()
        expect(badge).to_have_text("1")
        expect(widget.launcher).to_have_attribute("aria-label", "打开在线客服 (1 条新消息)")

        widget.launcher.click()
        expect(badge).to_be_hidden()
        assert widget.bot_texts()[-1] == "客服王芳已接手您的问题，请稍候。"

    def test_notices_pushed_while_the_page_was_closed_show_once_in_order_when_it_opens(
        self, page: Page, desk: Desk
    ) -> None:
        widget = open_demo(page, desk, "zh")
        widget.say("你好")
        conversation = widget.conversation_id()
        context: BrowserContext = page.context
        page.goto("about:blank")  # the customer left the site

        texts = ["工单 SD-100001 已由客服王芳负责。", "工单 SD-100001 需要您补充一些信息。"]
        for index, text in enumerate(texts):
            pushed = httpx.post(
                f"{desk.rasa_url}/webhooks/socketio/push",
                headers=desk.rasa_headers,
                json={
                    "push_id": 900_000 + index,
                    "conversation_id": conversation,
                    "text": text,
                    "ticket_number": "SD-100001",
                    "notice": "assigned" if index == 0 else "waiting",
                },
                timeout=30,
            )
            assert pushed.json() == {"status": "sent", "via": "socket"}

        again = context.new_page()
        widget = open_demo(again, desk, "zh")
        expect(widget.bot_rows.last).to_contain_text(texts[1])

        def shown() -> list[str]:
            # Each bubble starts with its text (a ticket card follows the number).
            return [
                text for bubble in widget.bot_texts() for text in texts if bubble.startswith(text)
            ]

        assert shown() == texts
        # Reloaded: shown from the history, not fetched a second time.
        again.reload()
        widget = Widget(again)
        widget.open()
        widget.wait_online()
        again.wait_for_timeout(1000)
        assert shown() == texts

    def test_progress_from_the_desk_reaches_a_widget_that_was_closed(
        self, page: Page, desk: Desk
    ) -> None:
        # The whole path: the API's rules write the notices, its relay hands them to
        # Rasa's widget channel, the widget fetches them when the customer comes back.
        widget = open_demo(page, desk, "zh")
        widget.say("你好")
        session = widget.session_id()
        context: BrowserContext = page.context
        page.goto("about:blank")

        opened = httpx.post(
            f"{desk.api_url}/api/v1/tickets",
            json={
                "customer": {"channel": "web", "external_id": session, "language": "zh"},
                "description": "家里的宽带从昨晚开始就连不上了",
                "category": "technical_support",
                "channel": "web",
                "language": "zh",
            },
            headers={
                "Authorization": f"Bearer {desk.secret('DESK_SERVICE_TOKEN')}",
                "X-Desk-Channel": "web",
                "X-Desk-Sender": session,
            },
            timeout=30,
        )
        assert opened.status_code == 201, opened.text
        ticket = opened.json()
        assert ticket["assignee"] == "wang.fang"  # the demo's online agent: "assigned"
        pending = httpx.patch(
            f"{desk.api_url}/api/v1/tickets/{ticket['number']}",
            json={"version": ticket["version"], "status": "pending"},
            headers=desk.staff_headers("zhao.min"),
            timeout=30,
        )
        assert pending.status_code == 200, pending.text

        def sent() -> bool:
            read = httpx.get(
                f"{desk.api_url}/api/v1/tickets/{ticket['number']}",
                headers=desk.staff_headers("zhao.min"),
                timeout=30,
            ).json()
            states = [m["delivery"] for m in read["messages"] if m["author_name"] == "notice"]
            return len(states) == 2 and all(s["status"] == "sent" for s in states)

        for _ in range(60):
            if sent():
                break
            page.wait_for_timeout(500)
        else:
            raise AssertionError("the relay did not deliver both notices")

        again = context.new_page()
        widget = open_demo(again, desk, "zh")
        expect(widget.bot_rows.last).to_contain_text("需要您补充一些信息")
        notices = [t for t in widget.bot_texts() if t.startswith(f"工单 {ticket['number']}")]
        assert len(notices) == 2
        assert "已由客服王芳负责" in notices[0] and "需要您补充一些信息" in notices[1]

    def test_messages_typed_offline_are_sent_in_order_after_reconnecting(
        self, page: Page, desk: Desk, screenshot: Callable[[Page, str], Path]
    ) -> None:
        widget = open_demo(page, desk, "zh")
        context: BrowserContext = page.context
        first, second = desk.ticket_row("SD-100001"), desk.ticket_row("SD-100003")
        assert first is not None and second is not None

        context.set_offline(True)
        expect(widget.panel).to_have_attribute("data-connection", "offline")
        expect(widget.banner).to_have_text("网络已断开，消息会在恢复连接后发送")
        before = widget.bot_rows.count()
        widget.send("SD-100001 现在什么进度")
        widget.send("SD-100003 现在什么进度")
        queued = widget.customer_rows
        expect(queued).to_have_count(2)
        for row in queued.all():
            expect(row).to_have_attribute("data-status", "queued")
            expect(row.locator(".delivery")).to_have_text("发送中…")
        page.wait_for_timeout(1500)
        assert widget.bot_rows.count() == before
        screenshot(page, "zh-desktop-offline")

        context.set_offline(False)
        widget.wait_online()
        expect(widget.banner).to_have_text("已重新连接")
        for row in queued.all():
            expect(row).to_have_attribute("data-status", "sent")
            expect(row.locator(".delivery")).to_have_text("")
        expect(widget.typing).to_be_hidden()
        replies = [text for text in widget.bot_texts()[before:] if TICKET.search(text)]
        assert [TICKET.findall(text)[0] for text in replies] == ["SD-100001", "SD-100003"], replies
        # Both are other customers' tickets: the bot answers only for this conversation's
        # customer, exactly as for numbers that do not exist.
        assert all("没有找到工单" in text for text in replies), replies

    def test_desk_unreachable_keeps_messages_across_a_reload_until_it_is_back(
        self, page: Page, desk: Desk
    ) -> None:
        context = page.context
        blocked = re.compile(r"/socket\.io/")
        context.route(blocked, lambda route: route.abort("connectionrefused"))
        page.goto(demo_url(desk, "en"))
        widget = Widget(page)
        widget.open()
        expect(widget.panel).to_have_attribute("data-connection", "offline")
        expect(widget.banner).to_have_text("Can't reach the service desk right now, retrying…")
        widget.send("what's the status of SD-100002")
        expect(widget.customer_rows.last).to_have_attribute("data-status", "queued")

        page.reload()
        expect(widget.panel).to_be_visible()
        expect(widget.customer_rows).to_have_count(1)
        expect(widget.customer_rows.last).to_have_attribute("data-status", "queued")
        expect(widget.customer_rows.last.locator(".delivery")).to_have_text("Sending…")

        context.unroute(blocked)
        widget.wait_online()
        expect(widget.customer_rows.last).to_have_attribute("data-status", "sent")
        expect(widget.bot_rows.last.locator(".bubble")).to_contain_text("SD-100002")


# ---------------------------------------------------------------- without the desk


def embed(site: StaticSite, name: str, attributes: str, head: str = "", body: str = "") -> str:
    """A page of a made-up company that embeds the widget with the given attributes."""
    return site.add_page(
        name,
        f"""<!doctype html><html><head><meta charset="utf-8"><title>{name}</title>{head}</head>
        <body>{body}<script src="/widget/desk-widget.js" {attributes}></script></body></html>""",
    )


@pytest.fixture
def nowhere() -> str:
    """A Rasa URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


class TestWidgetOnAnySite:
    def test_ticket_cards_come_from_the_data_and_are_kept_with_the_history(
        self,
        page: Page,
        static_site: StaticSite,
        nowhere: str,
        screenshot: Callable[[Page, str], Path],
    ) -> None:
        key = f"desk-widget:v1:{nowhere}:history"
        ts = 1_700_000_000_000
        saved = [
            # A ticket created, with its card; then a status answer, with its card.
            {
                "id": "a",
                "from": "bot",
                "ts": ts,
                "text": "I've opened ticket SD-123456 for you.",
                "card": {"number": "SD-123456", "status": "new"},
            },
            {
                "id": "b",
                "from": "bot",
                "ts": ts + 1,
                "text": "工单 SD-123456正在处理中，客服已经接手。",
                "card": {"number": "SD-123456", "status": "open"},
            },
            # The words of a status answer without the data: no card.
            {
                "id": "c",
                "from": "bot",
                "ts": ts + 2,
                "text": "Ticket SD-654321 has been escalated.",
            },
            # A notice about a ticket (the number, no status).
            {
                "id": "d",
                "from": "bot",
                "ts": ts + 3,
                "text": "SD-123456: Wang Fang is on it.",
                "card": {"number": "SD-123456", "status": None},
            },
            # A card someone edited by hand is not the widget's: the message is dropped.
            {
                "id": "e",
                "from": "bot",
                "ts": ts + 4,
                "text": "x",
                "card": {"number": "<img src=x onerror=alert(1)>", "status": "new"},
            },
            {
                "id": "f",
                "from": "bot",
                "ts": ts + 5,
                "text": "y",
                "card": {"number": "SD-1", "status": "hacked"},
            },
        ]
        page.add_init_script(
            f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(saved))})"
        )
        page.goto(embed(static_site, "cards.html", f'data-rasa-url="{nowhere}" data-lang="en"'))
        widget = Widget(page)
        widget.open()
        assert widget.bot_texts() == [m["text"] for m in saved[:4]]
        expect(widget.cards).to_have_count(3)
        cards = [
            (
                card.get_attribute("data-ticket"),
                card.get_attribute("data-ticket-status"),
                card.get_attribute("aria-label"),
            )
            for card in widget.cards.all()
        ]
        assert cards == [
            ("SD-123456", "new", "Ticket SD-123456, Status: Received"),
            ("SD-123456", "open", "Ticket SD-123456, Status: In progress"),
            ("SD-123456", None, "Ticket SD-123456"),
        ]
        # Each card sits under the text it came with.
        rows = widget.bot_rows
        assert [rows.nth(i).locator(".ticket-card").count() for i in range(4)] == [1, 1, 0, 1]
        screenshot(page, "en-desktop-cards-from-data")
        assert page.evaluate("typeof window.DeskWidget.readTicketCards") == "undefined"

    def test_an_embed_without_a_usable_rasa_url_says_why(
        self, new_page: Callable[..., Page], page_logs: dict[Page, PageLog], static_site: StaticSite
    ) -> None:
        for name, attributes, complaint in [
            ("missing.html", 'data-lang="zh"', "data-rasa-url is missing"),
            ("script.html", 'data-rasa-url="javascript:alert(1)"', "must be an http or https URL"),
        ]:
            page = new_page()
            page.goto(embed(static_site, name, attributes))
            page.wait_for_load_state("load")
            errors = page_logs[page].messages("error")
            assert any("[desk-widget] not started" in e and complaint in e for e in errors), errors
            assert page.locator("#desk-widget").count() == 0
            assert page.evaluate("typeof window.DeskWidget") == "undefined"

    @pytest.mark.parametrize(
        ("attribute", "locale", "label", "warned"),
        [
            ('data-lang="en"', "zh-CN", "Chat with the service desk", False),
            ('data-lang="zh"', "en-US", "打开在线客服", False),
            ('data-lang="auto"', "zh-CN", "打开在线客服", False),
            ("", "en-US", "Chat with the service desk", False),
            ('data-lang="fr"', "zh-TW", "打开在线客服", True),
        ],
    )
    def test_language_comes_from_data_lang_or_the_browser(
        self,
        new_page: Callable[..., Page],
        page_logs: dict[Page, PageLog],
        static_site: StaticSite,
        nowhere: str,
        attribute: str,
        locale: str,
        label: str,
        warned: bool,
    ) -> None:
        page = new_page(locale=locale)
        page.goto(
            embed(static_site, f"lang-{locale}.html", f'data-rasa-url="{nowhere}" {attribute}')
        )
        expect(Widget(page).launcher).to_have_attribute("aria-label", label)
        warnings = [w for w in page_logs[page].messages("warning") if "data-lang" in w]
        assert bool(warnings) == warned, warnings

    def test_the_host_page_keeps_its_globals_and_styles(
        self, page: Page, static_site: StaticSite, nowhere: str
    ) -> None:
        head = """<style>* { font-size: 40px !important; color: red !important; }
                  div { border: 5px solid blue; }</style>
                  <script>window.io = "the page's own io";
                  window.define = function () { window.amdCalled = true; };
                  window.define.amd = {};</script>"""
        page.goto(
            embed(static_site, "host.html", f'data-rasa-url="{nowhere}" data-lang="en"', head=head)
        )
        widget = Widget(page)
        widget.open()
        # Opening connects, which loads the vendored socket.io client.
        expect(widget.panel).to_have_attribute("data-connection", "offline")
        assert page.evaluate("window.io") == "the page's own io"
        assert page.evaluate("window.amdCalled") is None
        assert page.evaluate("typeof window.define") == "function"

        bubble = widget.bot_rows.first.locator(".bubble")
        style = bubble.evaluate(
            "b => { const s = getComputedStyle(b);"
            " return [s.fontSize, s.color, s.borderTopWidth]; }"
        )
        assert style == ["15px", "rgb(25, 25, 25)", "0px"]
        host = widget.host.evaluate("h => [getComputedStyle(h).borderTopWidth, h.offsetHeight]")
        assert host == ["0px", 0]

    def test_a_damaged_saved_conversation_starts_afresh(
        self, page: Page, static_site: StaticSite, nowhere: str
    ) -> None:
        page.add_init_script(
            f"""for (const name of ["history", "session"]) {{
                const damaged = name === "history" ? "{{not json" : "[1,2]";
                localStorage.setItem("desk-widget:v1:{nowhere}:" + name, damaged);
            }}"""
        )
        page.goto(embed(static_site, "damaged.html", f'data-rasa-url="{nowhere}" data-lang="en"'))
        widget = Widget(page)
        widget.open()
        # Only the widget's own welcome: the damaged history is gone, a new session begins.
        assert [who for who, _text in widget.transcript()] == ["bot"]
        assert widget.bot_texts()[0].startswith("Hi! I'm the service desk assistant.")
        assert re.fullmatch(r"[0-9a-f]{32}", widget.session_id())

    def test_saved_history_keeps_the_last_100_messages(
        self, page: Page, static_site: StaticSite, nowhere: str
    ) -> None:
        key = f"desk-widget:v1:{nowhere}:history"
        saved = [
            {"id": f"m{i}", "from": "bot", "text": f"message {i}", "ts": 1_700_000_000_000 + i}
            for i in range(100)
        ]
        page.add_init_script(
            f"if (!sessionStorage.getItem('seeded')) {{"
            f" localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(saved))});"
            f" sessionStorage.setItem('seeded', '1'); }}"
        )
        page.goto(embed(static_site, "bounded.html", f'data-rasa-url="{nowhere}" data-lang="en"'))
        widget = Widget(page)
        widget.open()
        expect(widget.rows).to_have_count(100)
        widget.send("one more")
        stored = json.loads(page.evaluate(f"localStorage.getItem({json.dumps(key)})"))
        assert len(stored) == 100
        assert stored[0]["text"] == "message 1"
        assert (stored[-1]["text"], stored[-1]["status"]) == ("one more", "queued")
        expect(widget.rows).to_have_count(100)

    def test_a_missing_socket_io_client_is_reported(
        self, page: Page, page_logs: dict[Page, PageLog], static_site: StaticSite, nowhere: str
    ) -> None:
        page.route("**/vendor/socket.io.min.js", lambda route: route.fulfill(status=404))
        page.goto(embed(static_site, "novendor.html", f'data-rasa-url="{nowhere}" data-lang="zh"'))
        widget = Widget(page)
        widget.open()
        expect(widget.banner).to_have_text("聊天组件加载失败，请稍后刷新页面")
        expect(widget.panel).to_have_attribute("data-connection", "offline")
        errors = page_logs[page].messages("error")
        assert any("[desk-widget] could not load" in e and "socket.io.min.js" in e for e in errors)

    def test_keyboard_enter_sends_shift_enter_breaks_escape_closes(
        self, page: Page, static_site: StaticSite, nowhere: str
    ) -> None:
        page.goto(embed(static_site, "keys.html", f'data-rasa-url="{nowhere}" data-lang="en"'))
        widget = Widget(page)
        page.keyboard.press("Tab")
        assert widget.focused_in_widget() == "launcher"
        page.keyboard.press("Enter")
        expect(widget.panel).to_be_visible()
        expect(widget.input).to_be_focused()
        expect(page.locator("#desk-widget .log")).to_have_attribute("aria-live", "polite")

        widget.input.type("first line")
        widget.input.press("Shift+Enter")
        widget.input.type("second line")
        expect(widget.input).to_have_value("first line\nsecond line")
        widget.input.press("Enter")
        expect(widget.customer_rows.last.locator(".bubble")).to_have_text("first line\nsecond line")
        expect(widget.input).to_have_value("")
        expect(page.locator("#desk-widget .send")).to_be_disabled()

        page.keyboard.press("Escape")
        expect(widget.panel).to_be_hidden()
        assert widget.focused_in_widget() == "launcher"
        saved = page.evaluate(f"localStorage.getItem('desk-widget:v1:{nowhere}:history')")
        assert [m["text"] for m in json.loads(saved) if m["from"] == "customer"] == [
            "first line\nsecond line"
        ]
