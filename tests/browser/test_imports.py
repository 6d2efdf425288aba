"""The customer-import admin page in headless Chromium, on a real API server (uvicorn).

The page downloads the template, uploads a GB18030 CSV, follows the import's progress
bar to the end, shows the report, and downloads the rejected rows with formulas
escaped; an admin resumes a paused channel; an agent is told the page is not theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from api.app import create_app
from tests.support_service.database import create_schema, empty_database
from tests.support_service.factories import STAFF_PASSWORD, make_settings, make_staff
from tests.support_service.import_files import csv_bytes, id_number, phone, store_export
from ticketing.db import Database
from ticketing.models import Customer, ImportChannel, utcnow
from ticketing.settings import DatabaseSettings


@dataclass
class Api:
    url: str
    database: Database


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with empty_database(tmp_path_factory.mktemp("imports-db"), label="imp") as url:
        database = Database.from_settings(DatabaseSettings(database_url=url))
        create_schema(database.engine)
        with database.sessions() as session:
            make_staff(session, "admin", role="admin", presence="offline")
            make_staff(session, "zhao.min", role="supervisor", presence="offline")
            make_staff(session, "wang.fang", presence="offline")
        # Port 0: the server binds a port the kernel picks, and we read back which.
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(make_settings(url)), host="127.0.0.1", port=0, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # uvicorn offers no event for "started"; its flag is polled
        assert server.started, "the API did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield Api(url=f"http://127.0.0.1:{port}", database=database)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            database.dispose()


def log_in(page: Page, api: Api, username: str) -> None:
    page.goto(f"{api.url}/imports/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#app")).to_be_visible()


def a_big_store_file(rows: int) -> list[list[object]]:
    """Realistic rows plus a few thousand clean ones, so the progress bar has work to show."""
    good: list[list[object]] = [
        [
            f"客户{n}",
            phone(1000 + n),
            f"c{n}@example.com",
            id_number(sequence=n % 1000),
            "门店",
            "",
            "2026-11-01",
        ]
        for n in range(rows)
    ]
    return store_export() + good


def test_an_import_from_the_admin_page(
    page: Page, api_server: Api, tmp_path: Path, screenshot: Callable[[Page, str], Path]
) -> None:
    log_in(page, api_server, "admin")
    expect(page.locator("#channels tbody tr")).to_have_count(11)

    with page.expect_download() as template:
        page.click("[data-testid=template-csv-zh]")
    header = Path(template.value.path()).read_bytes().decode("utf-8-sig").strip()
    assert header == "姓名,手机,邮箱,证件号,渠道,标签,更新时间"

    upload = tmp_path / "门店导出.csv"
    upload.write_bytes(csv_bytes(a_big_store_file(3000), encoding="gb18030"))
    page.set_input_files("input[name=file]", str(upload))
    page.click("#upload button[type=submit]")
    expect(page.locator("#current")).to_be_visible()
    expect(page.locator("[data-testid=import-status]")).to_have_attribute(
        "data-status", "done", timeout=120_000
    )
    expect(page.locator("[data-testid=progress-text]")).to_have_text("100%")
    assert page.locator("#progress").get_attribute("value") == "100"
    expect(page.locator("[data-testid=count-created]")).to_have_text("3003")
    expect(page.locator("[data-testid=count-merged]")).to_have_text("1")
    expect(page.locator("[data-testid=count-rejected]")).to_have_text("6")
    expect(page.locator("#channel-report tr[data-channel=store]")).to_contain_text("3004")
    expect(page.locator("#reasons")).to_contain_text("单元格含公式")
    screenshot(page, "report")

    with page.expect_download() as rejected:
        page.click("#download-rejections")
    exported = Path(rejected.value.path()).read_bytes().decode("utf-8-sig")
    assert "'=HYPERLINK" in exported and "\n10," in exported.replace("\r\n", "\n")
    with api_server.database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 3003


def test_an_admin_resumes_a_paused_channel(page: Page, api_server: Api) -> None:
    with api_server.database.sessions() as session:
        session.merge(ImportChannel(key="jd", low_quality_streak=3, paused_at=utcnow()))
        session.commit()
    log_in(page, api_server, "admin")
    row = page.locator("#channels tr[data-channel=jd]")
    expect(row).to_contain_text("已暂停")
    row.get_by_role("button", name="恢复").click()
    expect(row).to_contain_text("正常")
    with api_server.database.sessions() as session:
        channel = session.get(ImportChannel, "jd")
        assert channel is not None and channel.paused_at is None


def test_an_agent_is_turned_away(page: Page, api_server: Api) -> None:
    log_in(page, api_server, "wang.fang")
    expect(page.locator("#forbidden")).to_be_visible()
    expect(page.locator("#imports")).to_be_hidden()
