"""The profile store's rules: one customer across channels, personal data encrypted."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ticketing.enums import Channel, IdentityKind
from ticketing.errors import NotFound, ValidationFailed
from ticketing.models import Customer, Identity, utcnow
from ticketing.privacy import Vault, mask_email, mask_phone, normalise_email, normalise_phone
from ticketing.repositories import customers as customers_repo

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "zh"


class CustomerNotFound(NotFound):
    code = "customer_not_found"


@dataclass(frozen=True)
class ContactSummary:
    """Whether and how (masked) the desk can reach a customer."""

    has_phone: bool
    has_email: bool
    phone_masked: str | None
    email_masked: str | None


def normalise_identity(kind: IdentityKind, value: str, *, field: str) -> str:
    """The canonical form of an identity value, so one person gets one blind index."""
    if kind is IdentityKind.PHONE:
        return normalise_phone(value, field=field)
    if kind is IdentityKind.EMAIL:
        return normalise_email(value, field=field)
    return value.strip()


class _NotLookedUp:
    """The caller has not looked the channel identity up (see :func:`resolve`)."""


NOT_LOOKED_UP = _NotLookedUp()


@dataclass(frozen=True)
class ResolvedCustomer:
    """The customer behind a channel identity, and whether this call created them."""

    customer: Customer
    created: bool


def resolve_customer(
    session: Session,
    *,
    vault: Vault,
    channel: Channel,
    external_id: str,
    language: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    contact_verified: bool = False,
) -> Customer:
    """The customer behind a channel identity, created on first sight (see :func:`resolve`)."""
    return resolve(
        session,
        vault=vault,
        channel=channel,
        external_id=external_id,
        language=language,
        phone=phone,
        email=email,
        display_name=display_name,
        contact_verified=contact_verified,
    ).customer


def resolve(
    session: Session,
    *,
    vault: Vault,
    channel: Channel,
    external_id: str,
    language: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    contact_verified: bool = False,
    channel_owner: int | _NotLookedUp | None = NOT_LOOKED_UP,
) -> ResolvedCustomer:
    """The customer behind a channel identity, created on first sight.

    A new channel identity joins an existing customer only through a VERIFIED phone or
    e-mail (the channel proved it, like a carrier's caller number) matching a verified
    one on file. A typed-in contact is only a claim: anyone can type someone else's
    number, and linking on it would show them that person's tickets. Personal values
    are stored encrypted, found by blind index.

    ``channel_owner``: the customer id the caller already found for this very channel
    identity in this transaction (the API's authentication does, for the bot), so it is
    not looked up twice. A stale "nobody" is safe: creating the identity then finds the
    existing one and uses its customer.
    """
    channel_kind = IdentityKind.for_channel(channel)
    channel_key = (channel_kind, normalise_identity(channel_kind, external_id, field="external_id"))
    channel_hash = vault.blind_index(*channel_key)
    wanted: dict[tuple[IdentityKind, str], str] = {}
    if phone:
        phone_key = (IdentityKind.PHONE, normalise_phone(phone, field="phone"))
        wanted.setdefault(phone_key, vault.blind_index(*phone_key))
    if email:
        email_key = (IdentityKind.EMAIL, normalise_email(email, field="email"))
        wanted.setdefault(email_key, vault.blind_index(*email_key))
    wanted.pop(channel_key, None)  # a contact cannot be the channel identity itself

    if isinstance(channel_owner, _NotLookedUp):
        channel_owner = customers_repo.identity_owner(
            session, kind=channel_kind, value_hash=channel_hash
        )
    known = {
        key: customers_repo.get_identity(session, kind=key[0], value_hash=value_hash)
        for key, value_hash in wanted.items()
    }
    owner_id = _owner(known, channel_owner, contact_verified=contact_verified)
    created = False
    if owner_id is None:
        customer, created = _new_customer(
            session,
            vault=vault,
            identity_key=channel_key,
            value_hash=channel_hash,
            language=language or DEFAULT_LANGUAGE,
            display_name=display_name,
        )
    else:
        found = customers_repo.get_customer(session, owner_id)
        if found is None:  # pragma: no cover - the foreign key makes this impossible
            raise CustomerNotFound("identity points at a missing customer")
        customer = found
        if channel_owner is None:
            # Found through a verified contact: the channel identity joins that customer.
            _link_identity(
                session,
                vault=vault,
                customer=customer,
                key=channel_key,
                value_hash=channel_hash,
                verified=False,
            )

    for key, identity in known.items():
        verified = contact_verified
        if identity is None:
            _link_identity(
                session,
                vault=vault,
                customer=customer,
                key=key,
                value_hash=wanted[key],
                verified=verified,
            )
        elif identity.customer_id == customer.id:
            identity.verified = identity.verified or verified
        else:
            # Merging two customers is a staff decision; keep both and say so (no values).
            logger.info(
                "identity of kind %s belongs to customer %s, not %s; not relinked",
                key[0],
                identity.customer_id,
                customer.id,
            )

    if language and customer.language != language:
        # Only a real change: setting the same value marks the customer modified, and the
        # flush below then runs the whole unit of work for nothing.
        customer.language = language
    if display_name and customer.display_name_enc is None:
        customer.display_name_enc = vault.encrypt(display_name.strip())
    session.flush()
    return ResolvedCustomer(customer=customer, created=created)


def _owner(
    known: dict[tuple[IdentityKind, str], Identity | None],
    channel_owner: int | None,
    *,
    contact_verified: bool,
) -> int | None:
    if channel_owner is not None:
        return channel_owner
    if not contact_verified:
        return None
    for identity in known.values():
        if identity is not None and identity.verified:
            return identity.customer_id
    return None


def _new_customer(
    session: Session,
    *,
    vault: Vault,
    identity_key: tuple[IdentityKind, str],
    value_hash: str,
    language: str,
    display_name: str | None,
) -> tuple[Customer, bool]:
    """Create a customer with its channel identity; if a concurrent request won, use theirs.

    Two statements and no savepoint: the customer's INSERT, then the identity's
    ``INSERT ... ON CONFLICT DO NOTHING``. When the identity was taken meanwhile (the
    other request committed first), the customer just inserted is deleted again.
    Returns the customer and whether this call created it.
    """
    now = utcnow()
    customer = customers_repo.insert_customer(
        session,
        {
            "language": language,
            "display_name_enc": vault.encrypt(display_name.strip()) if display_name else None,
            "id_number_enc": None,
            "created_at": now,
            "updated_at": now,
        },
    )
    identity_id = customers_repo.add_identity_unless_taken(
        session,
        customer_id=customer.id,
        kind=identity_key[0],
        value_hash=value_hash,
        value_enc=vault.encrypt(identity_key[1]),
    )
    if identity_id is not None:
        return customer, True
    session.delete(customer)
    session.flush()
    identity = customers_repo.get_identity(session, kind=identity_key[0], value_hash=value_hash)
    winner = customers_repo.get_customer(session, identity.customer_id) if identity else None
    if winner is None:  # pragma: no cover - the conflict means the identity exists
        raise CustomerNotFound("the identity was taken by a customer that is gone")
    return winner, False


def _link_identity(
    session: Session,
    *,
    vault: Vault,
    customer: Customer,
    key: tuple[IdentityKind, str],
    value_hash: str,
    verified: bool = False,
) -> None:
    linked = customers_repo.add_identity_unless_taken(
        session,
        customer_id=customer.id,
        kind=key[0],
        value_hash=value_hash,
        value_enc=vault.encrypt(key[1]),
        verified=verified,
    )
    if linked is None:
        logger.info("identity of kind %s was linked concurrently; keeping that link", key[0])


def find_by_identity(
    session: Session, *, vault: Vault, channel: Channel, external_id: str
) -> Customer:
    """The customer known under a channel's sender id, with identities loaded."""
    kind = IdentityKind.for_channel(channel)
    value = normalise_identity(kind, external_id, field="external_id")
    identity = customers_repo.get_identity(
        session, kind=kind, value_hash=vault.blind_index(kind, value)
    )
    customer = (
        customers_repo.get_customer(session, identity.customer_id, with_identities=True)
        if identity is not None
        else None
    )
    if customer is None:
        raise CustomerNotFound("no customer is known under this identity")
    return customer


def contact_summary(customer: Customer, *, vault: Vault) -> ContactSummary:
    """Masked contacts of a customer whose identities are loaded (latest of each kind)."""
    phones = [i for i in customer.identities if i.kind is IdentityKind.PHONE]
    emails = [i for i in customer.identities if i.kind is IdentityKind.EMAIL]
    return ContactSummary(
        has_phone=bool(phones),
        has_email=bool(emails),
        phone_masked=mask_phone(vault.decrypt(phones[-1].value_enc)) if phones else None,
        email_masked=mask_email(vault.decrypt(emails[-1].value_enc)) if emails else None,
    )


def customer_id_for_identity(
    session: Session, *, vault: Vault, channel: Channel, external_id: str
) -> int | None:
    """The id of the customer behind a channel identity, or None when nobody is known."""
    kind = IdentityKind.for_channel(channel)
    try:
        value = normalise_identity(kind, external_id, field="external_id")
    except ValidationFailed:
        return None
    return customers_repo.identity_owner(
        session, kind=kind, value_hash=vault.blind_index(kind, value)
    )
