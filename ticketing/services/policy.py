"""The routing policy in force: the admins' stored edit, else the packaged routing.yml.

Every worker keeps the policy it parsed with its version and, on each use, reads only
the stored version (one indexed row): when another worker saved a new one, it re-reads
the document. An edit is validated whole (``routing.parse_policy``) before it is saved,
names the version it replaces (409 when stale), is audited, and applies to every worker
from its next request, without a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from ticketing.errors import Conflict, ValidationFailed
from ticketing.models import RoutingPolicyDocument
from ticketing.principals import Principal
from ticketing.repositories import documents as document_repo
from ticketing.repositories import policies as policies_repo
from ticketing.routing import (
    DEFAULT_POLICY_PATH,
    PolicyError,
    RoutingPolicy,
    default_policy,
    parse_policy,
)
from ticketing.services import documents
from ticketing.services.queues import ensure_queue

POLICY_ROW_ID = 1  # one row: two first saves at once collide on the key (409)


class StalePolicy(Conflict):
    code = "version_conflict"


@dataclass(frozen=True)
class PolicyDocument:
    """The policy as an admin edits it, and who last changed it."""

    document: dict[str, Any]
    version: int
    updated_by: str | None
    updated_at: datetime | None


_lock = threading.Lock()
# Keyed by version and save time, so a database restored to an older state is re-read too.
_parsed: tuple[tuple[int, datetime], RoutingPolicy] | None = None


def current_policy(session: Session) -> RoutingPolicy:
    """The policy in force now, re-read when another worker saved a newer one."""
    global _parsed
    stamp = policies_repo.current_stamp(session)
    if stamp is None:
        return default_policy()
    cached = _parsed
    if cached is not None and cached[0] == stamp:
        return cached[1]
    row = document_repo.stored(session, RoutingPolicyDocument)
    if row is None:  # removed between the two reads
        return default_policy()
    policy = parse_policy(dict(row.document))
    with _lock:
        _parsed = ((row.version, row.updated_at), policy)
    return policy


def packaged_document() -> dict[str, Any]:
    """The packaged routing.yml as data."""
    with DEFAULT_POLICY_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def read(session: Session) -> PolicyDocument:
    """The document in force (version 0: the packaged one, never edited)."""
    row = document_repo.stored(session, RoutingPolicyDocument)
    if row is None:
        return PolicyDocument(packaged_document(), 0, None, None)
    return PolicyDocument(dict(row.document), row.version, row.updated_by, row.updated_at)


def _field_of(document: dict[str, Any], error: PolicyError) -> str:
    """The section a policy error is about, as the client named it."""
    message = str(error)
    if "business_hours" in message:
        return "business_hours"
    if "escalation tiers" in message:
        return "escalation"
    if "no SLA" in message:
        return "sla"
    if "route" in message:
        return "categories"
    # A malformed value: the section that still fails when put into the packaged policy.
    packaged = packaged_document()
    for section in sorted(set(document) | set(packaged)):
        try:
            parse_policy({**packaged, section: document.get(section)})
        except PolicyError:
            return section
    return "policy"


def validate(document: dict[str, Any]) -> RoutingPolicy:
    """The parsed policy, or ValidationFailed naming the section and the reason."""
    try:
        return parse_policy(document)
    except PolicyError as error:
        raise ValidationFailed(str(error), field=f"policy.{_field_of(document, error)}") from None


def replace(
    session: Session, *, principal: Principal, document: dict[str, Any], version: int
) -> PolicyDocument:
    """Save a new policy over ``version`` (the one the editor read); invalid ones change nothing."""
    policy = validate(document)
    row = documents.save(
        session,
        RoutingPolicyDocument,
        row_id=POLICY_ROW_ID,
        document=document,
        version=version,
        principal=principal,
        stale=StalePolicy,
        what="the routing policy",
        action="routing_policy_changed",
        field="routing_policy",
    )
    for queue in policy.queues:
        ensure_queue(session, queue)
    session.flush()
    return PolicyDocument(dict(row.document), row.version, row.updated_by, row.updated_at)
