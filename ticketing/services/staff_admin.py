"""Administering staff accounts: create, edit, deactivate, reactivate, reset a password.

The rules, in one place:

- admins and supervisors manage staff; only an admin creates, edits, resets or
  deactivates an admin account, and only an admin grants the admin role;
- the desk always keeps one active admin: nobody demotes or deactivates the last one;
- every edit names the version it read, so of two concurrent edits one gets 409;
- a deactivated agent's unfinished tickets are handed to someone else (a named agent,
  or automatic assignment, else the waiting line), and their tokens stop working;
- every change is written to the audit log by field name, never with the values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ticketing.enums import AgentPresence, StaffRole, TicketStatus
from ticketing.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from ticketing.models import Agent, AuditEntry, Queue, utcnow
from ticketing.principals import Principal, Role
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import audit as audit_repo
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import assignment
from ticketing.services import staff as staff_service
from ticketing.services.history import change_fields
from ticketing.services.policy import current_policy
from ticketing.services.queues import ensure_queue

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
LANGUAGES = frozenset({"zh", "en"})
MAX_CAPACITY = 50


class StaleStaff(Conflict):
    code = "version_conflict"


class UsernameTaken(Conflict):
    code = "username_taken"


class LastAdmin(Conflict):
    code = "last_admin"


class AdminOnlyChange(Forbidden):
    code = "admin_required"


@dataclass(frozen=True)
class StaffChange:
    """An account after a change, and the tickets that moved because of it."""

    agent: Agent
    reassigned: dict[str, str | None] = field(default_factory=dict)


def _locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _serialise(session: Session) -> None:
    if _locks(session):
        agents_repo.lock_staff_administration(session)


def _audit(
    session: Session, principal: Principal, action: str, agent: Agent, **details: object
) -> None:
    audit_repo.add(
        session,
        AuditEntry(
            at=utcnow(),
            actor=principal.name,
            role=principal.role.value,
            action=action,
            customer_id=None,
            field=f"staff/{agent.id}",
            details=dict(details),
        ),
    )


def _may_touch(
    principal: Principal, *, current: StaffRole | None, wanted: StaffRole | None
) -> None:
    """Supervisors manage agents and supervisors; admin accounts and the admin role are admins'."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is not Role.SUPERVISOR:
        raise Forbidden("Your role may not manage staff.", code="forbidden")
    if StaffRole.ADMIN in (current, wanted):
        raise AdminOnlyChange("only an admin grants the admin role or manages an admin account")


def _get(session: Session, username: str) -> Agent:
    _serialise(session)
    agent = agents_repo.get_for_update(session, username, lock=_locks(session))
    if agent is None:
        raise NotFound(f"no staff account {username!r}", code="staff_not_found")
    return agent


def _check_version(agent: Agent, version: int) -> None:
    if agent.version != version:
        raise StaleStaff(
            f"{agent.username} changed meanwhile (version {agent.version}, you edited {version}): "
            "reload and edit again",
            details={"version": agent.version},
        )


def _keep_an_admin(session: Session, agent: Agent) -> None:
    """Refuse when ``agent`` is the last active admin (rows locked, so two refusals can't race)."""
    admins = agents_repo.active_admin_ids(session, lock=_locks(session))
    if admins == [agent.id]:
        raise LastAdmin("the desk needs at least one active admin; appoint another one first")


def _languages(languages: Sequence[str]) -> list[str]:
    unknown = sorted(set(languages) - LANGUAGES)
    if unknown:
        raise ValidationFailed(
            f"unknown language {unknown[0]!r}; use {', '.join(sorted(LANGUAGES))}",
            field="languages",
        )
    if not languages:
        raise ValidationFailed("an account speaks at least one language", field="languages")
    return sorted(set(languages))


