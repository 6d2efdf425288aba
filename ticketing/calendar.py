"""Business hours for SLA clocks: working days (with China's public holidays and make-up
working days from ``chinesecalendar``) and daily opening hours in the desk's timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

MAX_DAYS = 800  # a target longer than two years of working days is a policy error


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours on working days; SLA minutes count only inside them."""

    timezone: ZoneInfo
    opens: time
    closes: time
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    chinese_holidays: bool = True

    def is_working_day(self, day: date) -> bool:
        """Mainland working days where the calendar knows the year; else Monday to Friday."""
        if self.chinese_holidays:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                # The package publishes each year's schedule once the State Council
                # announces it; until then, plain weekdays.
                pass
        return day.weekday() in self.weekdays

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of business time after ``start`` (UTC in, UTC out)."""
        remaining = timedelta(minutes=minutes)
        local = start.astimezone(self.timezone)
        day = local.date()
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opening = datetime.combine(day, self.opens, self.timezone)
                closing = datetime.combine(day, self.closes, self.timezone)
                begin = max(opening, local)
                if begin < closing:
                    available = closing - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
            local = datetime.combine(day, time.min, self.timezone)
        raise ValueError(f"an SLA target of {minutes} business minutes is too long")
