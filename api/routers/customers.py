"""The customer profile store over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import require_roles
from api.deps import SessionDep, VaultDep
from ticketing.enums import Channel
from ticketing.principals import Principal, Role
from ticketing.schemas import CustomerRead
from ticketing.services import customers as customers_service

router = APIRouter(prefix="/customers", tags=["customers"])

ProfileReader = Annotated[
    Principal,
    Depends(require_roles(Role.BOT_SERVICE, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)),
]


@router.get(
    "/by-identity",
    response_model=CustomerRead,
    responses={
        401: {"description": "Missing or invalid token"},
        404: {"description": "No customer under this identity (`customer_not_found`)"},
    },
)
def find_by_identity(
    channel: Channel,
    external_id: Annotated[str, Query(min_length=1, max_length=200)],
    session: SessionDep,
    vault: VaultDep,
    _principal: ProfileReader,
) -> CustomerRead:
    """The customer a channel's sender id belongs to, with masked contacts only."""
    customer = customers_service.find_by_identity(
        session, vault=vault, channel=channel, external_id=external_id
    )
    contacts = customers_service.contact_summary(customer, vault=vault)
    return CustomerRead(
        id=customer.id,
        language=customer.language,
        has_phone=contacts.has_phone,
        has_email=contacts.has_email,
        phone_masked=contacts.phone_masked,
        email_masked=contacts.email_masked,
    )
