"""The customer profile store for staff: the 360° view, disclosure by role, reveals,
edits, tags, identities and search. Every access to personal data is audited
(:mod:`ticketing.services.audit`); merges and erasure have their own modules
(:mod:`ticketing.services.merges`, :mod:`ticketing.services.erasure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.enums import IdentityKind, RevealReason
from ticketing.errors import Conflict, Forbidden, ValidationFailed
from ticketing.models import (
    Customer,
    CustomerTag,
    Identity,
    SatisfactionRating,
    Ticket,
    TicketMessage,
    utcnow,
)
from ticketing.principals import Principal
from ticketing.privacy import (
    MASKERS,
    DecryptionFailed,
    Vault,
    normalise_email,
    normalise_id_number,
    normalise_phone,
)
from ticketing.repositories import customers as customers_repo
from ticketing.services import access, disclosure
from ticketing.services.audit import audit, audit_refusal
from ticketing.services.customers import CustomerNotFound

PERSONAL_FIELDS = ("phone", "email", "id_number", "name")
KNOWN_TAGS = frozenset({"vip", "high_value", "churn_risk"})
MAX_TAGS = 20


MIN_REASON_WEIGHT = 10
MIN_DISTINCT_CHARS = 4


class ChannelVerificationOnly(Forbidden):
    """Staff claimed that a channel proved a contact; only the bot's connector can."""

    code = "channel_verification_only"

    def __init__(self, field_name: str) -> None:
        super().__init__(
            f"{field_name} is set only by the bot for a contact its channel proved "
            "(a carrier's caller number); staff add contacts unverified",
            details=[{"field": field_name, "message": "only the bot's channel may verify"}],
        )


def _reason_weight(text: str) -> int:
    # A Chinese character says about as much as two Latin letters.
    return sum(
        2 if "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" else 1 for char in text
    )


def check_reveal_reason(reason_code: str, reason: str) -> None:
    """A reveal names a reason from the fixed list and says in words what it is for."""
    if reason_code not in set(RevealReason):
        raise ValidationFailed(
            f"reason_code must be one of {[r.value for r in RevealReason]}", field="reason_code"
        )
    text = " ".join(reason.split())
    letters = {char.lower() for char in text if char.isalpha()}
    if _reason_weight(text) < MIN_REASON_WEIGHT or len(letters) < MIN_DISTINCT_CHARS:
        raise ValidationFailed(
            "say in words why you need it (at least 10 characters, or 5 Chinese ones, "
            "not one character repeated)",
            field="reason",
        )


def get_customer(session: Session, customer_id: int) -> Customer:
    """A customer with identities and tags; a merged one resolves to its survivor."""
    seen: set[int] = set()
    current = customers_repo.get_profile(session, customer_id)
    while current is not None and current.merged_into_id is not None and current.id not in seen:
        seen.add(current.id)
        current = customers_repo.get_profile(session, current.merged_into_id)
    if current is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return current


def get_visible_customer(
    session: Session, *, customer_id: int, principal: Principal, attempt: str
) -> Customer:
    """A customer this principal may see; 404 (not 403) otherwise, so ids don't leak.

    A refused attempt on a customer who exists is audited (``denied``, with what was
    tried), so probing customer ids leaves a trace.
    """
    customer = get_customer(session, customer_id)
    if not access.can_see_customer(session, customer_id=customer.id, principal=principal):
        audit_refusal(
            session,
            principal=principal,
            action="denied",
            customer_id=customer.id,
            details={"attempt": attempt},
        )
        raise CustomerNotFound(f"no customer {customer_id}")
    return customer


def plaintext(customer: Customer, field_name: str, *, vault: Vault) -> str | None:
    """A personal field in clear (the newest phone or e-mail identity for contacts)."""
    if field_name == "name":
        return vault.decrypt(customer.display_name_enc) if customer.display_name_enc else None
    if field_name == "id_number":
        return vault.decrypt(customer.id_number_enc) if customer.id_number_enc else None
    kind = IdentityKind.PHONE if field_name == "phone" else IdentityKind.EMAIL
    values = [i for i in customer.identities if i.kind is kind]
    return vault.decrypt(values[-1].value_enc) if values else None


