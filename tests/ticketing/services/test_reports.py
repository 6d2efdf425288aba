"""Reports computed by the database, checked against a history worked out by hand."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.support_service.report_data import NOW, REPORT_FROM, build_report_dataset
from ticketing.enums import Channel
from ticketing.errors import ValidationFailed
from ticketing.services import reports


@pytest.fixture
def numbers(session: Session) -> dict[str, str]:
    return build_report_dataset(session)


class TestTrends:
    def trends(self, session: Session, **filters: object) -> reports.Trends:
        scope = reports.scope_for(start=REPORT_FROM, end=NOW, now=NOW, **filters)  # type: ignore[arg-type]
        return reports.trends(session, scope=scope, now=NOW)

    def test_tickets_per_hour_by_channel_leave_out_other_periods(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        result = self.trends(session)
        assert result.per_hour == [
            ("2026-11-18T09:00", "rest", 1),
            ("2026-11-18T09:00", "wechat", 1),
            ("2026-11-19T10:00", "web", 1),
            ("2026-11-20T09:00", "rest", 1),
            ("2026-11-20T11:00", "rest", 1),
        ]
        assert result.totals["tickets"] == 5  # t6 is ten days old

    def test_response_and_resolution_time_distributions(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        result = self.trends(session)
        # t1 answered after 10 min, t2 after 2 h.
        assert result.first_response.counts == [1, 0, 1, 0, 0]
        assert result.first_response.mean_seconds == pytest.approx(3900, abs=1)
        # t1 resolved after 2 h, t2 after 30 h.
        assert result.resolution.counts == [0, 1, 0, 1, 0]
        assert result.resolution.mean_seconds == pytest.approx(57600, abs=1)

    def test_sla_attainment_counts_only_decided_clocks(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        result = self.trends(session)
        by_day = {d.day: d for d in result.sla}
        # 18th: both answered in time; t2's resolution (30 h on a 24 h target) missed.
        assert vars(by_day["2026-11-18"]) == {
            "day": "2026-11-18",
            "first_response_met": 2,
            "first_response_decided": 2,
            "resolution_met": 1,
            "resolution_decided": 2,
        }
        # 19th: t3 never answered, both dues passed.
        assert (
            by_day["2026-11-19"].first_response_decided,
            by_day["2026-11-19"].first_response_met,
        ) == (1, 0)
        assert (by_day["2026-11-19"].resolution_decided, by_day["2026-11-19"].resolution_met) == (
            1,
            0,
        )
        # 20th: t4 and t5 still within their targets at NOW: nothing decided yet.
        assert by_day["2026-11-20"].first_response_decided == 0
        assert by_day["2026-11-20"].resolution_decided == 0

    def test_csat_by_rating_day(self, session: Session, numbers: dict[str, str]) -> None:
        result = self.trends(session)
        assert [(d.day, d.ratings, d.mean_score, d.satisfied) for d in result.csat] == [
            ("2026-11-18", 1, 5.0, 1),
            ("2026-11-19", 1, 2.0, 0),
        ]

    def test_containment_is_bot_opened_tickets_finished_without_a_human(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        containment = self.trends(session).containment
        # Bot opened t1 (an agent resolved it), t4 (closed untouched), t5 (still open).
        assert (containment.bot_opened, containment.contained, containment.handled_by_staff) == (
            3,
            1,
            1,
        )
        assert containment.rate == pytest.approx(1 / 3)

    def test_top_categories(self, session: Session, numbers: dict[str, str]) -> None:
        assert self.trends(session).categories == [("technical_support", 3), ("billing", 2)]

    def test_filters_by_queue_and_channel(self, session: Session, numbers: dict[str, str]) -> None:
        billing = self.trends(session, queue_key="billing")
        assert billing.totals["tickets"] == 2
        assert billing.csat == []
        assert billing.containment.bot_opened == 1 and billing.containment.contained == 1
        rest = self.trends(session, channel=Channel.REST)
        assert [(h, c) for h, c, _n in rest.per_hour] == [
            ("2026-11-18T09:00", "rest"),
            ("2026-11-20T09:00", "rest"),
            ("2026-11-20T11:00", "rest"),
        ]
        assert rest.first_response.counts == [1, 0, 0, 0, 0]

    def test_csv_export_has_one_row_per_ticket_and_no_text(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        scope = reports.scope_for(start=REPORT_FROM, end=NOW)
        lines = reports.export_csv(session, scope=scope).splitlines()
        assert lines[0].split(",") == list(reports.EXPORT_COLUMNS)
        assert len(lines) == 6
        first = dict(zip(reports.EXPORT_COLUMNS, lines[1].split(","), strict=True))
        assert first["number"] == numbers["t1"]
        assert first["first_response_seconds"] == "600"
        assert first["resolution_seconds"] == "7200"
        assert first["csat"] == "5"
        assert "report ticket" not in "\n".join(lines)


class TestScope:
    def test_defaults_to_the_last_seven_days(self) -> None:
        scope = reports.scope_for(start=None, end=None, now=NOW)
        assert (scope.start, scope.end) == (NOW - timedelta(days=7), NOW)

    @pytest.mark.parametrize(
        ("start", "end"),
        [(NOW, NOW), (NOW, NOW - timedelta(hours=1)), (NOW - timedelta(days=93), NOW)],
    )
    def test_refuses_empty_backwards_and_too_long_periods(self, start, end) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(ValidationFailed):
            reports.scope_for(start=start, end=end)


class TestDeskNow:
    def test_queue_lengths_oldest_waiting_risk_and_load(
        self, session: Session, numbers: dict[str, str]
    ) -> None:
        now = reports.desk_now(session, now=NOW)
        queues = {q.key: q for q in now.queues}
        assert (queues["technical_support"].waiting, queues["technical_support"].active) == (1, 1)
        assert queues["technical_support"].oldest_waiting_seconds == 50 * 60  # t5
        assert (queues["billing"].waiting, queues["billing"].active) == (1, 1)
        assert queues["billing"].oldest_waiting_seconds == 26 * 3600  # t3
        # t5 (high, answered within 60 min) is 50 min old: past the 80 % warning.
        assert [t.number for t in now.at_risk] == [numbers["t5"]]
        assert [t.number for t in now.breached] == [numbers["t3"]]
        agent = next(a for a in now.agents if a.username == "report.agent")
        assert (agent.load, agent.capacity) == (0, 5)  # t1 and t2 are resolved
