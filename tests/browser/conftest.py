"""Browser-test fixtures: headless Chromium through Playwright, for every web page of the desk.

- ``browser``: one Debian Chromium per test session (Playwright's own browser download
  cannot work here, so it drives ``/usr/bin/chromium``, or ``DESK_CHROMIUM``).
- ``new_page(**context_options)``: a page in a fresh context (its own storage, viewport,
  locale); fails the test on an uncaught JavaScript error in the page.
- ``page``: a desktop-sized page from ``new_page``; ``page_logs[page]`` is its console.
- ``screenshot(page, name)``: saves ``.run/screenshots/<module>-<name>.png``.
- ``desk``: the whole desk (API, actions, Rasa) on free ports, one per test module.
- ``static_site``: a plain HTTP server of ``api/static`` plus test pages, for tests that
  need the web assets but not the desk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SCREENSHOTS, PageLog, StaticSite
from tests.support_desk import Desk, DeskDidNotStart, running_desk


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make chromium` (Debian's chromium package)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page_logs() -> dict[Page, PageLog]:
    return {}


@pytest.fixture
def new_page(browser: Browser, page_logs: dict[Page, PageLog]) -> Iterator[Callable[..., Page]]:
    """Open pages in fresh contexts; closes them and checks for uncaught errors after the test."""
    contexts = []

    def open_page(**options: Any) -> Page:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "zh-CN")
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        log = PageLog()
        page_logs[page] = log
        page.on("console", lambda message: log.console.append(message))
        page.on("pageerror", lambda error: log.errors.append(str(error)))
        return page

    yield open_page
    errors = [error for log in page_logs.values() for error in log.errors]
    for context in contexts:
        context.close()
    assert not errors, f"uncaught JavaScript errors in the page: {errors}"


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    return new_page()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a PNG of the page as it looks now; returns its path."""
    module = Path(str(request.node.fspath)).stem.removeprefix("test_")

    def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{module}-{name}.png"
        page.screenshot(path=str(path))
        return path

    return take


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    try:
        with running_desk(tmp_path_factory.mktemp("desk")) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))


@pytest.fixture(scope="module")
def static_site() -> Iterator[StaticSite]:
    site = StaticSite()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()
