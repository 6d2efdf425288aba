"""Build test data by stating only what matters to the test."""

from __future__ import annotations

import base64
import copy
import os
from typing import Any

from ticketing.settings import Settings

SERVICE_TOKEN = "test-service-token-0123456789"


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
