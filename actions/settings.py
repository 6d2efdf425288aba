"""Settings of the action server, read from the environment when an action runs."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSettings:
    """Where the ticketing API is and how to talk to it."""

    api_url: str
    service_token: str
    timeout_seconds: float
    timezone: str

    @classmethod
    def from_env(cls) -> ActionSettings:
        """Read DESK_API_URL, DESK_SERVICE_TOKEN, DESK_API_TIMEOUT and DESK_TIMEZONE."""
        token = os.environ.get("DESK_SERVICE_TOKEN", "")
        if not token:
            raise RuntimeError("DESK_SERVICE_TOKEN is not set for the action server")
        return cls(
            api_url=os.environ.get("DESK_API_URL", "http://127.0.0.1:8000").rstrip("/"),
            service_token=token,
            timeout_seconds=float(os.environ.get("DESK_API_TIMEOUT", "5")),
            timezone=os.environ.get("DESK_TIMEZONE", "Asia/Shanghai"),
        )
