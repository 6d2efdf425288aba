"""Build test data by stating only what matters to the test."""

from __future__ import annotations

import base64
import copy
import os
from typing import Any

from ticketing.settings import Settings

SERVICE_TOKEN = "test-service-token-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789-abcdefghijklmnop"
STAFF_PASSWORD = "correct horse battery"


def random_key() -> str:
    """A fresh base64 32-byte key."""
    return base64.b64encode(os.urandom(32)).decode()


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: test secrets, the given database, Redis only if REDIS_URL is set."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": os.environ.get("REDIS_URL") or None,
        "env": "test",
        "service_token": SERVICE_TOKEN,
        "data_keys": f"test1:{random_key()}",
        "blind_index_key": random_key(),
        "jwt_secret": JWT_SECRET,
        # Tests run scans themselves, at the times they choose.
        "sla_scheduler": False,
        "retention_scheduler": False,
        # Retention runs in tests must not touch the conversations of a desk on this Redis.
        "conversation_key_prefix": f"test-{os.getpid()}",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


_ZH_TICKET: dict[str, Any] = {
    "customer": {
        "channel": "rest",
        "external_id": "sender-123",
        "language": "zh",
        "phone": "13800138000",
        "email": None,
        "display_name": None,
    },
    "description": "我的宽带从昨天开始就连不上了",
    "category": "technical_support",
    "channel": "rest",
    "language": "zh",
    "urgency": None,
    "subject": None,
    "transcript": [
        {"author_type": "customer", "body": "宽带连不上", "at": "2026-11-23T07:00:00Z"},
        {"author_type": "bot", "body": "请问从什么时候开始的？", "at": "2026-11-23T07:00:05Z"},
    ],
}

_EN_TICKET: dict[str, Any] = {
    "customer": {
        "channel": "rest",
        "external_id": "sam",
        "language": "en",
        "email": "Sam@Example.com",
    },
    "description": "My internet has been down since yesterday",
    "category": "technical_support",
    "channel": "rest",
    "language": "en",
}


def ticket_payload(template: str = "zh", **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /api/v1/tickets`` body from the zh or en template, with overrides.

    Top-level keys are replaced; ``customer`` is merged into the template's customer.
    """
    payload = copy.deepcopy(_ZH_TICKET if template == "zh" else _EN_TICKET)
    customer = overrides.pop("customer", None)
    if customer:
        payload["customer"].update(customer)
    payload.update(overrides)
    return payload


def make_staff(
    session: Any,
    username: str = "wang.fang",
    *,
    role: str = "agent",
    queues: list[str] | None = None,
    languages: list[str] | None = None,
    password: str | None = STAFF_PASSWORD,
    active: bool = True,
    capacity: int = 5,
    presence: str = "online",
) -> Any:
    """A staff account (committed), optionally working the given queue keys."""
    from ticketing.enums import AgentPresence, StaffRole
    from ticketing.models import Agent, Queue
    from ticketing.repositories import queues as queues_repo
    from ticketing.routing import default_policy
    from ticketing.services import staff as staff_service
    from ticketing.services.queues import ensure_queue

    definitions = {q.key: q for q in default_policy().queues}
    queue_rows: list[Queue] = []
    for key in queues or []:
        ensure_queue(session, definitions[key])
    if queues:
        queue_rows = queues_repo.list_by_keys(session, queues)
    agent = Agent(
        username=username,
        display_name=username.replace(".", " ").title(),
        languages=languages or ["zh", "en"],
        capacity=capacity,
        presence=AgentPresence(presence),
        role=StaffRole(role),
        password_hash=staff_service.hash_password(password) if password else None,
        active=active,
        queues=queue_rows,
    )
    session.add(agent)
    session.commit()
    return agent
