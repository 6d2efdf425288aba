"""Queries behind the supervisor's reports: aggregates computed by the database.

Everything here runs on SQLite and PostgreSQL alike; the two places where their SQL
differs (an hour or day bucket of a timestamp, the seconds between two timestamps)
go through :func:`_bucket` and :func:`_seconds`, which pick the dialect's spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session, joinedload

from ticketing.enums import AuthorType, Channel, TicketStatus
from ticketing.models import (
    Agent,
    Queue,
    SatisfactionRating,
    Ticket,
    TicketEvent,
    TicketMessage,
)
from ticketing.repositories.tickets import _breached, _warning

ACTIVE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ESCALATED)
WAITING = (TicketStatus.NEW, TicketStatus.ESCALATED)
FINISHED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
# The actor the bot's service token writes into a ticket's history (api.auth).
BOT_ACTOR = "bot_service"


@dataclass(frozen=True)
class ReportScope:
    """The tickets a trend covers: created in [start, end), optionally one queue or channel."""

    start: datetime
    end: datetime
    queue_key: str | None = None
    channel: Channel | None = None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _bucket(session: Session, column: Any, unit: str) -> ColumnElement[str]:
    """``YYYY-MM-DDTHH:00`` (hour) or ``YYYY-MM-DD`` (day) of a UTC timestamp, as text."""
    if _dialect(session) == "postgresql":
        pattern = 'YYYY-MM-DD"T"HH24":00"' if unit == "hour" else "YYYY-MM-DD"
        return func.to_char(func.timezone("UTC", column), pattern)
    # SQLite keeps UTC timestamps as ISO text (see models.UtcDateTime).
    return func.strftime("%Y-%m-%dT%H:00" if unit == "hour" else "%Y-%m-%d", column)


def _seconds(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    """Seconds from ``earlier`` to ``later``."""
    if _dialect(session) == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * literal(86400.0)


def _scope(scope: ReportScope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        Ticket.created_at >= scope.start,
        Ticket.created_at < scope.end,
    ]
    if scope.queue_key:
        conditions.append(Ticket.queue_id.in_(select(Queue.id).where(Queue.key == scope.queue_key)))
    if scope.channel:
        conditions.append(Ticket.channel == scope.channel)
    return conditions


def _histogram(
    session: Session,
    *,
    seconds: ColumnElement[float],
    edges: Sequence[float],
    conditions: list[ColumnElement[bool]],
) -> tuple[list[int], float | None]:
    """Counts per bucket (below edges[0], between edges, above the last) and the mean."""
    index = case(
        *[(seconds < edge, literal(i)) for i, edge in enumerate(edges)],
        else_=literal(len(edges)),
    ).label("bucket")
    counts = [0] * (len(edges) + 1)
    rows = session.execute(select(index, func.count()).where(*conditions).group_by(index)).all()
    for bucket, count in rows:
        counts[int(bucket)] = int(count)
    mean = session.scalar(select(func.avg(seconds)).where(*conditions))
    return counts, float(mean) if mean is not None else None


def per_hour_by_channel(session: Session, scope: ReportScope) -> list[tuple[str, str, int]]:
    """(hour, channel, tickets created) for every hour and channel that had any."""
    hour = _bucket(session, Ticket.created_at, "hour").label("hour")
    rows = session.execute(
        select(hour, Ticket.channel, func.count(Ticket.id))
        .where(*_scope(scope))
        .group_by(hour, Ticket.channel)
        .order_by(hour, Ticket.channel)
    ).all()
    return [(str(h), Channel(c).value, int(n)) for h, c, n in rows]


def first_response_histogram(
    session: Session, scope: ReportScope, *, edges_seconds: Sequence[float]
) -> tuple[list[int], float | None]:
    """How long first responses took (tickets answered by an agent), bucketed; and the mean."""
    seconds = _seconds(session, Ticket.first_responded_at, Ticket.created_at)
    return _histogram(
        session,
        seconds=seconds,
        edges=edges_seconds,
        conditions=[*_scope(scope), Ticket.first_responded_at.is_not(None)],
    )


def resolution_histogram(
    session: Session, scope: ReportScope, *, edges_seconds: Sequence[float]
) -> tuple[list[int], float | None]:
    """How long resolutions took (tickets resolved), bucketed; and the mean."""
    seconds = _seconds(session, Ticket.resolved_at, Ticket.created_at)
    return _histogram(
        session,
        seconds=seconds,
        edges=edges_seconds,
        conditions=[*_scope(scope), Ticket.resolved_at.is_not(None)],
    )


def sla_attainment_by_day(
    session: Session, scope: ReportScope, *, now: datetime
) -> list[tuple[str, int, int, int, int]]:
    """Per creation day: (day, first-response met, decided, resolution met, decided).

    A clock is *decided* once it stopped (answered / resolved) or its due time passed;
    it was *met* when it stopped at or before its due time. Running clocks count nowhere.
    """
    day = _bucket(session, Ticket.created_at, "day").label("day")
    first_decided = or_(Ticket.first_responded_at.is_not(None), Ticket.first_response_due_at <= now)
    first_met = and_(
        Ticket.first_responded_at.is_not(None),
        Ticket.first_responded_at <= Ticket.first_response_due_at,
    )
    resolution_decided = or_(Ticket.resolved_at.is_not(None), Ticket.resolution_due_at <= now)
    resolution_met = and_(
        Ticket.resolved_at.is_not(None), Ticket.resolved_at <= Ticket.resolution_due_at
    )

    def total(condition: ColumnElement[bool]) -> Any:
        return func.sum(case((condition, 1), else_=0))

    rows = session.execute(
        select(
            day,
            total(first_met),
            total(first_decided),
            total(resolution_met),
            total(resolution_decided),
        )
        .where(*_scope(scope))
        .group_by(day)
        .order_by(day)
    ).all()
    return [(str(d), int(a or 0), int(b or 0), int(c or 0), int(e or 0)) for d, a, b, c, e in rows]


def csat_by_day(session: Session, scope: ReportScope) -> list[tuple[str, int, float, int]]:
    """Per rating day: (day, ratings, mean score, ratings of 4 or 5), for the scope's tickets.

    The period applies to when the rating was given; queue and channel to its ticket.
    """
    day = _bucket(session, SatisfactionRating.created_at, "day").label("day")
    conditions: list[ColumnElement[bool]] = [
        SatisfactionRating.created_at >= scope.start,
        SatisfactionRating.created_at < scope.end,
    ]
    if scope.queue_key:
        conditions.append(Ticket.queue_id.in_(select(Queue.id).where(Queue.key == scope.queue_key)))
    if scope.channel:
        conditions.append(Ticket.channel == scope.channel)
    rows = session.execute(
        select(
            day,
            func.count(SatisfactionRating.id),
            func.avg(SatisfactionRating.score),
            func.sum(case((SatisfactionRating.score >= 4, 1), else_=0)),
        )
        .join(Ticket, Ticket.id == SatisfactionRating.ticket_id)
        .where(*conditions)
        .group_by(day)
        .order_by(day)
    ).all()
    return [(str(d), int(n), float(avg), int(good or 0)) for d, n, avg, good in rows]


def containment(session: Session, scope: ReportScope) -> tuple[int, int, int]:
    """Of the tickets the bot opened: (opened, finished without a human, finished by staff).

    "Without a human": resolved or closed, never assigned, never escalated, and no agent
    wrote in its thread. Conversations the bot answered without opening a ticket never
    reach the database and are not counted at all.
    """
    by_bot = exists().where(
        TicketEvent.ticket_id == Ticket.id,
        TicketEvent.field == "created",
        TicketEvent.actor == BOT_ACTOR,
    )
    agent_wrote = exists().where(
        TicketMessage.ticket_id == Ticket.id, TicketMessage.author_type == AuthorType.AGENT
    )
    finished = Ticket.status.in_(FINISHED)
    untouched = and_(Ticket.assignee_id.is_(None), Ticket.escalation_level == 0, ~agent_wrote)
    row = session.execute(
        select(
            func.count(Ticket.id),
            func.sum(case((and_(finished, untouched), 1), else_=0)),
            func.sum(case((and_(finished, ~untouched), 1), else_=0)),
        ).where(*_scope(scope), by_bot)
    ).one()
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def top_categories(session: Session, scope: ReportScope, *, limit: int) -> list[tuple[str, int]]:
    """The most frequent categories of the scope's tickets, most first."""
    count = func.count(Ticket.id).label("n")
    rows = session.execute(
        select(Ticket.category, count)
        .where(*_scope(scope))
        .group_by(Ticket.category)
        .order_by(count.desc(), Ticket.category)
        .limit(limit)
    ).all()
    return [(str(c.value if hasattr(c, "value") else c), int(n)) for c, n in rows]


