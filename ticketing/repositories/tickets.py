"""Queries on tickets, their messages and their history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Insert,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ticketing.enums import AuthorType, Channel, Priority, TicketStatus
from ticketing.models import (
    TICKET_NUMBER_OFFSET,
    TICKET_NUMBER_PREFIX,
    Queue,
    RelayDelivery,
    Ticket,
    TicketEvent,
    TicketMessage,
    ticket_number,
)
from ticketing.repositories import written

_ACTIVE = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ESCALATED)
_PRIORITY_RANK = case({p.value: p.rank for p in Priority}, value=Ticket.priority, else_=0)
# The sort keys clients may use; anything else is refused before it reaches SQL.
SORT_COLUMNS: dict[str, Any] = {
    "created_at": Ticket.created_at,
    "updated_at": Ticket.updated_at,
    "priority": _PRIORITY_RANK,
    "first_response_due_at": Ticket.first_response_due_at,
    "resolution_due_at": Ticket.resolution_due_at,
    "number": Ticket.id,
}


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list is narrowed to. Empty collections mean "any"."""

    statuses: Sequence[TicketStatus] = ()
    queue_keys: Sequence[str] = ()
    priorities: Sequence[Priority] = ()
    channels: Sequence[Channel] = ()
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sla_state: str | None = None
    # Visibility for an agent: tickets in these queues, or assigned to this agent.
    visible_queue_ids: Sequence[int] | None = None
    visible_assignee_id: int | None = None
    now: datetime | None = field(default=None, compare=False)


def _breached(now: datetime) -> ColumnElement[bool]:
    return and_(
        Ticket.status.in_(_ACTIVE),
        or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at < now),
            Ticket.resolution_due_at < now,
        ),
    )


def _warning(now: datetime) -> ColumnElement[bool]:
    return and_(
        Ticket.status.in_(_ACTIVE),
        ~_breached(now),
        or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_warning_at <= now),
            Ticket.resolution_warning_at <= now,
        ),
    )


def conditions(flt: TicketFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses on ``Ticket`` that a filter stands for."""
    conditions: list[ColumnElement[bool]] = []
    if flt.statuses:
        conditions.append(Ticket.status.in_(flt.statuses))
    if flt.queue_keys:
        conditions.append(
            Ticket.queue_id.in_(select(Queue.id).where(Queue.key.in_(flt.queue_keys)))
        )
    if flt.priorities:
        conditions.append(Ticket.priority.in_(flt.priorities))
    if flt.channels:
        conditions.append(Ticket.channel.in_(flt.channels))
    if flt.assignee_id is not None:
        conditions.append(Ticket.assignee_id == flt.assignee_id)
    if flt.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    if flt.customer_id is not None:
        conditions.append(Ticket.customer_id == flt.customer_id)
    if flt.created_after is not None:
        conditions.append(Ticket.created_at >= flt.created_after)
    if flt.created_before is not None:
        conditions.append(Ticket.created_at < flt.created_before)
    if flt.sla_state and flt.now is not None:
        breached, warning = _breached(flt.now), _warning(flt.now)
        conditions.append(
            {"breached": breached, "warning": warning, "ok": and_(~breached, ~warning)}[
                flt.sla_state
            ]
        )
    if flt.visible_queue_ids is not None:
        conditions.append(
            or_(
                Ticket.queue_id.in_(flt.visible_queue_ids),
                Ticket.assignee_id == flt.visible_assignee_id,
            )
        )
    return conditions


def list_tickets(
    session: Session,
    flt: TicketFilter,
    *,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Ticket], int]:
    """One page of tickets matching the filter, and how many match in all."""
    where = conditions(flt)
    total = session.scalar(select(func.count(Ticket.id)).where(*where)) or 0
    column = SORT_COLUMNS[sort.removeprefix("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    rows = session.scalars(
        select(Ticket)
        .where(*where)
        .options(joinedload(Ticket.queue), joinedload(Ticket.assignee))
        .order_by(order, Ticket.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def any_ticket(session: Session, flt: TicketFilter) -> bool:
    """Whether at least one ticket matches the filter."""
    return session.scalar(select(Ticket.id).where(*conditions(flt)).limit(1)) is not None


def recent_public_messages(
    session: Session, flt: TicketFilter, *, limit: int = 20
) -> list[TicketMessage]:
    """The latest public messages of the tickets matching the filter, newest first."""
    return list(
        session.scalars(
            select(TicketMessage)
            .join(Ticket, Ticket.id == TicketMessage.ticket_id)
            .where(TicketMessage.public.is_(True), *conditions(flt))
            .order_by(TicketMessage.created_at.desc(), TicketMessage.id.desc())
            .limit(limit)
        )
    )


def last_customer_message_at(session: Session, ticket_id: int) -> datetime | None:
    """When the customer last wrote on this ticket, if ever."""
    last = session.scalar(
        select(func.max(TicketMessage.created_at)).where(
            TicketMessage.ticket_id == ticket_id,
            TicketMessage.author_type == AuthorType.CUSTOMER,
        )
    )
    if last is not None and last.tzinfo is None:  # SQLite hands aggregates back without the zone
        last = last.replace(tzinfo=UTC)
    return last


def claim(session: Session, *, ticket_id: int, agent_id: int, now: datetime) -> bool:
    """Give an unassigned ticket to an agent in one conditional UPDATE; False if taken.

    The WHERE clause is the lock: of two agents claiming at once, the database lets
    exactly one UPDATE match the unassigned row.
    """
    result = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id,
            Ticket.assignee_id.is_(None),
            Ticket.status.in_((TicketStatus.NEW, TicketStatus.ESCALATED, TicketStatus.OPEN)),
        )
        .values(
            assignee_id=agent_id,
            status=TicketStatus.OPEN,
            version=Ticket.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def history(session: Session, ticket_id: int) -> list[TicketEvent]:
    """A ticket's history, oldest first."""
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
    )


