"""Liveness (``/healthz``) and readiness (``/readyz``): routes without authentication.

``/healthz`` checks the database and Redis (the contract `make demo` and the balancer
wait on); ``/readyz`` also requires the database to be at the migrations' head, so a
worker started before ``python -m ticketing.migrate`` finished takes no traffic.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import DatabaseDep
from ticketing.db import Database
from ticketing.migrate import alembic_config

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
    report["redis"] = _redis_state(request, "health")
    healthy = "error" not in (report["database"], report["redis"])
    report["status"] = "ok" if healthy else "error"
    return JSONResponse(report, status_code=200 if healthy else 503)


class Readiness(BaseModel):
    status: str
    database: str
    redis: str
    migrations: str
    not_ready: list[str]


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code (read once)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _migrations_state(database: Database) -> str:
    with database.engine.connect() as connection:
        applied = frozenset(MigrationContext.configure(connection).get_current_heads())
    if not applied:
        return "not_applied"
    return "current" if applied == migration_heads() else "outdated"


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see not_ready"}},
)
def readyz(request: Request, database: DatabaseDep) -> JSONResponse:
    """200 when the database answers at the migrations' head and Redis (if set) answers."""
    report: dict[str, Any] = {
        "status": "ready",
        "database": "ok",
        "redis": "not_configured",
        "migrations": "unknown",
    }
    try:
        database.ping()
        report["migrations"] = _migrations_state(database)
    except Exception as error:
        logger.warning("readiness: database check failed: %s", type(error).__name__)
        report["database"] = "error"
    report["redis"] = _redis_state(request, "readiness")
    not_ready = [
        name
        for name, good in (
            ("database", report["database"] == "ok"),
            ("redis", report["redis"] != "error"),
            ("migrations", report["migrations"] == "current"),
        )
        if not good
    ]
    report["not_ready"] = not_ready
    report["status"] = "not_ready" if not_ready else "ready"
    return JSONResponse(report, status_code=503 if not_ready else 200)


def _redis_state(request: Request, check: str) -> str:
    """``ok``, ``error`` or ``not_configured`` for the app's Redis."""
    redis_client = request.app.state.redis
    if redis_client is None:
        return "not_configured"
    try:
        redis_client.ping()
    except Exception as error:
        logger.warning("%s: redis check failed: %s", check, type(error).__name__)
        return "error"
    return "ok"
