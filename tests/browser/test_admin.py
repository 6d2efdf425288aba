"""The staff administration page in a real browser against the running desk, in both languages."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support_desk import Desk, read_env_file

TEMPORARY = "temporary password 1"
CHOSEN = "my own password 42"


def demo_password(desk: Desk) -> str:
    return read_env_file(desk.run_dir / "desk.env")["DESK_DEMO_PASSWORD"]


def log_in(page: Page, desk: Desk, username: str, password: str, lang: str) -> None:
    page.add_init_script(f"localStorage.setItem('desk.staff.lang', '{lang}')")
    page.goto(f"{desk.api_url}/admin/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login button[type=submit]")
    expect(page.locator("#app")).to_be_visible()


def test_an_admin_creates_edits_and_deactivates_an_agent_who_then_sets_a_password(
    desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    username = f"li.{uuid.uuid4().hex[:6]}"
    page = new_page()
    log_in(page, desk, "admin", demo_password(desk), "zh")
    expect(page.locator("#staff tr[data-username=wang\\.fang]")).to_contain_text("坐席")
    create = page.locator("#create")
    create.locator("input[name=username]").fill(username)
    create.locator("input[name=display_name]").fill("李娜")
    create.locator("input[name=password]").fill(TEMPORARY)
    create.locator("[data-choices=queues] input[value=technical_support]").check()
    create.locator("button[type=submit]").click()
    expect(page.locator("#toast")).to_contain_text("首次登录须修改密码")
    row = page.locator(f"#staff tr[data-username='{username}']")
    expect(row).to_contain_text("须改密码")
    expect(row).to_contain_text("技术支持")

    page.click(f"[data-testid='edit-{username}']")
    page.fill("#edit input[name=capacity]", "3")
    page.check("#edit [data-choices=languages] input[value=en]")
    page.click("#edit button[value=ok]")
    expect(page.locator("#toast")).to_contain_text("已保存")
    expect(row).to_contain_text("0 / 3")
    expect(row).to_contain_text("中文, 英文")
    screenshot(page, "admin-zh")

    # The new person logs in with the temporary password and must choose their own.
    newcomer = new_page()
    log_in(newcomer, desk, username, TEMPORARY, "en")
    expect(newcomer.locator("#password-form")).to_be_visible()
    newcomer.fill("#password-form input[name=current_password]", TEMPORARY)
    newcomer.fill("#password-form input[name=new_password]", CHOSEN)
    newcomer.click("#password-form button[type=submit]")
    expect(newcomer.locator("#toast")).to_have_text("Password changed")
    expect(newcomer.locator("#password-form")).to_be_hidden()
    # An agent then sees that administration is not theirs.
    expect(newcomer.locator("#forbidden")).to_have_text("Only supervisors and admins manage staff.")
    expect(newcomer.locator("#admin")).to_be_hidden()

    page.reload()
    expect(row).not_to_contain_text("须改密码")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid='deactivate-{username}']")
    expect(page.locator("#toast")).to_contain_text("已停用")
    expect(row).to_have_class("inactive")
    expect(page.locator(f"[data-testid='reactivate-{username}']")).to_be_visible()
    page.click("#app [data-action=lang]")
    expect(row).to_contain_text("Deactivated")
    screenshot(page, "admin-en")


def test_a_supervisor_cannot_grant_admin_or_touch_an_admin(
    desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page()
    log_in(page, desk, "zhao.min", demo_password(desk), "en")
    options = page.locator("#create select[name=role] option")
    expect(options).to_have_text(["Agent", "Supervisor"])
    admin_row = page.locator("#staff tr[data-username=admin]")
    expect(admin_row).to_contain_text("Admin")
    expect(admin_row.locator("button")).to_have_count(0)
    # Even a forged request from this page is refused by the API, and said so.
    page.evaluate(
        """async () => {
          const { api } = await import('/staff/desk.js');
          try { await api('/admin/staff', { method: 'POST', body: {
            username: 'eve.x', display_name: 'Eve', role: 'admin', languages: ['en'],
            password: 'temporary password 9' } }); return 'created'; }
          catch (problem) { document.body.dataset.refused = problem.code; }
        }"""
    )
    expect(page.locator("body")).to_have_attribute("data-refused", "admin_required")
    screenshot(page, "admin-supervisor-en")


def test_a_stale_edit_is_refused_and_reloaded(desk: Desk, new_page: Callable[..., Page]) -> None:
    """A stale edit (someone else changed the account meanwhile) is reloaded, not lost."""
    page = new_page()
    log_in(page, desk, "admin", demo_password(desk), "en")
    expect(page.locator("#staff tr[data-username=sam\\.taylor]")).to_be_visible()
    page.click("[data-testid='edit-sam.taylor']")
    # Another admin changes the account while this dialog is open.
    page.evaluate(
        """async () => {
          const { api } = await import('/staff/desk.js');
          const rows = await api('/admin/staff');
          const sam = rows.find((r) => r.username === 'sam.taylor');
          await api('/admin/staff/sam.taylor', { method: 'PATCH',
            body: { version: sam.version, capacity: 7 } });
        }"""
    )
    page.fill("#edit input[name=capacity]", "2")
    page.click("#edit button[value=ok]")
    expect(page.locator("#toast")).to_contain_text("changed this account meanwhile")
    expect(page.locator("#staff tr[data-username=sam\\.taylor]")).to_contain_text("/ 7")


def test_an_admin_edits_routing_and_a_bad_rule_is_refused_with_its_field(
    desk: Desk, new_page: Callable[..., Page], screenshot: Callable[[Page, str], Path]
) -> None:
    page = new_page()
    log_in(page, desk, "admin", demo_password(desk), "en")
    box = page.locator("#routing textarea")
    expect(box).to_have_value(re.compile('"billing"'))
    policy = json.loads(box.input_value())
    version = page.locator("#routing-version").inner_text()
    broken = json.loads(json.dumps(policy))
    broken["categories"]["billing"]["queue"] = "nowhere"
    box.fill(json.dumps(broken, indent=2))
    page.click("#routing button[type=submit]")
    expect(page.locator("#routing-error")).to_contain_text("undefined queues")
    expect(page.locator("#routing-error")).to_contain_text("policy.categories")
    expect(page.locator("#routing-version")).to_have_text(version)  # nothing saved
    screenshot(page, "admin-routing-refused-en")
    policy["sla"]["urgent"]["first_response"] = 10
    box.fill(json.dumps(policy, indent=2))
    page.click("#routing button[type=submit]")
    expect(page.locator("#toast")).to_have_text("Routing saved: in force now")
    expect(page.locator("#routing-version")).to_contain_text("by admin")
    assert json.loads(box.input_value())["sla"]["urgent"]["first_response"] == 10


def test_a_supervisor_edits_canned_replies_and_a_bad_one_is_refused(
    desk: Desk, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    log_in(page, desk, "zhao.min", demo_password(desk), "en")
    box = page.locator("#canned textarea")
    expect(box).to_have_value(re.compile('"zh"'))
    replies = json.loads(box.input_value())
    box.fill(json.dumps({**replies, "en": [{"title": "", "body": "x"}]}))
    page.click("#canned button[type=submit]")
    expect(page.locator("#canned-error")).to_contain_text("replies.en[0].title")
    title = f"Thanks {uuid.uuid4().hex[:4]}"
    replies["en"] = [{"title": title, "body": "Thank you for waiting."}, *replies["en"]]
    box.fill(json.dumps(replies))
    page.click("#canned button[type=submit]")
    expect(page.locator("#toast")).to_have_text("Canned replies saved")
    expect(page.locator("#canned-version")).to_contain_text("by zhao.min")
    # What the agent console reads (GET /api/v1/canned) is the new set.
    headers = {
        "Authorization": page.evaluate("`Bearer ${sessionStorage.getItem('desk.staff.token')}`")
    }
    found = page.request.get(f"{desk.api_url}/api/v1/canned", headers=headers).json()
    assert found["replies"]["en"][0]["title"] == title