def _with_thread(statement: Select[Ticket]) -> Select[Ticket]:
    # One round trip: the queue, the assignee and the thread joined to the ticket's row
    # (a thread is tens of messages, so repeating the ticket's columns costs less than a
    # second query).
    return statement.options(
        joinedload(Ticket.queue),
        joinedload(Ticket.assignee),
        joinedload(Ticket.messages),
    ).execution_options(populate_existing=True)


def get_by_number(session: Session, number: str) -> Ticket | None:
    """A ticket by its public number, with its queue and message thread loaded."""
    return (
        session.scalars(_with_thread(select(Ticket).where(Ticket.number == number)))
        .unique()
        .one_or_none()
    )


def get_by_id(session: Session, ticket_id: int) -> Ticket | None:
    """A ticket by id, with its queue and message thread loaded."""
    return (
        session.scalars(_with_thread(select(Ticket).where(Ticket.id == ticket_id)))
        .unique()
        .one_or_none()
    )


def reload(session: Session, ticket: Ticket) -> Ticket:
    """The same ticket object brought current: its row, queue, assignee and whole thread.

    For a service that wrote more than the ticket's row (thread lines, another holder),
    so that what it returns shows all of it.
    """
    current = get_by_id(session, ticket.id)
    if current is None:  # pragma: no cover - a ticket is never deleted
        raise LookupError(f"ticket {ticket.id} is gone")
    return current