def queue_snapshot(session: Session) -> list[tuple[Queue, int, int, datetime | None]]:
    """Per queue: (queue, waiting = active and unassigned, active, oldest waiting created_at)."""
    waiting = and_(Ticket.status.in_(ACTIVE), Ticket.assignee_id.is_(None))
    rows = session.execute(
        select(
            Queue,
            func.sum(case((waiting, 1), else_=0)),
            func.sum(case((Ticket.status.in_(ACTIVE), 1), else_=0)),
            func.min(case((waiting, Ticket.created_at), else_=None)),
        )
        .outerjoin(Ticket, Ticket.queue_id == Queue.id)
        .group_by(Queue.id)
        .order_by(Queue.id)
    ).all()
    result: list[tuple[Queue, int, int, datetime | None]] = []
    for queue, n_waiting, n_active, oldest in rows:
        result.append((queue, int(n_waiting or 0), int(n_active or 0), _as_datetime(oldest)))
    return result


def _as_datetime(value: Any) -> datetime | None:
    # MIN over a CASE loses the column type on SQLite: the value comes back as text.
    if value is None or isinstance(value, datetime):
        return value
    from datetime import UTC

    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def tickets_at_sla_risk(
    session: Session, *, now: datetime, breached: bool, limit: int
) -> list[Ticket]:
    """Active tickets past their SLA warning (not breached) or breached, nearest due first."""
    condition = _breached(now) if breached else _warning(now)
    return list(
        session.scalars(
            select(Ticket)
            .where(condition)
            .options(joinedload(Ticket.queue), joinedload(Ticket.assignee))
            .order_by(Ticket.resolution_due_at, Ticket.id)
            .limit(limit)
        )
    )