@dataclass
class ProfileView:
    """What one caller may see of a customer, with the fields shown in clear listed."""

    customer: Customer
    personal: dict[str, str | None]
    identities: list[dict[str, Any]]
    tags: list[str]
    tickets: list[Ticket]
    messages: list[TicketMessage]
    ratings: list[SatisfactionRating]
    shown_in_clear: list[str] = field(default_factory=list)


def view(session: Session, *, vault: Vault, customer_id: int, principal: Principal) -> ProfileView:
    """The 360° view as this principal may see it, with only the tickets it may see.

    Every view is audited (the fields shown in clear, if any; never values).
    """
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="view"
    )
    personal: dict[str, str | None] = {}
    shown: list[str] = []
    for name in PERSONAL_FIELDS:
        rule = disclosure.shown_as(principal.role, name)
        if rule == "hidden":
            continue
        value = _safe_plaintext(customer, name, vault=vault)
        if value is None:
            personal[name] = None
        elif rule == "clear":
            personal[name] = value
            shown.append(name)
        else:
            personal[name] = MASKERS[name](value)
    identities = []
    for identity in customer.identities:
        value = _safe_decrypt(identity.value_enc, vault=vault)
        contact = identity.kind in (IdentityKind.PHONE, IdentityKind.EMAIL)
        rule = disclosure.shown_as(principal.role, identity.kind.value) if contact else "clear"
        shown_value = (
            None
            if value is None or rule == "hidden"
            else value
            if rule == "clear"
            else MASKERS[identity.kind.value](value)
        )
        identities.append(
            {"kind": identity.kind.value, "value": shown_value, "verified": identity.verified}
        )
    audit(
        session,
        principal=principal,
        action="view",
        customer_id=customer.id,
        details={"fields": shown},
    )
    return ProfileView(
        customer=customer,
        personal=personal,
        identities=identities,
        tags=[t.tag for t in customer.tags],
        tickets=access.customer_tickets(session, customer_id=customer.id, principal=principal),
        messages=access.customer_messages(session, customer_id=customer.id, principal=principal),
        ratings=access.customer_ratings(session, customer_id=customer.id, principal=principal),
        shown_in_clear=shown,
    )


def reveal(
    session: Session,
    *,
    vault: Vault,
    customer_id: int,
    field_name: str,
    reason_code: str,
    reason: str,
    principal: Principal,
) -> str | None:
    """One personal field in clear, for a stated reason; always audited."""
    if field_name not in PERSONAL_FIELDS:
        raise ValidationFailed(f"field must be one of {list(PERSONAL_FIELDS)}", field="field")
    disclosure.check_may_reveal(principal)
    check_reveal_reason(reason_code, reason)
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="reveal"
    )
    audit(
        session,
        principal=principal,
        action="reveal",
        customer_id=customer.id,
        field_name=field_name,
        reason=reason.strip(),
        details={"reason_code": str(reason_code)},
    )
    return plaintext(customer, field_name, vault=vault)


def update_profile(
    session: Session,
    *,
    vault: Vault,
    customer_id: int,
    changes: dict[str, Any],
    principal: Principal,
) -> Customer:
    """Edit name, ID number, language or contact preferences; personal changes audited."""
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="update"
    )
    if customer.erased_at is not None:
        raise Conflict("this customer was erased", code="customer_erased")
    if "display_name" in changes:
        value = (changes["display_name"] or "").strip()
        customer.display_name_enc = vault.encrypt(value) if value else None
        audit(
            session,
            principal=principal,
            action="update",
            customer_id=customer.id,
            field_name="name",
        )
    if "id_number" in changes:
        raw = changes["id_number"]
        customer.id_number_enc = vault.encrypt(normalise_id_number(raw)) if raw else None
        audit(
            session,
            principal=principal,
            action="update",
            customer_id=customer.id,
            field_name="id_number",
        )
    if changes.get("language"):
        customer.language = str(changes["language"])
    if "contact_preferences" in changes and changes["contact_preferences"] is not None:
        customer.contact_preferences = dict(changes["contact_preferences"])
    customer.updated_at = utcnow()
    session.flush()
    return customer


def set_tags(
    session: Session, *, customer_id: int, tags: list[str], principal: Principal
) -> list[str]:
    """Replace a customer's tags (lower-cased, de-duplicated)."""
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="tags"
    )
    wanted = sorted({t.strip().lower() for t in tags if t.strip()})
    if len(wanted) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags", field="tags")
    if any(len(t) > 40 for t in wanted):
        raise ValidationFailed("tags have at most 40 characters", field="tags")
    current = {t.tag: t for t in customer.tags}
    for tag in set(current) - set(wanted):
        session.delete(current[tag])
    for tag in set(wanted) - set(current):
        session.add(CustomerTag(customer_id=customer.id, tag=tag))
    session.flush()
    audit(
        session,
        principal=principal,
        action="tags",
        customer_id=customer.id,
        details={"tags": wanted},
    )
    return wanted


