"""Documents kept as one versioned row that supervisors or admins edit whole.

The routing policy and the canned replies are each one row (``id`` fixed): an edit names
the version it replaces (409 when another edit came first), the first save of two at
once collides on the key (409 too), and every save is audited with the new version.
The caller validates the document before saving it; nothing is saved on a conflict.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.errors import Conflict
from ticketing.models import AuditEntry, utcnow
from ticketing.principals import Principal
from ticketing.repositories import audit as audit_repo
from ticketing.repositories.documents import Row, stored


def save(
    session: Session,
    model: type[Row],
    *,
    row_id: int,
    document: dict[str, Any],
    version: int,
    principal: Principal,
    stale: type[Conflict],
    what: str,
    action: str,
    field: str,
) -> Row:
    """Store ``document`` over ``version`` (the one the editor read) and audit it.

    ``what`` names the document in the 409's message ("the routing policy"); ``stale``
    is the conflict raised, with the version in force in its details.
    """
    row = stored(session, model, lock=True)
    current = row.version if row is not None else 0
    if version != current:
        raise stale(
            f"{what} changed meanwhile (version {current}, you edited {version}): "
            "reload and edit again",
            details={"version": current},
        )
    now = utcnow()
    if row is None:
        try:
            with session.begin_nested():
                row = model(
                    id=row_id,
                    document=document,
                    version=1,
                    updated_by=principal.name,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
        except IntegrityError:
            raise stale(
                f"{what} was saved by someone else meanwhile: reload and edit again",
                details={"version": 1},
            ) from None
    else:
        row.document = document
        row.version = current + 1
        row.updated_by = principal.name
        row.updated_at = now
    audit_repo.add(
        session,
        AuditEntry(
            at=now,
            actor=principal.name,
            role=principal.role.value,
            action=action,
            customer_id=None,
            field=field,
            details={"version": row.version},
        ),
    )
    session.flush()
    return row
