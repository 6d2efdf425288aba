"""Authentication (Bearer tokens) and role checks. Every API route requires a principal.

Two kinds of token: the action server's service token (a shared secret), and the
short-lived JWTs staff get from ``POST /api/v1/auth/login``. A staff token is checked
against the database on every request, so a deactivated account loses access at once.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep, VaultDep
from ticketing.enums import CONVERSATION_CHANNELS, Channel
from ticketing.errors import Forbidden, Unauthorized
from ticketing.models import Agent, utcnow
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.services import customers as customers_service
from ticketing.services import staff as staff_service
from ticketing.settings import Settings

BOT_SERVICE_PRINCIPAL = Principal(name="bot_service", role=Role.BOT_SERVICE)

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "service-desk"
JWT_AUDIENCE = "service-desk-staff"

_bearer = HTTPBearer(
    auto_error=False,
    description="A staff token from `POST /api/v1/auth/login`, or the bot's service token.",
)


@dataclass(frozen=True)
class StaffToken:
    """A signed staff token and when it stops working."""

    token: str
    expires_at: datetime


def issue_staff_token(
    agent: Agent, settings: Settings, *, now: datetime | None = None
) -> StaffToken:
    """Sign a token for a staff account (its id and role; nothing personal)."""
    issued = now or utcnow()
    expires = issued + timedelta(minutes=settings.staff_token_minutes)
    claims = {
        "sub": str(agent.id),
        "role": agent.role.value,
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=JWT_ALGORITHM)
    return StaffToken(token=token, expires_at=expires)


def _staff_claims(token: str, settings: Settings) -> dict[str, Any] | None:
    try:
        return jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            audience=JWT_AUDIENCE,
            options={"require": ["sub", "role", "exp", "iat"]},
        )
    except jwt.PyJWTError:
        return None


def staff_principal(agent: Agent) -> Principal:
    """The principal a staff account acts as."""
    return Principal(
        name=f"staff:{agent.username}",
        role=Role(agent.role.value),
        agent_id=agent.id,
        must_change_password=agent.must_change_password,
    )


# What a staff account with a temporary password may still do: see who it is, change it.
PASSWORD_CHANGE_PATHS = frozenset({"/api/v1/auth/me", "/api/v1/auth/password"})


def principal_for_token(token: str, settings: Settings, session: Session) -> Principal | None:
    """The principal a token stands for, or None when it is not valid (any more)."""
    expected = settings.service_token.get_secret_value()
    if hmac.compare_digest(token.encode(), expected.encode()):
        return BOT_SERVICE_PRINCIPAL
    claims = _staff_claims(token, settings)
    if claims is None or not str(claims["sub"]).isdigit():
        return None
    agent = staff_service.get_active(session, agent_id=int(claims["sub"]))
    # A role change takes effect at once: a token with the old role stops working.
    if agent is None or agent.role.value != claims["role"]:
        return None
    return staff_principal(agent)


def authenticate(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    vault: VaultDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_desk_channel: Annotated[
        str | None,
        Header(
            max_length=32,
            description="Bot only: the conversation's channel (rest, web, wechat or voice).",
        ),
    ] = None,
    x_desk_sender: Annotated[
        str | None,
        Header(max_length=200, description="Bot only: the conversation's sender id."),
    ] = None,
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 otherwise.

    The bot's service token acts for one conversation at a time: it must name it in
    ``X-Desk-Channel`` and ``X-Desk-Sender``, and may then touch only the tickets and
    profile of the customer behind that conversation.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A Bearer token is required.", code="unauthorized")
    principal = principal_for_token(credentials.credentials, settings, session)
    if principal is None:
        raise Unauthorized("The token is not valid or has expired.", code="invalid_token")
    if principal.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise Forbidden(
            "Your password was reset: change it (POST /api/v1/auth/password) first.",
            code="password_change_required",
        )
    if principal.is_bot:
        principal = _conversation_scope(
            principal, session=session, vault=vault, channel=x_desk_channel, sender=x_desk_sender
        )
    return principal


def _conversation_scope(
    principal: Principal, *, session: Session, vault: Vault, channel: str | None, sender: str | None
) -> Principal:
    if not channel or not sender or not sender.strip():
        raise Forbidden(
            "the service token acts for one conversation: send X-Desk-Channel and X-Desk-Sender",
            code="conversation_required",
        )
    try:
        kind_channel = Channel(channel)
    except ValueError:
        raise Forbidden(f"unknown channel {channel[:32]!r}", code="conversation_required") from None
    if kind_channel not in CONVERSATION_CHANNELS:
        # A phone number or e-mail address is what a customer types, not a conversation a
        # connector proved: as a conversation key it would let anyone act as its owner.
        raise Forbidden(
            f"X-Desk-Channel must be a conversation channel "
            f"({', '.join(sorted(c.value for c in CONVERSATION_CHANNELS))}), not {channel!r}",
            code="conversation_required",
        )
    customer_id = customers_service.customer_id_for_identity(
        session, vault=vault, channel=kind_channel, external_id=sender
    )
    return replace(
        principal, conversation=(kind_channel.value, sender.strip()), customer_id=customer_id
    )


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets only the given roles through (403 for the others)."""
    allowed = frozenset(roles)

    # A coroutine: no thread hop for a set lookup (FastAPI runs ``def`` in its pool).
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("Your role may not do this.", code="forbidden")
        return principal

    return check


# The bot (for its conversation's customer) or any staff member; what each may do with
# a given ticket is the services' rule (ticketing/services/access.py).
BotOrStaff = Annotated[
    Principal,
    Depends(require_roles(Role.BOT_SERVICE, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)),
]
StaffOnly = Annotated[Principal, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
SupervisorOnly = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
AdminOnly = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
# The customer speaks through the bot: what only the customer does (rating a ticket).
BotOnly = Annotated[Principal, Depends(require_roles(Role.BOT_SERVICE))]
