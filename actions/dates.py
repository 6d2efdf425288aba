"""Turn the day a customer names ("昨天", "last Monday", "11月20日") into an ISO date."""

from __future__ import annotations

import re
from datetime import date, timedelta

_ISO = re.compile(r"(20\d{2})[-/.](\d{1,2})[-/.](\d{1,2})")
_CHINESE_FULL = re.compile(r"(20\d{2})年(\d{1,2})月(\d{1,2})[日号]")
_CHINESE_MONTH_DAY = re.compile(r"(\d{1,2})月(\d{1,2})[日号]")
_WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_LAST_WEEKDAY_ZH = re.compile(r"上个?(?:周|星期)([一二三四五六日天])")
_RELATIVE: tuple[tuple[str, int], ...] = (
    ("the day before yesterday", 2),
    ("大前天", 3),
    ("前天", 2),
    ("yesterday", 1),
    ("昨天", 1),
    ("昨晚", 1),
    ("today", 0),
    ("this morning", 0),
    ("tonight", 0),
    ("今天", 0),
    ("今早", 0),
    ("last week", 7),
    ("上星期", 7),
    ("上周", 7),
)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, *, today: date) -> date | None:
    """The calendar day ``text`` names, relative to ``today``; None when it names none.

    A weekday "last Monday" / "上周一" is that weekday in the previous week; "last week"
    counts as seven days ago. A month and day without a year is the latest such day
    that is not in the future.
    """
    lowered = text.lower()
    for pattern in (_ISO, _CHINESE_FULL):
        match = pattern.search(lowered)
        if match:
            return _safe_date(*(int(part) for part in match.groups()))
    match = _CHINESE_MONTH_DAY.search(lowered)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        found = _safe_date(today.year, month, day)
        if found and found > today:
            found = _safe_date(today.year - 1, month, day)
        return found
    weekday: int | None = None
    zh = _LAST_WEEKDAY_ZH.search(lowered)
    if zh:
        weekday = _WEEKDAYS_ZH[zh.group(1)]
    else:
        en = re.search(r"last (" + "|".join(_WEEKDAYS_EN) + ")", lowered)
        if en:
            weekday = _WEEKDAYS_EN.index(en.group(1))
    if weekday is not None:
        monday_this_week = today - timedelta(days=today.weekday())
        return monday_this_week - timedelta(days=7) + timedelta(days=weekday)
    for phrase, days_ago in _RELATIVE:
        if phrase in lowered:
            return today - timedelta(days=days_ago)
    return None
