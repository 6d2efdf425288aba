"""The supervisor's reports: the desk right now, and trends over a period.

The numbers are aggregates computed by the database (``repositories/reports.py``);
this module chooses periods, bucket edges and definitions, and shapes the results.
Definitions (the dashboard and the README say the same):

- *first response time*: from creation to an agent's first public reply;
- *resolution time*: from creation to the (latest) resolution;
- *SLA attainment*: of the clocks that are decided (stopped, or past due), the share
  stopped at or before their due time; running clocks are not counted yet;
- *CSAT*: the mean 1-5 score, and the share of 4s and 5s, by the day the rating came;
- *containment*: of the tickets the bot opened, the share resolved or closed without
  any human: never assigned, never escalated, no agent message. The FAQ conversations
  the bot answered without a ticket never reach the database, so they are not counted.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ticketing.enums import Channel
from ticketing.errors import ValidationFailed
from ticketing.models import Agent, Ticket, utcnow
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import reports as reports_repo
from ticketing.repositories.reports import ReportScope

MAX_PERIOD = timedelta(days=92)
TOP_CATEGORIES = 6
RISK_LIST_LIMIT = 50
EXPORT_LIMIT = 50_000

# Bucket upper edges in seconds; each histogram has one bucket more than edges.
FIRST_RESPONSE_EDGES = (15 * 60, 60 * 60, 4 * 3600, 24 * 3600)
FIRST_RESPONSE_LABELS = ("<15m", "15m-1h", "1-4h", "4-24h", ">24h")
RESOLUTION_EDGES = (3600, 4 * 3600, 24 * 3600, 72 * 3600)
RESOLUTION_LABELS = ("<1h", "1-4h", "4-24h", "1-3d", ">3d")


@dataclass(frozen=True)
class QueueNow:
    key: str
    name_en: str
    name_zh: str
    waiting: int
    active: int
    oldest_waiting_at: datetime | None
    oldest_waiting_seconds: int | None


@dataclass(frozen=True)
class AgentNow:
    username: str
    display_name: str
    role: str
    presence: str
    load: int
    capacity: int
    queues: list[str]


@dataclass(frozen=True)
class DeskNow:
    """The desk at one moment: queues, SLA risk, staff."""

    at: datetime
    queues: list[QueueNow]
    at_risk: list[Ticket]
    breached: list[Ticket]
    agents: list[AgentNow]


@dataclass(frozen=True)
class Histogram:
    labels: tuple[str, ...]
    counts: list[int]
    mean_seconds: float | None

    @property
    def total(self) -> int:
        """How many tickets the histogram counts."""
        return sum(self.counts)


@dataclass(frozen=True)
class SlaDay:
    day: str
    first_response_met: int
    first_response_decided: int
    resolution_met: int
    resolution_decided: int


@dataclass(frozen=True)
class CsatDay:
    day: str
    ratings: int
    mean_score: float
    satisfied: int


@dataclass(frozen=True)
class Containment:
    bot_opened: int
    contained: int
    handled_by_staff: int

    @property
    def rate(self) -> float | None:
        """Contained share of the tickets the bot opened (None when it opened none)."""
        return self.contained / self.bot_opened if self.bot_opened else None


@dataclass(frozen=True)
class Trends:
    """Trend figures for one scope."""

    scope: ReportScope
    per_hour: list[tuple[str, str, int]]
    first_response: Histogram
    resolution: Histogram
    sla: list[SlaDay]
    csat: list[CsatDay]
    containment: Containment
    categories: list[tuple[str, int]]
    totals: dict[str, int] = field(default_factory=dict)


def scope_for(
    *,
    start: datetime | None,
    end: datetime | None,
    queue_key: str | None = None,
    channel: Channel | None = None,
    now: datetime | None = None,
) -> ReportScope:
    """The period [start, end): the last 7 days by default, at most 92 days long."""
    end = end or now or utcnow()
    start = start or end - timedelta(days=7)
    if start >= end:
        raise ValidationFailed("from must be before to", field="from")
    if end - start > MAX_PERIOD:
        raise ValidationFailed("a report covers at most 92 days", field="from")
    return ReportScope(start=start, end=end, queue_key=queue_key or None, channel=channel)


def desk_now(session: Session, *, now: datetime | None = None) -> DeskNow:
    """Queue lengths and oldest waiting ticket, tickets at SLA risk or breached, staff load."""
    moment = now or utcnow()
    queues = [
        QueueNow(
            key=queue.key,
            name_en=queue.name_en,
            name_zh=queue.name_zh,
            waiting=waiting,
            active=active,
            oldest_waiting_at=oldest,
            oldest_waiting_seconds=int((moment - oldest).total_seconds()) if oldest else None,
        )
        for queue, waiting, active, oldest in reports_repo.queue_snapshot(session)
    ]
    staff: list[Agent] = agents_repo.list_staff(session)
    load = agents_repo.open_load(session, [a.id for a in staff])
    agents = [
        AgentNow(
            username=a.username,
            display_name=a.display_name,
            role=a.role.value,
            presence=a.presence.value,
            load=load[a.id],
            capacity=a.capacity,
            queues=sorted(q.key for q in a.queues),
        )
        for a in staff
    ]
    return DeskNow(
        at=moment,
        queues=queues,
        at_risk=reports_repo.tickets_at_sla_risk(
            session, now=moment, breached=False, limit=RISK_LIST_LIMIT
        ),
        breached=reports_repo.tickets_at_sla_risk(
            session, now=moment, breached=True, limit=RISK_LIST_LIMIT
        ),
        agents=agents,
    )


def trends(session: Session, *, scope: ReportScope, now: datetime | None = None) -> Trends:
    """Every trend figure of the dashboard for one scope."""
    moment = now or utcnow()
    first_counts, first_mean = reports_repo.first_response_histogram(
        session, scope, edges_seconds=FIRST_RESPONSE_EDGES
    )
    resolution_counts, resolution_mean = reports_repo.resolution_histogram(
        session, scope, edges_seconds=RESOLUTION_EDGES
    )
    per_hour = reports_repo.per_hour_by_channel(session, scope)
    opened, contained, by_staff = reports_repo.containment(session, scope)
    return Trends(
        scope=scope,
        per_hour=per_hour,
        first_response=Histogram(FIRST_RESPONSE_LABELS, first_counts, first_mean),
        resolution=Histogram(RESOLUTION_LABELS, resolution_counts, resolution_mean),
        sla=[
            SlaDay(*row) for row in reports_repo.sla_attainment_by_day(session, scope, now=moment)
        ],
        csat=[CsatDay(*row) for row in reports_repo.csat_by_day(session, scope)],
        containment=Containment(opened, contained, by_staff),
        categories=reports_repo.top_categories(session, scope, limit=TOP_CATEGORIES),
        totals={"tickets": sum(n for _h, _c, n in per_hour)},
    )


EXPORT_COLUMNS = (
    "number",
    "created_at",
    "channel",
    "queue",
    "category",
    "priority",
    "status",
    "assignee",
    "first_response_seconds",
    "resolution_seconds",
    "first_response_breached",
    "resolution_breached",
    "csat",
)


def export_csv(session: Session, *, scope: ReportScope) -> str:
    """The scope's tickets as CSV, one row each (no personal data: no names, contacts or text)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in reports_repo.export_rows(session, scope, limit=EXPORT_LIMIT):
        values = row._mapping
        writer.writerow(
            [
                values["number"],
                values["created_at"].isoformat(),
                _plain(values["channel"]),
                values["queue"],
                _plain(values["category"]),
                _plain(values["priority"]),
                _plain(values["status"]),
                values["assignee"] or "",
                ""
                if values["first_response_seconds"] is None
                else round(float(values["first_response_seconds"])),
                ""
                if values["resolution_seconds"] is None
                else round(float(values["resolution_seconds"])),
                int(bool(values["first_response_breached"])),
                int(bool(values["resolution_breached"])),
                "" if values["csat"] is None else values["csat"],
            ]
        )
    return buffer.getvalue()


def _plain(value: object) -> str:
    return str(getattr(value, "value", value))
