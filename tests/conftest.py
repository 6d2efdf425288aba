"""Every test run: with ``DESK_REQUIRE_ALL=1`` (CI sets it in ``.ci/run``) a skip is a failure.

CI has PostgreSQL, Redis, Chromium and the trained model, so a test that skips there
skips because something it needs is missing or misdetected, and "N skipped" would
otherwise end green. Locally, without the variable, skips stay skips.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

REQUIRE_ALL = "DESK_REQUIRE_ALL"


def _required() -> bool:
    return os.environ.get(REQUIRE_ALL, "").strip() not in ("", "0")


def _skip_reason(longrepr: Any) -> str:
    # A skip's longrepr is (file, line, "Skipped: <reason>").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under {REQUIRE_ALL}=1, which allows no skips: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # An expected failure (xfail) is reported as skipped too; it stays what it is.
    if _required() and report.skipped and not hasattr(report, "wasxfail"):
        _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if _required() and report.skipped:
        _fail(report)
    return report


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"{REQUIRE_ALL}=1: any skip fails the run" if _required() else None
