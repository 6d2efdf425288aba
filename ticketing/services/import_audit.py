"""Customer imports: audit entries about an import as a whole (never a customer's data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ticketing.models import AuditEntry, utcnow
from ticketing.repositories import audit as audit_repo


def audit(session: Session, *, actor: str, role: str, action: str, details: dict[str, Any]) -> None:
    """Append an audit entry about an import (no customer named)."""
    audit_repo.add(
        session,
        AuditEntry(
            at=utcnow(), actor=actor, role=role, action=action, customer_id=None, details=details
        ),
    )
