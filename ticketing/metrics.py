"""The desk's Prometheus metrics: request figures per process, desk figures from the database.

Two kinds, because the API runs as several workers:

- **Per process** (``desk_http_*``): request counts and latency, counted by the worker
  that served the request. Each worker exposes its own; scrape every worker (one target
  each) and sum in PromQL. prometheus-client's multiprocess mode is not used.
- **From the database at scrape time** (``desk_tickets_*``, ``desk_sla_*``,
  ``desk_queue_*``, ``desk_relay_*``): the same figures from every worker, correct
  whichever worker committed the change or ran the SLA scheduler, and across restarts.
  Aggregate them with ``max without (instance)``, not ``sum``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from ticketing.repositories import metrics as metrics_repo
from ticketing.repositories import reports as reports_repo
from ticketing.scrape_access import Network, address_allowed, parse_networks

__all__ = ["DeskMetrics", "MetricsSettings", "address_allowed", "parse_networks", "route_label"]

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsSettings(BaseSettings):
    """Who may read ``/metrics`` without a token: the scrapers' addresses (none by default)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    metrics_allow: str = Field(
        default="", validation_alias=AliasChoices("metrics_allow", "DESK_METRICS_ALLOW")
    )

    @field_validator("metrics_allow")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def scraper_networks(self) -> tuple[Network, ...]:
        """The allowed scraper networks."""
        return parse_networks(self.metrics_allow)


class DeskFigures(Collector):
    """Desk figures read in one scrape's session (every worker reports the same)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def collect(self) -> Iterator[Metric]:
        """The figures, or only ``desk_metrics_database_up 0`` when the database fails."""
        try:
            families = self._families()
        except Exception as error:
            logger.warning("metrics: database figures failed: %s", type(error).__name__)
            self._session.rollback()  # the request's unit of work ends cleanly
            families = []
        up = GaugeMetricFamily(
            "desk_metrics_database_up", "Whether this scrape could read the database's figures"
        )
        up.add_metric([], 1.0 if families else 0.0)
        yield up
        yield from families

    def _families(self) -> list[Metric]:
        opened = CounterMetricFamily(
            "desk_tickets_opened",
            "Tickets opened, by current queue and channel",
            labels=["queue", "channel"],
        )
        resolved = CounterMetricFamily(
            "desk_tickets_resolved",
            "Resolutions (a reopened ticket resolved again counts again), by queue and channel",
            labels=["queue", "channel"],
        )
        warnings = CounterMetricFamily(
            "desk_sla_warnings",
            "Tickets that reached 80% of an SLA target, by queue and clock",
            labels=["queue", "clock"],
        )
        breaches = CounterMetricFamily(
            "desk_sla_breaches",
            "Tickets that missed an SLA target, by queue and clock",
            labels=["queue", "clock"],
        )
        waiting = GaugeMetricFamily(
            "desk_queue_waiting_tickets",
            "Active tickets nobody holds, by queue",
            labels=["queue"],
        )
        active = GaugeMetricFamily(
            "desk_queue_active_tickets", "Active tickets, by queue", labels=["queue"]
        )
        backlog = GaugeMetricFamily(
            "desk_relay_backlog", "Relay deliveries not yet delivered (still being retried)"
        )
        failed = GaugeMetricFamily("desk_relay_failed", "Relay deliveries given up for good")
        session = self._session
        for queue, channel, count in metrics_repo.tickets_opened(session):
            opened.add_metric([queue, channel], count)
        for queue, channel, count in metrics_repo.resolutions(session):
            resolved.add_metric([queue, channel], count)
        for queue, clock, kind, count in metrics_repo.sla_marks(session):
            (warnings if kind == "warning" else breaches).add_metric([queue, clock], count)
        for row, n_waiting, n_active, _oldest in reports_repo.queue_snapshot(session):
            waiting.add_metric([row.key], n_waiting)
            active.add_metric([row.key], n_active)
        pending, given_up = metrics_repo.relay_deliveries(session)
        backlog.add_metric([], pending)
        failed.add_metric([], given_up)
        return [opened, resolved, warnings, breaches, waiting, active, backlog, failed]


class DeskMetrics:
    """One process's request metrics, and the desk's figures read at each scrape."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.scraper_networks = settings.scraper_networks
        self.requests = Counter(
            "desk_http_requests",
            "HTTP requests this worker answered, by route template and status",
            labelnames=["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "desk_http_request_duration_seconds",
            "Seconds until this worker started its response, by route template",
            labelnames=["method", "route"],
            registry=self.registry,
        )

    def exposition(self, session: Session) -> bytes:
        """This worker's metrics, then the desk's figures read in ``session``, as text."""
        figures = CollectorRegistry(auto_describe=False)
        figures.register(DeskFigures(session))
        return generate_latest(self.registry) + generate_latest(figures)

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in HTTP_METHODS else "OTHER"  # a client picks the method
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)


def route_label(scope: Mapping[str, Any]) -> str:
    """The matched route's full template (``/api/v1/tickets/{number}``), never the raw path."""
    # FastAPI keeps the route as declared in its router (``/tickets/{number}``) in
    # scope["route"], and the template with the include prefixes in its route context; a
    # FastAPI without that context gives the shorter template (still free of ids), and
    # tests/api/test_metrics.py pins the full one.
    context = scope.get("fastapi", {}).get("effective_route_context")
    for source in (context, scope.get("route")):
        template = getattr(source, "path_format", None)
        if isinstance(template, str) and template:
            return template
    # A mounted app (the static pages) leaves its prefix in root_path, not a route.
    mount = str(scope.get("root_path", ""))[len(str(scope.get("app_root_path", ""))) :]
    if mount and scope.get("endpoint") is not None:
        return f"{mount.rstrip('/')}/{{path}}"
    return "<unmatched>"
