"""The service desk's vocabularies. Values are stored in the database and sent over HTTP."""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"


# Unfinished tickets: their SLA clocks count, and they hold a place in an agent's capacity.
ACTIVE_STATUSES = frozenset(
    {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ESCALATED}
)


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Position from least to most urgent, for comparisons."""
        return _PRIORITY_ORDER.index(self)

    def raised(self, steps: int = 1) -> Priority:
        """This priority raised by some steps, capped at urgent."""
        return _PRIORITY_ORDER[min(self.rank + max(steps, 0), len(_PRIORITY_ORDER) - 1)]

    @classmethod
    def highest(cls, *priorities: Priority | None) -> Priority:
        """The most urgent of the given priorities (None entries are ignored)."""
        present = [p for p in priorities if p is not None]
        if not present:
            raise ValueError("highest() needs at least one priority")
        return max(present, key=lambda p: p.rank)


_PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


class EscalationSource(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SLA = "sla"


class Channel(StrEnum):
    REST = "rest"
    WEB = "web"
    WECHAT = "wechat"
    VOICE = "voice"
    EMAIL = "email"
    PHONE = "phone"
    API = "api"


class Category(StrEnum):
    TECHNICAL_SUPPORT = "technical_support"
    AFTER_SALES = "after_sales"
    BILLING = "billing"
    ACCOUNT_SECURITY = "account_security"
    COMPLAINTS = "complaints"
    GENERAL = "general"


class AuthorType(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class IdentityKind(StrEnum):
    WEB_SESSION = "web_session"
    REST = "rest"
    WECHAT_OPENID = "wechat_openid"
    PHONE = "phone"
    EMAIL = "email"
    VOICE = "voice"

    @classmethod
    def for_channel(cls, channel: Channel) -> IdentityKind:
        """The kind of identity a channel's sender id is."""
        return _CHANNEL_IDENTITY[channel]


# Where a conversation with the bot happens: the channels a Rasa connector serves. The
# bot's service token acts only in these; phone and e-mail are contacts a customer
# types, not conversations (anyone can type anyone's number).
CONVERSATION_CHANNELS = frozenset({Channel.REST, Channel.WEB, Channel.WECHAT, Channel.VOICE})


class RevealReason(StrEnum):
    """Why staff may see a personal field in full (the reveal dialog's choices)."""

    CUSTOMER_REQUEST = "customer_request"  # the customer asked us to read it back or use it
    CALLBACK = "callback"  # we call or write the customer back
    VERIFICATION = "verification"  # checking the caller is who they say
    DISPUTE = "dispute"  # a billing or service dispute needs the record
    LEGAL = "legal"  # a regulator's, court's or police request


_CHANNEL_IDENTITY: dict[Channel, IdentityKind] = {
    Channel.REST: IdentityKind.REST,
    Channel.API: IdentityKind.REST,
    Channel.WEB: IdentityKind.WEB_SESSION,
    Channel.WECHAT: IdentityKind.WECHAT_OPENID,
    Channel.VOICE: IdentityKind.VOICE,
    Channel.EMAIL: IdentityKind.EMAIL,
    Channel.PHONE: IdentityKind.PHONE,
}


class AgentPresence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class StaffRole(StrEnum):
    """What a staff account may do; the wider set of callers is ``principals.Role``."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Language(StrEnum):
    ZH = "zh"
    EN = "en"
