"""The audit log of access to personal data: every view, reveal, change and refusal.

Entries name fields, never their values. A refused attempt is kept even though its
request rolls back (:func:`audit_refusal`, written by the unit of work afterwards).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ticketing.models import AuditEntry, utcnow
from ticketing.principals import Principal
from ticketing.repositories import audit as audit_repo


def audit(
    session: Session,
    *,
    principal: Principal,
    action: str,
    customer_id: int | None,
    field_name: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the audit log (field names only, never values)."""
    audit_repo.add(
        session,
        AuditEntry(
            at=utcnow(),
            actor=principal.name,
            role=principal.role.value,
            action=action,
            customer_id=customer_id,
            field=field_name,
            reason=reason,
            details=details or {},
        ),
    )


_KEPT_AUDIT = "desk_audit_kept_on_rollback"


def audit_refusal(
    session: Session,
    *,
    principal: Principal,
    action: str,
    customer_id: int | None,
    field_name: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a refused attempt. The request then fails and its transaction rolls back,
    so the entry waits on the session until the unit of work writes it after the
    rollback (``write_kept_audit``)."""
    session.info.setdefault(_KEPT_AUDIT, []).append(
        AuditEntry(
            at=utcnow(),
            actor=principal.name,
            role=principal.role.value,
            action=action,
            customer_id=customer_id,
            field=field_name,
            details=details or {},
        )
    )


def has_kept_audit(session: Session) -> bool:
    """Whether refusals wait on this session for ``write_kept_audit``."""
    return bool(session.info.get(_KEPT_AUDIT))


def write_kept_audit(session: Session) -> bool:
    """Add the refusals recorded on this session to it; whether there were any."""
    entries: list[AuditEntry] = session.info.pop(_KEPT_AUDIT, [])
    for entry in entries:
        audit_repo.add(session, entry)
    return bool(entries)
