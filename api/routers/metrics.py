"""``GET /metrics`` (Prometheus text format) and the middleware that times every request.

Readable by an admin's staff token, or without a token from the scraper addresses in
``DESK_METRICS_ALLOW``; everyone else gets 401 (no or a bad token) or 403 (not admin).
The address is the one the server sees: behind a proxy, list the addresses uvicorn
reports after its proxy-header handling, never a header the client could write.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import principal_for_token
from api.deps import SessionDep, SettingsDep
from ticketing.errors import Forbidden, Unauthorized
from ticketing.metrics import DeskMetrics, address_allowed, route_label
from ticketing.principals import Role

router = APIRouter(tags=["metrics"])

_bearer = HTTPBearer(auto_error=False, description="An admin's staff token.")


def get_metrics(request: Request) -> DeskMetrics:
    """The app's metrics registry."""
    metrics: DeskMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[DeskMetrics, Depends(get_metrics)]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
        401: {"description": "No token, or not a valid one"},
        403: {"description": "Not an admin, nor an allowed scraper address"},
    },
)
def read_metrics(
    request: Request,
    metrics: MetricsDep,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """This worker's request metrics and the desk's figures from the database."""
    host = request.client.host if request.client else None
    if not address_allowed(host, metrics.scraper_networks):
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("An admin token or an allowed address is required.")
        principal = principal_for_token(credentials.credentials, settings, session)
        if principal is None:
            raise Unauthorized("The token is not valid or has expired.", code="invalid_token")
        if principal.role is not Role.ADMIN or principal.must_change_password:
            raise Forbidden("Only admins and configured scrapers read metrics.", code="forbidden")
    return Response(metrics.exposition(session), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts and times each HTTP request under its route template (ids stay out of labels)."""

    def __init__(self, app: ASGIApp, *, metrics: DeskMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        seconds: float | None = None

        async def timed_send(message: Message) -> None:
            nonlocal status, seconds
            if message["type"] == "http.response.start":
                # Until the response starts: a live-event stream is timed to its opening.
                status = int(message["status"])
                seconds = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            # The router records the matched route in the scope it was handed.
            self.metrics.observe(
                method=scope["method"],
                route=route_label(scope),
                status=status,
                seconds=seconds if seconds is not None else time.perf_counter() - started,
            )