def _queues(session: Session, keys: Sequence[str]) -> list[Queue]:
    definitions = {q.key: q for q in current_policy(session).queues}
    unknown = sorted(set(keys) - set(definitions))
    if unknown:
        raise ValidationFailed(
            f"unknown queue {unknown[0]!r}; known: {', '.join(sorted(definitions))}", field="queues"
        )
    return [ensure_queue(session, definitions[key]) for key in sorted(set(keys))]


def _capacity(capacity: int) -> int:
    if not 0 <= capacity <= MAX_CAPACITY:
        raise ValidationFailed(f"capacity must be between 0 and {MAX_CAPACITY}", field="capacity")
    return capacity


def _display_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("a display name has 1 to 200 characters", field="display_name")
    return name


def create(
    session: Session,
    *,
    principal: Principal,
    username: str,
    display_name: str,
    role: StaffRole,
    languages: Sequence[str],
    queues: Sequence[str],
    capacity: int,
    password: str,
) -> Agent:
    """A new account that must choose its own password at first log-in."""
    _may_touch(principal, current=None, wanted=role)
    _serialise(session)
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise ValidationFailed(
            "a username has 2 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            field="username",
        )
    if agents_repo.get_by_username(session, username) is not None:
        raise UsernameTaken(f"the username {username!r} is taken")
    agent = agents_repo.add(
        session,
        Agent(
            username=username,
            display_name=_display_name(display_name),
            role=role,
            languages=_languages(languages),
            queues=_queues(session, queues),
            capacity=_capacity(capacity),
            presence=AgentPresence.OFFLINE,
            password_hash=staff_service.hash_password(password),
            must_change_password=True,
            active=True,
            version=1,
        ),
    )
    _audit(session, principal, "staff_created", agent, role=role.value)
    return agent


def edit(
    session: Session,
    *,
    principal: Principal,
    username: str,
    version: int,
    changes: dict[str, object],
) -> StaffChange:
    """Change display name, role, languages, queues or capacity; ``version`` is the one read."""
    agent = _get(session, username)
    wanted = StaffRole(str(changes["role"])) if changes.get("role") is not None else None
    _may_touch(principal, current=agent.role, wanted=wanted)
    _check_version(agent, version)
    changed: list[str] = []
    if wanted is not None and wanted is not agent.role:
        if agent.role is StaffRole.ADMIN and agent.active:
            _keep_an_admin(session, agent)
        agent.role = wanted
        changed.append("role")
    if changes.get("display_name") is not None:
        name = _display_name(str(changes["display_name"]))
        if name != agent.display_name:
            agent.display_name = name
            changed.append("display_name")
    if changes.get("languages") is not None:
        languages = _languages(changes["languages"])  # type: ignore[arg-type]
        if languages != sorted(agent.languages):
            agent.languages = languages
            changed.append("languages")
    if changes.get("queues") is not None:
        rows = _queues(session, changes["queues"])  # type: ignore[arg-type]
        if {q.key for q in rows} != {q.key for q in agent.queues}:
            agent.queues = rows
            changed.append("queues")
    given: list[str] = []
    if changes.get("capacity") is not None:
        capacity = _capacity(int(changes["capacity"]))  # type: ignore[call-overload]
        if capacity != agent.capacity:
            given = assignment.set_capacity(session, agent=agent, capacity=capacity)
            changed.append("capacity")
    if changed:
        agent.version += 1
        session.flush()
        _audit(session, principal, "staff_edited", agent, fields=changed)
    return StaffChange(agent=agent, reassigned={number: agent.username for number in given})


