"""Routing and SLA policy, loaded from ``routing.yml``: which queue, which priority, which dues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ticketing.calendar import BusinessHours
from ticketing.enums import Category, Priority

DEFAULT_POLICY_PATH = Path(__file__).with_name("routing.yml")


@dataclass(frozen=True)
class QueueDefinition:
    key: str
    name_en: str
    name_zh: str


@dataclass(frozen=True)
class Route:
    queue_key: str
    priority: Priority


@dataclass(frozen=True)
class SlaTarget:
    first_response: timedelta
    resolution: timedelta


WARNING_SHARE = 0.8


@dataclass(frozen=True)
class SlaDues:
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_response_warning_at: datetime | None = None
    resolution_warning_at: datetime | None = None


@dataclass(frozen=True)
class SlaPolicy:
    targets: dict[Priority, SlaTarget]
    # Priorities whose clocks count business minutes only (none: around the clock).
    business_hours: BusinessHours | None = None
    business_priorities: frozenset[Priority] = frozenset()

    def _add(self, priority: Priority, start: datetime, span: timedelta) -> datetime:
        if self.business_hours is not None and priority in self.business_priorities:
            return self.business_hours.add(start, span.total_seconds() / 60)
        return start + span

    def dues(self, priority: Priority, *, start: datetime) -> SlaDues:
        """When the first response and the resolution are due for a ticket opened at start,
        and when each clock reaches its warning (80 % of the target)."""
        target = self.targets[priority]
        return SlaDues(
            first_response_due_at=self._add(priority, start, target.first_response),
            resolution_due_at=self._add(priority, start, target.resolution),
            first_response_warning_at=self._add(
                priority, start, target.first_response * WARNING_SHARE
            ),
            resolution_warning_at=self._add(priority, start, target.resolution * WARNING_SHARE),
        )


@dataclass(frozen=True)
class EscalationTier:
    """What escalating to a level does: raise the priority, maybe move to another queue."""

    level: int
    raise_priority: int
    queue_key: str | None


@dataclass(frozen=True)
class RoutingPolicy:
    queues: tuple[QueueDefinition, ...]
    routes: dict[Category, Route]
    sla: SlaPolicy
    escalation: tuple[EscalationTier, ...] = ()
    reopen_window: timedelta = timedelta(days=7)
    vip_raise_priority: int = 0

    def queue(self, key: str) -> QueueDefinition:
        """The definition of a queue by key (PolicyError when unknown)."""
        for queue in self.queues:
            if queue.key == key:
                return queue
        raise PolicyError(f"no queue {key!r} in the routing policy")

    def escalation_tier(self, level: int) -> EscalationTier:
        """The tier for an escalation level; levels past the last repeat the last tier."""
        if not self.escalation:
            return EscalationTier(level=level, raise_priority=1, queue_key=None)
        eligible = [tier for tier in self.escalation if tier.level <= level]
        return eligible[-1] if eligible else self.escalation[0]

    def route(
        self, category: Category, *, urgency: Priority | None = None, vip: bool = False
    ) -> Route:
        """The queue of a category and its priority: the category's, raised by the
        urgency hint and, for VIP customers, by ``vip_raise_priority`` steps."""
        base = self.routes[category]
        priority = Priority.highest(base.priority, urgency)
        if vip:
            priority = priority.raised(self.vip_raise_priority)
        return Route(base.queue_key, priority)


class PolicyError(ValueError):
    """routing.yml is incomplete or inconsistent."""


def parse_policy(data: dict[str, Any]) -> RoutingPolicy:
    """Build and check a policy from the YAML document's data."""
    try:
        queues = tuple(
            QueueDefinition(key=key, name_en=item["name_en"], name_zh=item["name_zh"])
            for key, item in data["queues"].items()
        )
        routes = {
            Category(name): Route(str(item["queue"]), Priority(item["priority"]))
            for name, item in data["categories"].items()
        }
        escalation = tuple(
            EscalationTier(
                level=int(item["level"]),
                raise_priority=int(item.get("raise_priority", 0)),
                queue_key=item.get("queue"),
            )
            for item in data.get("escalation") or []
        )
        reopen_window = timedelta(days=float(data.get("reopen_window_days", 7)))
        vip_raise = int(data.get("vip_raise_priority", 0))
        targets = {
            Priority(name): SlaTarget(
                timedelta(minutes=int(item["first_response"])),
                timedelta(minutes=int(item["resolution"])),
            )
            for name, item in data["sla"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PolicyError(f"routing policy is malformed: {error}") from error
    if missing_routes := set(Category) - set(routes):
        raise PolicyError(f"routing policy has no route for {sorted(missing_routes)}")
    if missing_slas := set(Priority) - set(targets):
        raise PolicyError(f"routing policy has no SLA for {sorted(missing_slas)}")
    queue_keys = {queue.key for queue in queues}
    if unknown := {route.queue_key for route in routes.values()} - queue_keys:
        raise PolicyError(f"routes point at undefined queues {sorted(unknown)}")
    hours, business_priorities = _business_hours(data.get("business_hours"))
    if unknown := {t.queue_key for t in escalation if t.queue_key} - queue_keys:
        raise PolicyError(f"escalation tiers point at undefined queues {sorted(unknown)}")
    return RoutingPolicy(
        queues=queues,
        routes=routes,
        sla=SlaPolicy(targets, business_hours=hours, business_priorities=business_priorities),
        escalation=tuple(sorted(escalation, key=lambda tier: tier.level)),
        reopen_window=reopen_window,
        vip_raise_priority=vip_raise,
    )


def _business_hours(
    block: dict[str, Any] | None,
) -> tuple[BusinessHours | None, frozenset[Priority]]:
    if not block:
        return None, frozenset()
    try:
        hours = BusinessHours(
            timezone=ZoneInfo(str(block.get("timezone", "Asia/Shanghai"))),
            opens=time.fromisoformat(str(block["opens"])),
            closes=time.fromisoformat(str(block["closes"])),
            chinese_holidays=bool(block.get("chinese_holidays", True)),
        )
        priorities = frozenset(Priority(p) for p in block.get("priorities", []))
    except (KeyError, ValueError, ZoneInfoNotFoundError) as error:
        raise PolicyError(f"business_hours is malformed: {error}") from error
    if hours.opens >= hours.closes:
        raise PolicyError("business_hours must open before they close")
    return hours, priorities


def load_policy(path: Path = DEFAULT_POLICY_PATH) -> RoutingPolicy:
    """Read and check a routing policy file."""
    with path.open(encoding="utf-8") as handle:
        return parse_policy(yaml.safe_load(handle))


@lru_cache(maxsize=1)
def default_policy() -> RoutingPolicy:
    """The packaged routing policy, read on first use."""
    return load_policy()
