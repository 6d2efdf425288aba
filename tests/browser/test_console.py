"""The agent console and the supervisor dashboard in headless Chromium, on a running desk.

The desk (API, actions, Rasa) starts once for the module with its demo data: the six
staff accounts, the four demo tickets and a week of history. Tickets a test needs are
opened the way the bot opens them, through the API with the service token.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.support_browser import SCREENSHOTS
from tests.support_desk import Desk, read_env_file

ACTIVE = "('new', 'open', 'pending', 'escalated')"
HOLDER = (
    "SELECT a.username FROM tickets t JOIN agents a ON a.id = t.assignee_id WHERE t.number = :n"
)


def secrets(desk: Desk) -> dict[str, str]:
    return read_env_file(desk.run_dir / "desk.env")


def staff_token(desk: Desk, username: str) -> str:
    response = httpx.post(
        f"{desk.api_url}/api/v1/auth/login",
        json={"username": username, "password": secrets(desk)["DESK_DEMO_PASSWORD"]},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def set_presence(desk: Desk, username: str, presence: str) -> None:
    response = httpx.put(
        f"{desk.api_url}/api/v1/agents/me/presence",
        json={"presence": presence},
        headers={"Authorization": f"Bearer {staff_token(desk, username)}"},
        timeout=30,
    )
    response.raise_for_status()


def open_ticket_as_bot(desk: Desk, description: str, category: str = "technical_support") -> str:
    """Open a ticket the way the action server does; returns its number."""
    sender = f"browser-{uuid.uuid4().hex[:8]}"
    response = httpx.post(
        f"{desk.api_url}/api/v1/tickets",
        json={
            "customer": {"channel": "rest", "external_id": sender, "language": "zh"},
            "description": description,
            "category": category,
            "channel": "rest",
            "language": "zh",
        },
        headers={
            "Authorization": f"Bearer {secrets(desk)['DESK_SERVICE_TOKEN']}",
            "X-Desk-Channel": "rest",
            "X-Desk-Sender": sender,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["number"])


def log_in(page: Page, desk: Desk, path: str, username: str, lang: str = "zh") -> None:
    page.add_init_script(f"localStorage.setItem('desk.staff.lang', '{lang}')")
    page.goto(f"{desk.api_url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", secrets(desk)["DESK_DEMO_PASSWORD"])
    page.click("#login button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=15_000)


def db_value(desk: Desk, sql: str, **params: object) -> object:
    with desk.engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar()


class TestAgentConsole:
    def test_log_in_claim_reply_note_and_resolve(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        log_in(page, desk, "/console/", "wang.fang")
        # Away: new tickets wait in the queue instead of being given to her at once.
        with page.expect_response(
            lambda r: r.url.endswith("/agents/me/presence") and r.request.method == "PUT"
        ) as saved:
            page.select_option("#presence", "away")
        assert saved.value.ok, saved.value.status  # the desk knows she is away
        hostile = '宽带断了 <img src=x onerror="window.__xss=1"><b>粗体</b>'
        number = open_ticket_as_bot(desk, hostile)

        # It appears in the queue list without a reload (live events).
        page.click("#tab-queue")
        item = page.locator(f"#ticket-list li[data-number='{number}']")
        expect(item).to_be_visible(timeout=15_000)
        expect(item.locator(".sla")).to_have_class(re.compile("sla-ok"))
        item.click()
        expect(page.locator("#detail-number")).to_have_text(number)
        # Customer text is text, never markup.
        expect(page.locator("#thread .msg").first).to_contain_text(
            '<img src=x onerror="window.__xss=1">'
        )
        assert page.evaluate("window.__xss") is None
        assert page.locator("#thread img, #thread b").count() == 0
        screenshot(page, "console-zh-unclaimed")

        page.click("#claim")
        expect(page.locator("#detail-assignee")).to_contain_text("wang.fang")
        # It moves to "my tickets", which the console now shows.
        expect(page.locator("#tab-mine")).to_have_attribute("aria-selected", "true")
        expect(page.locator(f"#ticket-list li[data-number='{number}']")).to_be_visible()

        # A canned reply, sent with Ctrl+Enter.
        page.select_option("#canned", index=1)
        page.locator("#compose").press("Control+Enter")
        expect(page.locator("#thread .msg.from-agent:not(.internal)")).to_have_count(1)
        # An internal note, chosen with the keyboard ("n").
        page.locator("body").click(position={"x": 5, "y": 790})
        page.keyboard.press("n")
        page.locator("#compose").fill("客户说昨晚开始的，先查光猫")
        page.click("#send")
        expect(page.locator("#thread .msg.internal[data-author=agent]")).to_have_count(1)
        screenshot(page, "console-zh-claimed")

        page.click("#resolve")
        expect(page.locator("#detail-status")).to_have_text("已解决")
        row = desk.ticket_row(number)
        assert row is not None and row.status == "resolved"
        assert (
            db_value(
                desk,
                "SELECT count(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id"
                " WHERE t.number = :n AND m.author_type = 'agent' AND m.public = :public",
                n=number,
                public=False,
            )
            == 1
        )
        assert (
            db_value(
                desk,
                HOLDER,
                n=number,
            )
            == "wang.fang"
        )
        assert db_value(
            desk, "SELECT first_responded_at IS NOT NULL FROM tickets WHERE number = :n", n=number
        ) in (1, True)

    def test_two_agents_race_for_one_ticket(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        set_presence(desk, "wang.fang", "away")
        set_presence(desk, "chen.jie", "away")
        number = open_ticket_as_bot(desk, "路由器一直重启，抢单测试")
        pages = {name: new_page() for name in ("wang.fang", "chen.jie")}
        for name, page in pages.items():
            log_in(page, desk, "/console/", name, lang="zh" if name == "wang.fang" else "en")
            page.click("#tab-queue")
            page.locator(f"#ticket-list li[data-number='{number}']").click()
            expect(page.locator("#claim")).to_be_visible()

        # Both click at (almost) the same moment: requests leave before either hears back.
        for page in pages.values():
            page.evaluate("document.getElementById('claim').click()")
        for page in pages.values():
            expect(page.locator("#detail-assignee")).not_to_contain_text(
                re.compile("未分配|Unassigned"), timeout=15_000
            )
        winner = db_value(
            desk,
            HOLDER,
            n=number,
        )
        assert winner in pages
        loser = next(name for name in pages if name != winner)
        notice = pages[loser].locator("#notice")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text(str(winner))
        expect(notice).to_contain_text(
            re.compile("已被其他坐席领取|Another agent already claimed it")
        )
        assert pages[winner].locator("#notice").count() == 0
        screenshot(pages[loser], f"console-race-loser-{'zh' if loser == 'wang.fang' else 'en'}")

    def test_english_console_masks_the_customer_and_audits_a_reveal(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        log_in(page, desk, "/console/", "wang.fang", lang="en")
        expect(page.locator("#tab-mine")).to_contain_text("My tickets")
        # SD-100001 is wang.fang's; its customer (李雷, seeded) has a phone number.
        page.click("#tab-mine")
        page.locator("#ticket-list li[data-number='SD-100001']").click()
        phone = page.locator("#customer-phone")
        expect(phone).to_have_text("138****5678")
        expect(page.locator("#customer-name")).to_have_text("李*")
        screenshot(page, "console-en")
        audits_before = db_value(desk, "SELECT count(*) FROM audit_log WHERE action = 'reveal'")

        page.click("[data-reveal=phone]")
        dialog = page.locator("#reason-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("textarea").fill("customer asked for a call back")
        dialog.locator("button[value=ok]").click()
        expect(phone).to_have_text("+8613812345678")
        assert db_value(desk, "SELECT count(*) FROM audit_log WHERE action = 'reveal'") == (
            int(audits_before or 0) + 1
        )
        assert (
            db_value(
                desk,
                "SELECT reason FROM audit_log WHERE action = 'reveal' ORDER BY id DESC LIMIT 1",
            )
            == "customer asked for a call back"
        )


class TestSupervisorDashboard:
    def test_numbers_match_the_database_and_reassign(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        log_in(page, desk, "/dashboard/", "zhao.min")
        expect(page.locator("[data-testid=waiting-technical_support]")).to_be_visible()
        with desk.engine.connect() as connection:
            waiting = dict(
                connection.execute(
                    sa.text(
                        "SELECT q.key, count(t.id) FROM queues q LEFT JOIN tickets t"
                        f" ON t.queue_id = q.id AND t.status IN {ACTIVE} AND t.assignee_id IS NULL"
                        " GROUP BY q.key"
                    )
                ).all()
            )
            # The seeded week stops two hours short of seven days: no ticket sits on the edge.
            since = (datetime.now(UTC) - timedelta(days=7)).replace(tzinfo=None)
            week = connection.execute(
                sa.text("SELECT count(*) FROM tickets WHERE created_at >= :since"),
                {"since": since},
            ).scalar()
        for key, count in waiting.items():
            expect(page.locator(f"[data-testid=waiting-{key}]")).to_have_text(str(count))
        expect(page.locator("[data-testid=total-waiting]")).to_have_text(str(sum(waiting.values())))
        expect(page.locator("[data-testid=trend-tickets]")).to_have_text(str(week))
        # The seeded ticket past its SLA is in the breach list.
        breached = page.locator("#risk-table tr[data-number]").first
        expect(breached).to_be_visible()
        screenshot(page, "dashboard-zh")
        page.screenshot(path=str(SCREENSHOTS / "console-dashboard-zh-full.png"), full_page=True)

        number = breached.get_attribute("data-number")
        target = breached.locator("select").input_value()
        breached.locator("button").click()
        expect(page.locator("#toast")).to_contain_text(number or "")
        assert (
            db_value(
                desk,
                HOLDER,
                n=number,
            )
            == target
        )
        # The queue's waiting count follows (live, no reload).
        with desk.engine.connect() as connection:
            key, still_waiting = connection.execute(
                sa.text(
                    "SELECT q.key, (SELECT count(*) FROM tickets w WHERE w.queue_id = q.id"
                    f" AND w.status IN {ACTIVE} AND w.assignee_id IS NULL)"
                    " FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.number = :n"
                ),
                {"n": number},
            ).one()
        expect(page.locator(f"[data-testid=waiting-{key}]")).to_have_text(str(still_waiting))
        # The ticket number links to the console, still logged in (same tab, same session).
        page.locator(f"#risk-table a[href$='{number}']").click()
        expect(page.locator("#detail-number")).to_have_text(number or "")
        expect(page.locator("#detail-assignee")).to_contain_text(target)

    def test_english_dashboard_and_csv_export(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page(accept_downloads=True)
        log_in(page, desk, "/dashboard/", "zhao.min", lang="en")
        expect(page.locator("h2.section").first).to_have_text("Right now")
        expect(page.locator("#chart-hour canvas")).to_be_visible()
        with page.expect_download() as download:
            page.click("#export")
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("number,created_at,channel,queue")
        assert len(lines) - 1 == int(page.locator("[data-testid=trend-tickets]").inner_text())
        screenshot(page, "dashboard-en")
        page.screenshot(path=str(SCREENSHOTS / "console-dashboard-en-full.png"), full_page=True)

    def test_agents_are_refused_the_dashboard(
        self, desk: Desk, new_page: Callable[..., Page]
    ) -> None:
        page = new_page()
        page.add_init_script("localStorage.setItem('desk.staff.lang', 'en')")
        page.goto(f"{desk.api_url}/dashboard/")
        page.fill("input[name=username]", "sam.taylor")
        page.fill("input[name=password]", secrets(desk)["DESK_DEMO_PASSWORD"])
        page.click("#login button[type=submit]")
        expect(page.locator("#forbidden")).to_be_visible()
        expect(page.locator("#dashboard")).to_be_hidden()

    def test_login_page_in_both_languages(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        page.add_init_script("localStorage.setItem('desk.staff.lang', 'zh')")
        page.goto(f"{desk.api_url}/console/")
        expect(page.locator("#login h1")).to_contain_text("坐席工作台")
        screenshot(page, "login-zh")
        page.click("#login [data-action=lang]")
        expect(page.locator("#login h1")).to_contain_text("Agent console")
        page.fill("input[name=username]", "wang.fang")
        page.fill("input[name=password]", "wrong password")
        page.click("#login button[type=submit]")
        expect(page.locator(".login-error")).to_have_text("Wrong username or password")
        screenshot(page, "login-en")


class TestFaqAnswersPage:
    def log_in(self, page: Page, desk: Desk, username: str, lang: str) -> None:
        page.add_init_script(f"localStorage.setItem('desk.staff.lang', '{lang}')")
        page.goto(f"{desk.api_url}/answers/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", secrets(desk)["DESK_DEMO_PASSWORD"])
        page.click("#login button[type=submit]")
        expect(page.locator("#app")).to_be_visible()

    def test_a_supervisor_rewrites_an_answer_and_the_bot_says_it_next(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        self.log_in(page, desk, "zhao.min", "zh")
        expect(page.locator(".explain")).to_contain_text("无需重新训练")
        page.fill("#filter", "refund_time")
        box = page.locator("[data-testid=answer-refund_time-zh]")
        expect(box).to_be_editable()
        edited = f"【{uuid.uuid4().hex[:6]}】退款审核通过后 1 个工作日内原路退回。"
        box.fill(edited)
        page.click("[data-testid=save-refund_time-zh]")
        expect(page.locator("#toast")).to_contain_text("已保存")
        expect(page.locator("section[data-topic=refund_time] .badge.edited")).to_have_count(1)
        screenshot(page, "answers-zh")
        # The next customer who asks gets the new answer: no retraining, no restart.
        assert edited in desk.say(f"answers-{uuid.uuid4().hex[:8]}", "退款多久到账")
        page.click("section[data-topic=refund_time] .lang:first-child button:not(.primary)")
        expect(page.locator("#toast")).to_contain_text("已恢复")
        assert edited not in " ".join(desk.say(f"answers-{uuid.uuid4().hex[:8]}", "退款多久到账"))

    def test_agents_read_answers_but_cannot_change_them(
        self, desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
    ) -> None:
        page = new_page()
        self.log_in(page, desk, "wang.fang", "en")
        expect(page.locator("#readonly")).to_be_visible()
        expect(page.locator("#readonly")).to_have_text(
            "Only supervisors and admins can change answers."
        )
        expect(page.locator("[data-testid=answer-refund_time-en]")).to_be_disabled()
        expect(page.locator("[data-testid=save-refund_time-en]")).to_be_disabled()
        screenshot(page, "answers-en-agent")
