"""Queries on customers and their identities."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, selectinload

from ticketing.enums import IdentityKind
from ticketing.models import Customer, CustomerTag, Identity, Ticket
from ticketing.repositories import written
from ticketing.repositories.upsert import insert_unless_taken


def get_identity(session: Session, *, kind: IdentityKind, value_hash: str) -> Identity | None:
    """The identity of this kind with this blind index, if any."""
    return session.scalar(
        select(Identity).where(Identity.kind == kind, Identity.value_hash == value_hash)
    )


def identity_owner(session: Session, *, kind: IdentityKind, value_hash: str) -> int | None:
    """The id of the customer holding the identity of this kind and blind index, if any
    (one column, read without loading an object)."""
    table = cast(Table, Identity.__table__)
    return (
        session.connection()
        .execute(
            select(table.c.customer_id).where(
                table.c.kind == kind, table.c.value_hash == value_hash
            )
        )
        .scalar()
    )


def get_customer(
    session: Session, customer_id: int, *, with_identities: bool = False
) -> Customer | None:
    """A customer by id, optionally with its identities loaded."""
    statement = select(Customer).where(Customer.id == customer_id)
    if with_identities:
        statement = statement.options(selectinload(Customer.identities))
    return session.scalar(statement)


def add_customer(session: Session, customer: Customer) -> Customer:
    """Insert a customer and give it an id."""
    session.add(customer)
    session.flush()
    return customer


def insert_customer(session: Session, values: dict[str, Any]) -> Customer:
    """Insert a customer (a Core INSERT ... RETURNING id) and give it back as if loaded."""
    table = cast(Table, Customer.__table__)
    row = {"contact_preferences": {}, "merged_into_id": None, "erased_at": None, **values}
    customer_id = (
        session.connection().execute(insert(table).returning(table.c.id), row).scalar_one()
    )
    return written.as_loaded(session, Customer(id=customer_id, **row))


def add_identity(session: Session, identity: Identity) -> Identity:
    """Insert an identity (the unique kind+hash constraint guards duplicates)."""
    session.add(identity)
    session.flush()
    return identity


def add_identity_unless_taken(
    session: Session,
    *,
    customer_id: int,
    kind: IdentityKind,
    value_hash: str,
    value_enc: str,
    verified: bool = False,
) -> int | None:
    """Insert an identity unless one of this kind and hash exists; the new id, or None."""
    return insert_unless_taken(
        session,
        Identity,
        {
            "customer_id": customer_id,
            "kind": kind,
            "value_hash": value_hash,
            "value_enc": value_enc,
            "verified": verified,
        },
        conflict=("kind", "value_hash"),
    )


def get_profile(session: Session, customer_id: int) -> Customer | None:
    """A customer with identities and tags loaded."""
    return session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .options(selectinload(Customer.identities), selectinload(Customer.tags))
        .execution_options(populate_existing=True)
    )


def identities_of(session: Session, customer_id: int) -> list[Identity]:
    """A customer's identities, oldest first."""
    return list(
        session.scalars(
            select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
        )
    )


def all_encrypted(session: Session) -> tuple[list[Customer], list[Identity], list[Ticket]]:
    """Every row that holds ciphertext (for key rotation)."""
    return (
        list(session.scalars(select(Customer))),
        list(session.scalars(select(Identity))),
        list(session.scalars(select(Ticket).where(Ticket.contact_enc.is_not(None)))),
    )


def find_by_contact(session: Session, *, kind: IdentityKind, value_hash: str) -> Customer | None:
    """The customer a phone or e-mail identity belongs to."""
    identity = get_identity(session, kind=kind, value_hash=value_hash)
    return get_customer(session, identity.customer_id) if identity else None


def has_tag(session: Session, *, customer_id: int, tag: str) -> bool:
    """Whether the customer carries this tag."""
    found = session.scalar(
        select(CustomerTag.id).where(CustomerTag.customer_id == customer_id, CustomerTag.tag == tag)
    )
    return found is not None
