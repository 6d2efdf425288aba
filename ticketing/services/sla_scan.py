"""The SLA scan: what the scheduler runs to announce warnings and breaches and escalate.

The clocks themselves (dues and warning times on the ticket, paused while the customer
is asked) are :mod:`ticketing.services.sla_clocks`. :func:`scan` announces each warning
and each breach exactly once (rows claimed with SKIP LOCKED on PostgreSQL, so two
schedulers can run) and escalates a breached ticket one level, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.enums import EscalationSource
from ticketing.events import DeskEvent
from ticketing.models import utcnow
from ticketing.principals import Principal, Role
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import lifecycle, notices
from ticketing.services.history import change_fields

SCHEDULER = Principal(name="sla-scheduler", role=Role.ADMIN)


@dataclass(frozen=True)
class ScanResult:
    """What one scheduler pass announced."""

    warnings: int = 0
    breaches: int = 0


def scan(session: Session, *, now: datetime | None = None, limit: int = 200) -> ScanResult:
    """Announce due SLA warnings and breaches; escalate breached tickets once per breach."""
    moment = now or utcnow()
    warnings = breaches = 0
    locks = session.get_bind().dialect.name == "postgresql"
    for ticket in tickets_repo.sla_due(session, now=moment, limit=limit, lock=locks):
        session.refresh(ticket, attribute_names=["queue"])
        marks: dict[str, object] = {}
        breached: list[str] = []
        waiting_first = ticket.first_responded_at is None
        for clock, applies in (("first_response", waiting_first), ("resolution", True)):
            if not applies:
                continue
            if (
                getattr(ticket, f"{clock}_breached_at") is None
                and getattr(ticket, f"{clock}_due_at") <= moment
            ):
                marks[f"{clock}_breached_at"] = moment
                if getattr(ticket, f"{clock}_warned_at") is None:
                    marks[f"{clock}_warned_at"] = moment
                breached.append(clock)
            elif (
                getattr(ticket, f"{clock}_warned_at") is None
                and getattr(ticket, f"{clock}_warning_at") <= moment
            ):
                marks[f"{clock}_warned_at"] = moment
                events.record(
                    session,
                    DeskEvent(
                        "sla.warning", ticket.number, {"clock": clock, "queue": ticket.queue.key}
                    ),
                )
                warnings += 1
        if marks:
            change_fields(session, ticket=ticket, actor=SCHEDULER.name, changes=marks, now=moment)
        for clock in breached:
            events.record(
                session,
                DeskEvent(
                    "sla.breached", ticket.number, {"clock": clock, "queue": ticket.queue.key}
                ),
            )
            breaches += 1
        if breached:
            # "We're late, here's the new time": once per miss, like the escalation.
            clock = "resolution" if "resolution" in breached else "first_response"
            notices.announce(
                session,
                ticket=ticket,
                notice=notices.LATE,
                due=moment + notices.late_extension(clock),
                now=moment,
            )
            lifecycle.escalate(
                session,
                ticket=ticket,
                principal=SCHEDULER,
                reason=f"{' and '.join(c.replace('_', ' ') for c in breached)} target missed",
                source=EscalationSource.SLA,
                now=moment,
            )
    session.flush()
    return ScanResult(warnings=warnings, breaches=breaches)
