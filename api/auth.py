"""Authentication (Bearer tokens) and role checks. Every API route requires a principal."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ticketing.errors import Forbidden, Unauthorized
from ticketing.principals import Principal, Role
from ticketing.settings import Settings

BOT_SERVICE_PRINCIPAL = Principal(name="bot_service", role=Role.BOT_SERVICE)

_bearer = HTTPBearer(auto_error=False, description="The service token (DESK_SERVICE_TOKEN).")


def principal_for_token(token: str, settings: Settings) -> Principal | None:
    """The principal a token stands for; staff JWTs will be recognised here later."""
    expected = settings.service_token.get_secret_value()
    if hmac.compare_digest(token.encode(), expected.encode()):
        return BOT_SERVICE_PRINCIPAL
    return None


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A Bearer token is required.", code="unauthorized")
    settings: Settings = request.app.state.settings
    principal = principal_for_token(credentials.credentials, settings)
    if principal is None:
        raise Unauthorized("The token is not valid.", code="invalid_token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 for the others)."""
    allowed = frozenset(roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden("Your role may not do this.", code="forbidden")
        return principal

    return check
