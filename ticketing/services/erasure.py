"""Erasure on a customer's request: their personal data gone, ticket statistics kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing import privacy_text
from ticketing.errors import Conflict, ValidationFailed
from ticketing.models import Customer, utcnow
from ticketing.principals import Principal
from ticketing.repositories import customers as customers_repo
from ticketing.repositories import erasure as erasure_repo
from ticketing.services.audit import audit
from ticketing.services.profiles import get_customer, get_visible_customer

ERASED = "[erased]"


def erase(
    session: Session,
    *,
    customer_id: int,
    reason: str,
    principal: Principal,
    now: datetime | None = None,
) -> Customer:
    """Anonymise a customer on request: personal data gone, ticket statistics kept."""
    if len(reason.strip()) < 5:
        raise ValidationFailed("record the request behind the erasure", field="reason")
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="erase"
    )
    if customer.erased_at is not None:
        raise Conflict("this customer was already erased", code="customer_erased")
    moment = now or utcnow()
    for identity in customers_repo.identities_of(session, customer.id):
        session.delete(identity)
    for tag in customer.tags:
        session.delete(tag)
    customer.display_name_enc = None
    customer.id_number_enc = None
    customer.contact_preferences = {}
    customer.erased_at = moment
    erasure_repo.overwrite_texts(session, customer_id=customer.id, placeholder=ERASED)
    # Whoever wrote them, the tickets' texts keep only their masked copies.
    privacy_text.forget_full_text(session, ticket_ids=erasure_repo.ticket_ids_of(customer.id))
    session.flush()
    audit(
        session, principal=principal, action="erase", customer_id=customer.id, reason=reason.strip()
    )
    return get_customer(session, customer.id)
