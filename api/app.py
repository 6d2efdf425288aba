"""The FastAPI application factory: ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio
from fastapi import APIRouter, Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.auth import authenticate
from api.errors import install_error_handlers
from api.logs import install_log_filters
from api.middleware import BodySizeLimit, RequestLog, SecurityHeaders
from api.routers import (
    admin,
    agents,
    audit,
    auth,
    customers,
    events,
    faq,
    handoff,
    health,
    imports,
    metrics,
    queues,
    reports,
    tickets,
)
from api.routers import retention as retention_routes
from api.throttle import LoginThrottle
from api.web import mount_web_assets
from ticketing import conversation_store, delivery_worker, jsonlog, retention
from ticketing.db import Database
from ticketing.events import InProcessBus, RedisStreamBus, install_publisher
from ticketing.metrics import DeskMetrics, MetricsSettings
from ticketing.privacy import Vault
from ticketing.scheduler import SlaScheduler
from ticketing.settings import Settings, get_settings

REDIS_TIMEOUT_SECONDS = 2.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for these settings (the environment's when None); connects lazily."""
    settings = settings or get_settings()
    database = Database.from_settings(settings)
    redis_client = (
        redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if settings.redis_url
        else None
    )
    # Live pages wait on Redis from the event loop (XREAD BLOCK up to a second).
    async_redis = (
        redis.asyncio.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS + 5,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if settings.redis_url
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = (
            SlaScheduler(database, interval_seconds=settings.sla_scan_seconds)
            if settings.sla_scheduler
            else None
        )
        if scheduler is not None:
            scheduler.start()
        retention_worker = (
            retention.from_settings(database, settings, app.state.conversations)
            if settings.retention_scheduler
            else None
        )
        if retention_worker is not None:
            retention_worker.start()
        relay_worker = delivery_worker.from_settings(database, settings) if settings.relay else None
        if relay_worker is not None:
            relay_worker.start()
        yield
        if relay_worker is not None:
            relay_worker.stop()
        if scheduler is not None:
            scheduler.stop()
        if retention_worker is not None:
            retention_worker.stop()
        if app.state.conversations is not None:
            app.state.conversations.close()
        if redis_client is not None:
            redis_client.close()
        if async_redis is not None:
            await async_redis.aclose()
        database.dispose()

    app = FastAPI(
        title="Service desk ticketing API",
        version="0.1.0",
        description="Tickets and the customer profile store behind the service desk assistant.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.vault = Vault.from_settings(settings)
    # Rasa's conversations, for the retention schedule (connects on first use).
    app.state.conversations = conversation_store.from_settings(settings, app.state.vault)
    app.state.redis = redis_client
    app.state.login_throttle = LoginThrottle(
        secret=settings.blind_index_key_bytes, redis_client=redis_client
    )
    app.state.events = (
        RedisStreamBus(redis_client, async_client=async_redis)
        if redis_client is not None
        else InProcessBus()
    )
    install_publisher(database.sessions, app.state.events)
    app.state.metrics = DeskMetrics(MetricsSettings())

    # Everything under /api/v1 requires a principal; add routers here, not beside it.
    v1 = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticate)])
    v1.include_router(tickets.router)
    v1.include_router(handoff.router)
    # Before the customers router: /customers/imports is not /customers/{customer_id}.
    v1.include_router(imports.router)
    v1.include_router(customers.router)
    v1.include_router(auth.router)
    v1.include_router(agents.router)
    v1.include_router(audit.router)
    v1.include_router(retention_routes.router)
    v1.include_router(queues.router)
    v1.include_router(reports.router)
    v1.include_router(events.router)
    v1.include_router(faq.router)
    v1.include_router(admin.router)
    v1.include_router(admin.canned_router)
    app.include_router(v1)
    # The only routes under /api/v1 without a Bearer token: logging in, and the event
    # stream, which checks its own short-lived stream ticket (EventSource sends no headers).
    app.include_router(auth.public_router, prefix="/api/v1")
    app.include_router(events.stream_router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(metrics.router)  # admin token or DESK_METRICS_ALLOW; checks its own
    mount_web_assets(app)  # public on purpose: static files only; data needs a token

    install_error_handlers(app)
    install_log_filters()
    jsonlog.install("api")
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        uploads={imports.UPLOAD_PATH: settings.import_max_bytes},
    )
    app.add_middleware(metrics.RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(SecurityHeaders)  # refusals get the headers too
    app.add_middleware(RequestLog)  # every line written while serving carries its id
    # Outermost: everything inside sees the client the trusted load balancer names.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies or [])
    return app
