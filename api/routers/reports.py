"""Supervisor reports: the desk right now, trends over a period, and a CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel

from api.auth import SupervisorOnly
from api.deps import SessionDep
from ticketing.enums import Channel
from ticketing.models import Ticket
from ticketing.schemas import SlaState
from ticketing.services import reports as reports_service
from ticketing.services import sla_clocks

router = APIRouter(prefix="/reports", tags=["reports"])

_ERRORS = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "Supervisors and admins only"},
    422: {"description": "Invalid filter; `details` names the field"},
}


class QueueNowRead(BaseModel):
    key: str
    names: dict[str, str]
    waiting: int
    active: int
    oldest_waiting_at: datetime | None
    oldest_waiting_seconds: int | None


class RiskTicketRead(BaseModel):
    number: str
    subject: str
    status: str
    priority: str
    queue: str
    assignee: str | None
    sla_state: SlaState
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_responded_at: datetime | None
    created_at: datetime


class AgentNowRead(BaseModel):
    username: str
    display_name: str
    role: str
    presence: str
    load: int
    capacity: int
    queues: list[str]


class DeskNowRead(BaseModel):
    at: datetime
    queues: list[QueueNowRead]
    at_risk: list[RiskTicketRead]
    breached: list[RiskTicketRead]
    agents: list[AgentNowRead]


class HistogramRead(BaseModel):
    labels: list[str]
    counts: list[int]
    total: int
    mean_seconds: float | None


class HourCount(BaseModel):
    hour: str
    channel: str
    tickets: int


class SlaDayRead(BaseModel):
    day: str
    first_response_met: int
    first_response_decided: int
    resolution_met: int
    resolution_decided: int


class CsatDayRead(BaseModel):
    day: str
    ratings: int
    mean_score: float
    satisfied: int


class ContainmentRead(BaseModel):
    bot_opened: int
    contained: int
    handled_by_staff: int
    rate: float | None
    definition: str


class CategoryCount(BaseModel):
    category: str
    tickets: int


class TrendsRead(BaseModel):
    start: datetime
    end: datetime
    queue: str | None
    channel: Channel | None
    tickets: int
    per_hour: list[HourCount]
    first_response: HistogramRead
    resolution: HistogramRead
    sla: list[SlaDayRead]
    csat: list[CsatDayRead]
    containment: ContainmentRead
    top_categories: list[CategoryCount]


CONTAINMENT_DEFINITION = (
    "Of the tickets the bot opened in the period, the share resolved or closed without a "
    "human: never assigned, never escalated, no agent message. Conversations the bot "
    "answered without opening a ticket are not in the database and not counted."
)

FromQuery = Annotated[
    AwareDatetime | None, Query(alias="from", description="Start (inclusive); default to - 7 days")
]
ToQuery = Annotated[
    AwareDatetime | None, Query(alias="to", description="End (exclusive); default now")
]
QueueQuery = Annotated[str | None, Query(max_length=64, description="A queue key")]
ChannelQuery = Annotated[Channel | None, Query()]


def report_scope(
    start: FromQuery = None,
    end: ToQuery = None,
    queue: QueueQuery = None,
    channel: ChannelQuery = None,
) -> reports_service.ReportScope:
    """The period, queue and channel a report covers, from its query parameters."""
    return reports_service.scope_for(start=start, end=end, queue_key=queue, channel=channel)


ScopeDep = Annotated[reports_service.ReportScope, Depends(report_scope)]


def _risk(ticket: Ticket) -> RiskTicketRead:
    assert ticket.number is not None
    return RiskTicketRead(
        number=ticket.number,
        subject=ticket.subject,
        status=ticket.status.value,
        priority=ticket.priority.value,
        queue=ticket.queue.key,
        assignee=ticket.assignee.username if ticket.assignee else None,
        sla_state=sla_clocks.sla_state(ticket),
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        first_responded_at=ticket.first_responded_at,
        created_at=ticket.created_at,
    )


def _histogram(histogram: reports_service.Histogram) -> HistogramRead:
    return HistogramRead(
        labels=list(histogram.labels),
        counts=histogram.counts,
        total=histogram.total,
        mean_seconds=histogram.mean_seconds,
    )


@router.get("/now", response_model=DeskNowRead, responses={k: _ERRORS[k] for k in (401, 403)})
def desk_now(session: SessionDep, _principal: SupervisorOnly) -> DeskNowRead:
    """Queue lengths, oldest waiting ticket per queue, SLA risk and breaches, staff load."""
    now = reports_service.desk_now(session)
    return DeskNowRead(
        at=now.at,
        queues=[
            QueueNowRead(
                key=q.key,
                names={"en": q.name_en, "zh": q.name_zh},
                waiting=q.waiting,
                active=q.active,
                oldest_waiting_at=q.oldest_waiting_at,
                oldest_waiting_seconds=q.oldest_waiting_seconds,
            )
            for q in now.queues
        ],
        at_risk=[_risk(t) for t in now.at_risk],
        breached=[_risk(t) for t in now.breached],
        agents=[AgentNowRead(**vars(a)) for a in now.agents],
    )


@router.get(
    "/trends", response_model=TrendsRead, responses={k: _ERRORS[k] for k in (401, 403, 422)}
)
def trends(
    session: SessionDep,
    _principal: SupervisorOnly,
    scope: ScopeDep,
) -> TrendsRead:
    """Tickets per hour by channel, response and resolution times, SLA, CSAT, containment."""
    result = reports_service.trends(session, scope=scope)
    return TrendsRead(
        start=scope.start,
        end=scope.end,
        queue=scope.queue_key,
        channel=scope.channel,
        tickets=result.totals["tickets"],
        per_hour=[HourCount(hour=h, channel=c, tickets=n) for h, c, n in result.per_hour],
        first_response=_histogram(result.first_response),
        resolution=_histogram(result.resolution),
        sla=[SlaDayRead(**vars(day)) for day in result.sla],
        csat=[CsatDayRead(**vars(day)) for day in result.csat],
        containment=ContainmentRead(
            bot_opened=result.containment.bot_opened,
            contained=result.containment.contained,
            handled_by_staff=result.containment.handled_by_staff,
            rate=result.containment.rate,
            definition=CONTAINMENT_DEFINITION,
        ),
        top_categories=[CategoryCount(category=c, tickets=n) for c, n in result.categories],
    )


@router.get(
    "/tickets.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per ticket"},
        **{k: _ERRORS[k] for k in (401, 403, 422)},
    },
)
def export_csv(
    session: SessionDep,
    _principal: SupervisorOnly,
    scope: ScopeDep,
) -> Response:
    """The period's tickets as CSV (figures only: no names, contacts or message text)."""
    body = reports_service.export_csv(session, scope=scope)
    filename = f"tickets-{scope.start:%Y%m%d}-{scope.end:%Y%m%d}.csv"
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
