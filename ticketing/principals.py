"""Who is calling: a principal and its role. Authentication lives in the API; rules use this."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ticketing.conversations import rasa_conversation_id


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
    # For the bot: the conversation it acts in (channel, sender id) and the customer
    # behind it (None until the desk knows them). It may act for that customer only.
    conversation: tuple[str, str] | None = None
    customer_id: int | None = None
    # A staff account after a password reset: it may only change its password.
    must_change_password: bool = False

    @property
    def rasa_conversation_id(self) -> str | None:
        """For the bot: the Rasa conversation it acts in (where the relay delivers replies)."""
        if self.conversation is None:
            return None
        return rasa_conversation_id(*self.conversation)

    @property
    def is_bot(self) -> bool:
        """Whether the action server is calling for a conversation's customer."""
        return self.role is Role.BOT_SERVICE

    @property
    def is_staff(self) -> bool:
        """Whether a person on the desk's staff is calling."""
        return self.role in STAFF_ROLES