def export_rows(session: Session, scope: ReportScope, *, limit: int) -> list[Any]:
    """One row per ticket of the scope, with the figures the charts are made of."""
    first_seconds = _seconds(session, Ticket.first_responded_at, Ticket.created_at)
    resolution_seconds = _seconds(session, Ticket.resolved_at, Ticket.created_at)
    return list(
        session.execute(
            select(
                Ticket.number,
                Ticket.created_at,
                Ticket.channel,
                Queue.key.label("queue"),
                Ticket.category,
                Ticket.priority,
                Ticket.status,
                Agent.username.label("assignee"),
                case((Ticket.first_responded_at.is_(None), None), else_=first_seconds).label(
                    "first_response_seconds"
                ),
                case((Ticket.resolved_at.is_(None), None), else_=resolution_seconds).label(
                    "resolution_seconds"
                ),
                Ticket.first_response_breached_at.is_not(None).label("first_response_breached"),
                Ticket.resolution_breached_at.is_not(None).label("resolution_breached"),
                SatisfactionRating.score.label("csat"),
            )
            .join(Queue, Queue.id == Ticket.queue_id)
            .outerjoin(Agent, Agent.id == Ticket.assignee_id)
            .outerjoin(SatisfactionRating, SatisfactionRating.ticket_id == Ticket.id)
            .where(*_scope(scope))
            .order_by(Ticket.created_at, Ticket.id)
            .limit(limit)
        ).all()
    )
