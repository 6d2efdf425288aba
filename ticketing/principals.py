"""Who is calling: a principal and its role. Authentication lives in the API; rules use this."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    BOT_SERVICE = "bot_service"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller; ``name`` is what audit trails and idempotency keys record."""

    name: str
    role: Role
    # The staff account behind a staff token (None for the bot and the seed).
    agent_id: int | None = None

    @property
    def sees_internal_messages(self) -> bool:
        """Only staff read internal notes and transcripts; the bot relays public messages."""
        return self.role in STAFF_ROLES

    @property
    def is_staff(self) -> bool:
        """Whether a person on the desk's staff is calling."""
        return self.role in STAFF_ROLES
