"""Queries on customers and their identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ticketing.enums import IdentityKind
from ticketing.models import Customer, Identity


def get_identity(session: Session, *, kind: IdentityKind, value_hash: str) -> Identity | None:
    """The identity of this kind with this blind index, if any."""
    return session.scalar(
        select(Identity).where(Identity.kind == kind, Identity.value_hash == value_hash)
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


def add_identity(session: Session, identity: Identity) -> Identity:
    """Insert an identity (the unique kind+hash constraint guards duplicates)."""
    session.add(identity)
    session.flush()
    return identity