def add(session: Session, ticket: Ticket) -> Ticket:
    """Insert a ticket and give it its number, derived from the id in the same transaction.

    What the ticket carries (its thread, its history) is inserted by the same flush. The
    number is written by a plain UPDATE rather than a second flush of the unit of work
    (a third of the ORM's work per creation); the object is told the values as loaded.
    """
    session.add(ticket)
    session.flush()
    number = ticket_number(ticket.id)
    # Part of the insert, not a change: updated_at stays the creation time (no onupdate).
    session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id)
        .values(number=number, updated_at=ticket.created_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(ticket, "number", number)
    set_committed_value(ticket, "updated_at", ticket.created_at)
    return ticket


# The columns a new ticket's INSERT names (every other column takes its default / NULL).
NEW_TICKET_COLUMNS = (
    "status",
    "priority",
    "category",
    "queue_id",
    "channel",
    "language",
    "customer_id",
    "subject",
    "subject_enc",
    "description",
    "description_enc",
    "contact_enc",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_warning_at",
    "resolution_warning_at",
    "created_at",
    "updated_at",
    "conversation_id",
    "version",
    "escalation_level",
)
# Built once per dialect kind: "postgresql" (the database draws the id and the number) or
# "other" (the number is filled in by an UPDATE).
_opening_inserts: dict[str, Insert] = {}


def _opening_insert(numbered: bool) -> Insert:
    """``INSERT INTO tickets (...) SELECT <values> WHERE EXISTS (<the queue as expected>)
    RETURNING id, number``.

    ``numbered`` (PostgreSQL): ``SELECT n, 'SD-' || (100000 + n), ... FROM (SELECT
    nextval(<the id sequence>))``, so the database draws the id and derives the number
    from it in the same statement. The queue condition checks the queue this process
    remembers (id, key, names) in the same round trip: a stale memory inserts nothing.
    """
    kind = "postgresql" if numbered else "other"
    if kind not in _opening_inserts:
        table = cast(Table, Ticket.__table__)
        queues = cast(Table, Queue.__table__)
        binds = {name: bindparam(name, type_=table.c[name].type) for name in NEW_TICKET_COLUMNS}
        values = list(binds.values())
        queue_as_expected = (
            select(queues.c.id)
            .where(
                queues.c.id == binds["queue_id"],
                queues.c.key == bindparam("queue_key", type_=queues.c.key.type),
                queues.c.name_en == bindparam("queue_name_en", type_=queues.c.name_en.type),
                queues.c.name_zh == bindparam("queue_name_zh", type_=queues.c.name_zh.type),
            )
            .exists()
        )
        if numbered:
            drawn = select(
                func.nextval(func.pg_get_serial_sequence(table.name, "id")).label("id")
            ).subquery("drawn")
            number = literal(TICKET_NUMBER_PREFIX) + sql_cast(
                drawn.c.id + TICKET_NUMBER_OFFSET, String
            )
            source = select(drawn.c.id, number, *values).where(queue_as_expected)
            columns = ["id", "number", *NEW_TICKET_COLUMNS]
        else:
            source = select(*values).where(queue_as_expected)
            columns = list(NEW_TICKET_COLUMNS)
        _opening_inserts[kind] = (
            insert(table).from_select(columns, source).returning(table.c.id, table.c.number)
        )
    return _opening_inserts[kind]


def insert_opened(
    session: Session,
    *,
    ticket: dict[str, Any],
    queue: Queue,
    messages: list[dict[str, Any]],
    event: dict[str, Any],
) -> tuple[int, str, list[int], int] | None:
    """Insert a new ticket, its thread and its first history entry without the ORM's unit
    of work: the ticket's id, its number, its messages' ids (in the order given) and its
    history entry's id.

    None, with nothing written, when ``queue`` is not stored as given (id, key and names):
    the caller's memory of it is stale (ensure the queue, then try again).

    The rows come sealed (:func:`ticketing.privacy_text.seal_row`); ``ticket`` names every
    column of :data:`NEW_TICKET_COLUMNS` but ``queue_id``. On PostgreSQL the number is set
    by the INSERT itself; elsewhere (SQLite) by an UPDATE right after it, in the same
    transaction. The caller puts the ticket in the session (:func:`as_loaded`).
    """
    connection = session.connection()
    table = cast(Table, Ticket.__table__)
    numbered = connection.dialect.name == "postgresql"
    params = {
        **ticket,
        "queue_id": queue.id,
        "queue_key": queue.key,
        "queue_name_en": queue.name_en,
        "queue_name_zh": queue.name_zh,
    }
    row = connection.execute(_opening_insert(numbered), params).first()
    if row is None:
        return None
    ticket_id = int(row[0])
    number = str(row[1]) if numbered else ticket_number(ticket_id)
    if not numbered:
        # Part of the insert, not a change: updated_at stays the creation time (no onupdate).
        connection.execute(
            update(table)
            .where(table.c.id == ticket_id)
            .values(number=number, updated_at=ticket["updated_at"])
        )
    thread = cast(Table, TicketMessage.__table__)
    message_ids = [
        int(message_id)
        for message_id in connection.execute(
            insert(thread).returning(thread.c.id, sort_by_parameter_order=True),
            [{**message, "ticket_id": ticket_id} for message in messages],
        ).scalars()
    ]
    history = cast(Table, TicketEvent.__table__)
    event_id = int(
        connection.execute(
            insert(history).returning(history.c.id), {**event, "ticket_id": ticket_id}
        ).scalar_one()
    )
    return ticket_id, number, message_ids, event_id


def as_loaded(session: Session, ticket: Ticket) -> Ticket:
    """A ticket just written by :func:`insert_opened` (built with its id, its queue, its
    thread and its history), in the session as if loaded."""
    return written.as_loaded(session, ticket, *ticket.messages, *ticket.events)


def add_message(session: Session, message: TicketMessage) -> TicketMessage:
    """Append a message to a ticket's thread."""
    session.add(message)
    return message


def add_event(session: Session, event: TicketEvent) -> TicketEvent:
    """Record a change in a ticket's history."""
    session.add(event)
    return event


def waiting_in_queues(
    session: Session,
    *,
    queue_ids: Sequence[int],
    limit: int,
    lock: bool,
    languages: Sequence[str] = (),
) -> list[Ticket]:
    """Unassigned tickets waiting in these queues (in these languages, if any are named):
    most urgent first, then the oldest.

    Locked with SKIP LOCKED on PostgreSQL, so two workers serving the queue at once
    never pick the same ticket. Only the tickets asked for are locked: an agent taking
    two tickets leaves the rest of the line to an agent coming online beside them.
    """
    conditions = [
        Ticket.queue_id.in_(queue_ids),
        Ticket.assignee_id.is_(None),
        Ticket.status.in_((TicketStatus.NEW, TicketStatus.ESCALATED)),
    ]
    if languages:
        conditions.append(Ticket.language.in_(languages))
    query = (
        select(Ticket)
        .where(*conditions)
        .order_by(_PRIORITY_RANK.desc(), Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=Ticket)
    return list(session.scalars(query))


def sla_due(session: Session, *, now: datetime, limit: int, lock: bool) -> list[Ticket]:
    """Active, unpaused tickets with an SLA warning or breach not yet announced."""
    first_open = Ticket.first_responded_at.is_(None)
    query = (
        select(Ticket)
        .where(
            Ticket.status.in_(_ACTIVE),
            Ticket.sla_paused_at.is_(None),
            or_(
                and_(
                    first_open,
                    Ticket.first_response_warned_at.is_(None),
                    Ticket.first_response_warning_at <= now,
                ),
                and_(
                    first_open,
                    Ticket.first_response_breached_at.is_(None),
                    Ticket.first_response_due_at <= now,
                ),
                and_(Ticket.resolution_warned_at.is_(None), Ticket.resolution_warning_at <= now),
                and_(Ticket.resolution_breached_at.is_(None), Ticket.resolution_due_at <= now),
            ),
        )
        .order_by(Ticket.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True, of=Ticket)
    return list(session.scalars(query))


def held_by(session: Session, *, agent_id: int, lock: bool) -> list[Ticket]:
    """The unfinished tickets an agent holds, oldest first; rows locked when asked."""
    query = (
        select(Ticket)
        .where(
            Ticket.assignee_id == agent_id,
            Ticket.status.in_(_ACTIVE),
        )
        .options(joinedload(Ticket.queue))
        .order_by(Ticket.id)
    )
    if lock:
        query = query.with_for_update(of=Ticket)
    return list(session.scalars(query))


def conversation_ids_of_customer(session: Session, customer_id: int) -> set[str]:
    """The Rasa conversation ids kept on a customer's tickets and their relay deliveries."""
    on_tickets = select(Ticket.conversation_id).where(
        Ticket.customer_id == customer_id, Ticket.conversation_id.is_not(None)
    )
    on_deliveries = (
        select(RelayDelivery.conversation_id)
        .join(Ticket, Ticket.id == RelayDelivery.ticket_id)
        .where(Ticket.customer_id == customer_id)
    )
    return {c for c in session.scalars(on_tickets.union(on_deliveries)) if c}
