"""SLA clocks in business hours, with fixed times (Asia/Shanghai is UTC+8)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ticketing.calendar import BusinessHours
from ticketing.enums import Priority
from ticketing.routing import PolicyError, load_policy, parse_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = BusinessHours(timezone=SHANGHAI, opens=time(9), closes=time(18))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


class TestBusinessHours:
    def test_inside_one_day(self) -> None:
        assert HOURS.add(local(2026, 11, 24, 10, 0), 120) == local(2026, 11, 24, 12, 0)

    def test_friday_evening_rolls_to_monday(self) -> None:
        # Friday 17:30 + 4 business hours = 30 min on Friday, 3.5 h on Monday.
        assert HOURS.add(local(2026, 11, 20, 17, 30), 240) == local(2026, 11, 23, 12, 30)

    def test_before_opening_starts_at_opening(self) -> None:
        assert HOURS.add(local(2026, 11, 24, 6, 0), 30) == local(2026, 11, 24, 9, 30)

    def test_national_day_holiday_is_skipped(self) -> None:
        # 2026: 1-7 October off. Wednesday 30 September 17:00 + 2 h: one hour that
        # evening, the second on Thursday 8 October.
        due = HOURS.add(local(2026, 9, 30, 17, 0), 120)
        assert due == local(2026, 10, 8, 10, 0)

    def test_make_up_saturday_counts(self) -> None:
        # Friday 9 October 17:00 + 2 h: 1 h on Friday, 1 h on the make-up Saturday.
        assert HOURS.add(local(2026, 10, 9, 17, 0), 120) == local(2026, 10, 10, 10, 0)

    def test_years_without_holiday_data_use_weekdays(self) -> None:
        # Friday 7 January 2028 17:00 + 2 h -> Monday 10 January 10:00.
        assert HOURS.add(local(2028, 1, 7, 17, 0), 120) == local(2028, 1, 10, 10, 0)


class TestPolicyWithBusinessHours:
    def policy(self, **hours: object):
        data = load_policy().__dict__  # the packaged policy, as a starting point
        raw = {
            "queues": {q.key: {"name_en": q.name_en, "name_zh": q.name_zh} for q in data["queues"]},
            "categories": {
                c.value: {"queue": r.queue_key, "priority": r.priority.value}
                for c, r in data["routes"].items()
            },
            "sla": {
                p.value: {
                    "first_response": int(t.first_response.total_seconds() // 60),
                    "resolution": int(t.resolution.total_seconds() // 60),
                }
                for p, t in data["sla"].targets.items()
            },
            "business_hours": {
                "opens": "09:00",
                "closes": "18:00",
                "priorities": ["normal"],
                **hours,
            },
        }
        return parse_policy(raw)

    def test_listed_priorities_count_business_minutes_others_run_around_the_clock(self) -> None:
        policy = self.policy()
        friday_evening = local(2026, 11, 20, 17, 30)
        normal = policy.sla.dues(Priority.NORMAL, start=friday_evening)
        urgent = policy.sla.dues(Priority.URGENT, start=friday_evening)
        assert normal.first_response_due_at == local(2026, 11, 23, 12, 30)
        # The warning is at 80 % of the business minutes: 192 of 240.
        assert normal.first_response_warning_at == local(2026, 11, 23, 11, 42)
        assert urgent.first_response_due_at == friday_evening + timedelta(minutes=15)

    def test_closing_before_opening_is_refused(self) -> None:
        with pytest.raises(PolicyError, match="open before"):
            self.policy(opens="18:00", closes="09:00")