def deactivate(
    session: Session,
    *,
    principal: Principal,
    username: str,
    version: int,
    reassign_to: str | None = None,
) -> StaffChange:
    """Switch an account off; its unfinished tickets go to ``reassign_to`` or are re-routed."""
    agent = _get(session, username)
    _may_touch(principal, current=agent.role, wanted=None)
    _check_version(agent, version)
    if not agent.active:
        return StaffChange(agent=agent)
    if principal.agent_id == agent.id:
        raise Conflict("you cannot deactivate your own account", code="self_deactivation")
    if agent.role is StaffRole.ADMIN:
        _keep_an_admin(session, agent)
    target: Agent | None = None
    if reassign_to is not None:
        target = agents_repo.get_by_username(session, reassign_to.strip().lower())
        if target is None or not target.active or target.id == agent.id:
            raise ValidationFailed(
                f"no other active staff account {reassign_to!r}", field="reassign_to"
            )
    agent.active = False
    agent.presence = AgentPresence.OFFLINE
    agent.version += 1
    session.flush()
    moved = _hand_over(session, principal=principal, agent=agent, target=target)
    _audit(session, principal, "staff_deactivated", agent, tickets_moved=len(moved))
    return StaffChange(agent=agent, reassigned=moved)


def _hand_over(
    session: Session, *, principal: Principal, agent: Agent, target: Agent | None
) -> dict[str, str | None]:
    """Release each unfinished ticket; give it to ``target``, else to automatic assignment."""
    moved: dict[str, str | None] = {}
    now = utcnow()
    for ticket in tickets_repo.held_by(session, agent_id=agent.id, lock=_locks(session)):
        changes: dict[str, object] = {"assignee_id": None, "assigned_at": None}
        if ticket.status is TicketStatus.OPEN:
            changes["status"] = TicketStatus.NEW  # nobody holds it any more
        change_fields(session, ticket=ticket, actor=principal.name, changes=changes, now=now)
        if target is not None:
            if ticket.queue_id not in agents_repo.queue_ids(session, target.id):
                raise ValidationFailed(
                    f"{target.username} does not work the {ticket.queue.key} queue of "
                    f"{ticket.number}",
                    field="reassign_to",
                )
            assignment.assign_to(
                session, ticket=ticket, agent=target, actor=principal.name, force=True
            )
            moved[ticket.number or ""] = target.username
        else:
            chosen = assignment.assign_new_ticket(session, ticket=ticket, now=now)
            moved[ticket.number or ""] = chosen.username if chosen else None
    return moved


def reactivate(session: Session, *, principal: Principal, username: str, version: int) -> Agent:
    """Switch an account back on (offline, until the person logs in)."""
    agent = _get(session, username)
    _may_touch(principal, current=agent.role, wanted=None)
    _check_version(agent, version)
    if agent.active:
        return agent
    agent.active = True
    agent.version += 1
    session.flush()
    _audit(session, principal, "staff_reactivated", agent)
    return agent


def reset_password(
    session: Session, *, principal: Principal, username: str, version: int, password: str
) -> Agent:
    """Give an account a temporary password it must change at its next log-in."""
    agent = _get(session, username)
    _may_touch(principal, current=agent.role, wanted=None)
    _check_version(agent, version)
    agent.password_hash = staff_service.hash_password(password)
    agent.must_change_password = True
    agent.version += 1
    session.flush()
    _audit(session, principal, "staff_password_reset", agent)
    return agent


def change_own_password(
    session: Session, *, principal: Principal, current_password: str, new_password: str
) -> Agent:
    """The caller replaces their password (the way out of a reset)."""
    agent = staff_service.get_active(session, agent_id=principal.agent_id or 0)
    if agent is None:
        raise NotFound("This token does not belong to a staff account.", code="not_staff")
    try:
        staff_service.authenticate(session, username=agent.username, password=current_password)
    except Unauthorized:
        # Not 401: the token is fine, the password typed is not.
        raise Forbidden("the current password is wrong", code="wrong_password") from None
    if new_password == current_password:
        raise ValidationFailed("choose a password you have not just used", field="new_password")
    try:
        agent.password_hash = staff_service.hash_password(new_password)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, field="new_password") from None
    agent.must_change_password = False
    agent.version += 1
    session.flush()
    _audit(session, principal, "password_changed", agent)
    return agent
