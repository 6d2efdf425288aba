"""Merging two profiles of one person: which values win, and what moves over.

Staff merge duplicates (:func:`merge`); customer imports fold their rows into the store
by the same precedence (:func:`merge_precedence`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing.enums import IdentityKind
from ticketing.errors import Conflict, ValidationFailed
from ticketing.models import Customer, CustomerTag, utcnow
from ticketing.principals import Principal
from ticketing.repositories import customers as customers_repo
from ticketing.repositories import merges as merges_repo
from ticketing.services.audit import audit
from ticketing.services.profiles import get_customer, get_visible_customer

# Own channels first: when two merged profiles disagree and were updated at the same
# time, the value that came through the desk's own channel wins over a third party's.
CHANNEL_PRIORITY: tuple[IdentityKind, ...] = (
    IdentityKind.WEB_SESSION,
    IdentityKind.REST,
    IdentityKind.VOICE,
    IdentityKind.PHONE,
    IdentityKind.EMAIL,
    IdentityKind.WECHAT_OPENID,
)


def merge_precedence(updated_at: datetime, channel_rank: int) -> tuple[datetime, int]:
    """How a profile ranks when two disagree: the most recent update first, then the
    better channel (lower rank: own channels before third parties). The larger wins.

    Staff merges (``merge``) and customer imports (``services.import_grouping``,
    ``services.import_apply``) both use it.
    """
    return (updated_at, -channel_rank)


def _first_kind(session: Session, customer_id: int) -> int:
    identities = customers_repo.identities_of(session, customer_id)
    ranks = [CHANNEL_PRIORITY.index(i.kind) for i in identities if i.kind in CHANNEL_PRIORITY]
    return min(ranks, default=len(CHANNEL_PRIORITY))


def merge(session: Session, *, survivor_id: int, other_id: int, principal: Principal) -> Customer:
    """Fold ``other`` into ``survivor``: identities, tickets, tags and ratings move over.

    Where both have a value, the most recently updated profile wins, then the one known
    through an own channel; every such conflict is audited (field and winner only).
    """
    if survivor_id == other_id:
        raise ValidationFailed("a customer cannot be merged with itself", field="other_id")
    survivor = get_visible_customer(
        session, customer_id=survivor_id, principal=principal, attempt="merge"
    )
    other = get_visible_customer(
        session, customer_id=other_id, principal=principal, attempt="merge"
    )
    if other.id == survivor.id:
        raise Conflict("these customers are already merged", code="already_merged")
    if survivor.erased_at or other.erased_at:
        raise Conflict("an erased customer cannot be merged", code="customer_erased")
    survivor_first = merge_precedence(survivor.updated_at, _first_kind(session, survivor.id))
    other_first = merge_precedence(other.updated_at, _first_kind(session, other.id))
    other_wins = other_first > survivor_first
    conflicts: list[dict[str, str]] = []
    for attr in ("display_name_enc", "id_number_enc", "language"):
        mine, theirs = getattr(survivor, attr), getattr(other, attr)
        if theirs is None or mine == theirs:
            continue
        if mine is None or other_wins:
            setattr(survivor, attr, theirs)
        if mine is not None:
            conflicts.append(
                {
                    "field": attr.removesuffix("_enc"),
                    "winner": "other" if other_wins else "survivor",
                }
            )
    if other.contact_preferences and (other_wins or not survivor.contact_preferences):
        survivor.contact_preferences = dict(other.contact_preferences)
    merges_repo.move_records(session, from_id=other.id, to_id=survivor.id)
    survivor_tags = {t.tag for t in survivor.tags}
    for tag in other.tags:
        if tag.tag not in survivor_tags:
            session.add(CustomerTag(customer_id=survivor.id, tag=tag.tag))
        session.delete(tag)
    other.merged_into_id = survivor.id
    survivor.updated_at = utcnow()
    session.flush()
    for conflict in conflicts:
        audit(
            session,
            principal=principal,
            action="merge_conflict",
            customer_id=survivor.id,
            field_name=conflict["field"],
            details={"winner": conflict["winner"], "merged": other.id},
        )
    audit(
        session,
        principal=principal,
        action="merge",
        customer_id=survivor.id,
        details={"merged": other.id, "conflicts": len(conflicts)},
    )
    return get_customer(session, survivor.id)
