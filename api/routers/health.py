"""Liveness and dependencies: the one route without authentication."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import DatabaseDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    redis: str


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency is failing"}},
)
def healthz(request: Request, database: DatabaseDep) -> JSONResponse:
    """200 when the database (and Redis, if configured) answer; 503 naming what failed."""
    report = {"status": "ok", "database": "ok", "redis": "not_configured"}
    try:
        database.ping()
    except Exception as error:
        logger.warning("health: database check failed: %s", type(error).__name__)
        report["database"] = "error"
    redis_client = request.app.state.redis
    if redis_client is not None:
        try:
            redis_client.ping()
            report["redis"] = "ok"
        except Exception as error:
            logger.warning("health: redis check failed: %s", type(error).__name__)
            report["redis"] = "error"
    healthy = "error" not in (report["database"], report["redis"])
    report["status"] = "ok" if healthy else "error"
    return JSONResponse(report, status_code=200 if healthy else 503)
