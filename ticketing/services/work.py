"""Working tickets: reading the visible ones, lists, edits with optimistic versions, claims.

Who may do each of these is :mod:`ticketing.services.access`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ticketing import events
from ticketing.enums import Category, Priority, TicketStatus
from ticketing.errors import Conflict, ValidationFailed
from ticketing.events import DeskEvent
from ticketing.models import Ticket, utcnow
from ticketing.principals import Principal
from ticketing.repositories import tickets as tickets_repo
from ticketing.repositories.tickets import SORT_COLUMNS, TicketFilter
from ticketing.routing import PolicyError, RoutingPolicy
from ticketing.services import access, history, lifecycle
from ticketing.services.policy import current_policy
from ticketing.services.queues import ensure_queue
from ticketing.services.tickets import TicketNotFound, get_ticket

MAX_PAGE = 100
EDITABLE_FIELDS = frozenset({"status", "priority", "queue", "category", "subject"})


class VersionConflict(Conflict):
    code = "version_conflict"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


def get_visible(session: Session, *, number: str, principal: Principal) -> Ticket:
    """A ticket this principal may see; 404 (not 403) otherwise, so numbers don't leak."""
    ticket = get_ticket(session, number=number)
    if not access.can_see_ticket(session, ticket=ticket, principal=principal):
        raise TicketNotFound(f"no ticket with number {number[:40]!r}")
    return ticket


def list_visible(
    session: Session,
    *,
    principal: Principal,
    flt: TicketFilter,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[Ticket], int]:
    """One page of the tickets this principal may see that match the filter."""
    if sort.removeprefix("-") not in SORT_COLUMNS:
        raise ValidationFailed(
            f"sort must be one of {sorted(SORT_COLUMNS)} (prefix - for descending)", field="sort"
        )
    scope = access.listing_scope(session, principal)
    # The bot gets its conversation's customer whatever it asked for; nobody yet: nothing.
    narrowed = scope.narrow(replace(flt, now=now or utcnow()))
    if narrowed is None:
        return [], 0
    return tickets_repo.list_tickets(
        session, narrowed, sort=sort, limit=min(max(limit, 1), MAX_PAGE), offset=max(offset, 0)
    )


def update(
    session: Session,
    *,
    ticket: Ticket,
    principal: Principal,
    version: int,
    changes: dict[str, Any],
    policy: RoutingPolicy | None = None,
) -> Ticket:
    """Apply an edit made against ``version``; a stale version changes nothing (409)."""
    if unknown := set(changes) - EDITABLE_FIELDS:
        raise ValidationFailed(f"cannot edit {sorted(unknown)}", field=sorted(unknown)[0])
    if version != ticket.version:
        raise VersionConflict(
            f"{ticket.number} changed since you read it (version {version}, now {ticket.version})",
            details={"current_version": ticket.version},
        )
    policy = policy or current_policy(session)
    fields: dict[str, object] = {}
    if "priority" in changes:
        fields["priority"] = Priority(changes["priority"])
    if "category" in changes:
        fields["category"] = Category(changes["category"])
    if "subject" in changes:
        fields["subject"] = changes["subject"]
    if "queue" in changes and changes["queue"] != ticket.queue.key:
        try:
            definition = policy.queue(str(changes["queue"]))
        except PolicyError:
            raise ValidationFailed(f"no queue {changes['queue']!r}", field="queue") from None
        fields["queue_id"] = ensure_queue(session, definition).id
        fields["assignee_id"] = None
    access.check_field_edit(principal, fields)
    number = ticket.number  # read now: after a failed flush the ticket cannot be loaded
    try:
        if fields:
            history.change_fields(session, ticket=ticket, actor=principal.name, changes=fields)
            events.record(
                session, DeskEvent("ticket.updated", ticket.number, {"fields": sorted(fields)})
            )
        if "status" in changes:
            lifecycle.transition(
                session, ticket=ticket, to=TicketStatus(changes["status"]), principal=principal
            )
        session.flush()
    except StaleDataError:
        raise VersionConflict(f"{number} was changed by someone else at the same time") from None
    session.refresh(ticket, attribute_names=["queue", "assignee"])
    return ticket


def claim(session: Session, *, ticket: Ticket, principal: Principal) -> Ticket:
    """Take an unassigned ticket; of two agents claiming at once exactly one wins."""
    agent = access.claimant(session, ticket=ticket, principal=principal)
    if ticket.assignee_id == agent.id:
        return ticket
    if ticket.assignee_id is not None:
        holder = ticket.assignee.username if ticket.assignee else "another agent"
        raise AlreadyClaimed(
            f"{ticket.number} is already held by {holder}", details={"holder": holder}
        )
    now = utcnow()
    old_status = ticket.status
    if not tickets_repo.claim(session, ticket_id=ticket.id, agent_id=agent.id, now=now):
        session.expire(ticket)
        winner = get_ticket(session, number=ticket.number or "").assignee
        holder = winner.username if winner else "another agent"
        raise AlreadyClaimed(
            f"{ticket.number} was just claimed by {holder}", details={"holder": holder}
        )
    for field, old, new in (
        ("assignee_id", None, agent.id),
        ("status", old_status, TicketStatus.OPEN),
    ):
        if old != new:
            history.record(
                session,
                ticket_id=ticket.id,
                actor=principal.name,
                field=field,
                old=old,
                new=new,
                now=now,
            )
    session.flush()
    events.record(
        session,
        DeskEvent("ticket.assigned", ticket.number, {"agent": agent.username, "claimed": True}),
    )
    return get_ticket(session, number=ticket.number or "")