def is_vip(session: Session, customer_id: int) -> bool:
    """Whether the customer carries the VIP tag (routing raises their priority)."""
    return customers_repo.has_tag(session, customer_id=customer_id, tag="vip")


def add_identity(
    session: Session,
    *,
    vault: Vault,
    customer_id: int,
    kind: IdentityKind,
    value: str,
    verified: bool,
    principal: Principal,
) -> Identity:
    """Attach a phone or e-mail to a customer; one that belongs to someone else is a 409.

    Staff cannot mark a contact verified: only a channel that proved it (a carrier's
    caller number, through the bot) may, and a verified contact links identities.
    """
    if kind not in (IdentityKind.PHONE, IdentityKind.EMAIL):
        raise ValidationFailed("staff add phone numbers and e-mail addresses", field="kind")
    if verified and not principal.is_bot:
        raise ChannelVerificationOnly("verified")
    customer = get_visible_customer(
        session, customer_id=customer_id, principal=principal, attempt="identity"
    )
    normal = (
        normalise_phone(value, field="value")
        if kind is IdentityKind.PHONE
        else normalise_email(value, field="value")
    )
    value_hash = vault.blind_index(kind, normal)
    existing = customers_repo.get_identity(session, kind=kind, value_hash=value_hash)
    if existing is not None and existing.customer_id != customer.id:
        # Naming the owner would turn this route into a lookup of anyone's phone number;
        # a supervisor finds and merges duplicates. The attempt itself is kept.
        audit_refusal(
            session,
            principal=principal,
            action="identity_taken",
            customer_id=customer.id,
            field_name=kind.value,
        )
        raise Conflict(
            "this contact belongs to another customer; ask a supervisor to merge the two "
            "if they are one person",
            code="identity_taken",
        )
    if existing is not None:
        existing.verified = existing.verified or verified
        identity = existing
    else:
        try:
            with session.begin_nested():
                identity = customers_repo.add_identity(
                    session,
                    Identity(
                        customer_id=customer.id,
                        kind=kind,
                        value_hash=value_hash,
                        value_enc=vault.encrypt(normal),
                        verified=verified,
                    ),
                )
        except IntegrityError:
            audit_refusal(
                session,
                principal=principal,
                action="identity_taken",
                customer_id=customer.id,
                field_name=kind.value,
            )
            raise Conflict("this contact was just added elsewhere", code="identity_taken") from None
    audit(
        session,
        principal=principal,
        action="update",
        customer_id=customer.id,
        field_name=kind.value,
        details={"verified": verified},
    )
    session.flush()
    return identity


def _safe_decrypt(token: str, *, vault: Vault) -> str | None:
    try:
        return vault.decrypt(token)
    except DecryptionFailed:
        return None


def _safe_plaintext(customer: Customer, name: str, *, vault: Vault) -> str | None:
    try:
        return plaintext(customer, name, vault=vault)
    except DecryptionFailed:
        return None


def search(
    session: Session, *, vault: Vault, phone: str | None, email: str | None, principal: Principal
) -> Customer | None:
    """The customer with this exact phone or e-mail whom this principal may see (blind
    index only); a hit is audited, one the principal may not see is audited as denied."""
    if not phone and not email:
        raise ValidationFailed("give a phone number or an e-mail address", field="phone")
    kind, value = (IdentityKind.PHONE, phone) if phone else (IdentityKind.EMAIL, email)
    assert value is not None
    found = customers_repo.find_by_contact(
        session, kind=kind, value_hash=vault.blind_index(kind, value)
    )
    if found is None:
        return None
    customer = get_customer(session, found.id)
    if not access.can_see_customer(session, customer_id=customer.id, principal=principal):
        # Nothing is refused here (the answer is an empty list), so the entry commits.
        audit(
            session,
            principal=principal,
            action="denied",
            customer_id=customer.id,
            details={"attempt": "search"},
        )
        return None
    audit(session, principal=principal, action="search", customer_id=customer.id)
    return customer
