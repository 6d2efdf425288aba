"""The action server's Prometheus metrics: calls, latency and errors per action.

``GET /metrics`` on the action server, readable with ``DESK_METRICS_TOKEN`` as a Bearer
token or from a ``DESK_METRICS_ALLOW`` address (ticketing/scrape_access.py), never by
the public. Per process: scrape every instance and sum in PromQL.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Action names come from the code, but a caller with the secret could post any name:
# names outside the package's actions share one label, so labels stay bounded.
OTHER_ACTION = "other"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 10.0)


class ActionMetrics:
    """One process's figures, in its own registry."""

    def __init__(self, known_actions: frozenset[str]) -> None:
        self.known_actions = known_actions
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "desk_action_calls",
            "Action calls served, by action and outcome (ok, rejected, error, refused)",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "desk_action_seconds",
            "Time to answer an action call, by action",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def label(self, action: object) -> str:
        """The action's label: its name when the package defines it, else ``other``."""
        return action if isinstance(action, str) and action in self.known_actions else OTHER_ACTION

    def observe(self, *, action: object, status: int, seconds: float) -> None:
        """Count one answered call and its latency."""
        name = self.label(action)
        self.calls.labels(name, outcome_of(status)).inc()
        self.seconds.labels(name).observe(seconds)

    def exposition(self) -> bytes:
        """The text format."""
        return generate_latest(self.registry)


def outcome_of(status: int) -> str:
    """ok (2xx), rejected (rasa-sdk's 400: a form slot rejected), refused (401/403), error."""
    if 200 <= status < 300:
        return "ok"
    if status == 400:
        return "rejected"
    if status in (401, 403):
        return "refused"
    return "error"
