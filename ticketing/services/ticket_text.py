"""A ticket's free text as each caller may see it, and its audited reveal.

Text columns are stored masked, with the full text sealed beside them
(:mod:`ticketing.privacy_text`). Who sees what follows ``ticketing/disclosure.yml``,
the same rules as the profile's fields:

- an agent (and the bot) read the masked copy, as stored: no decryption at all;
- supervisors and admins see the kinds their rules show in clear (phone numbers and
  e-mail addresses) and the rest masked (ID and card numbers); a view that shows
  anything in clear is audited, one entry per response, naming kinds and never values;
- anyone whose role may reveal asks for one text in full with a reason: audited.

The bot's token reads the masked copy like an agent: it needs none of the values (the
customer's own words are already in their chat, and agents' replies reach the customer
through the relay, which reads the full text itself).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ticketing.errors import DomainError, NotFound, ValidationFailed
from ticketing.models import Ticket, TicketEvent, TicketMessage
from ticketing.principals import Principal, Role
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.privacy_text import KINDS, ShownText, full_text, show
from ticketing.repositories import tickets as tickets_repo
from ticketing.services import access, disclosure, profiles
from ticketing.services.audit import audit

# Texts of a ticket that can be revealed, by name.
TICKET_TEXTS = ("subject", "description", "escalation_reason")
REVEALABLE = (*TICKET_TEXTS, "message", "history")


logger = logging.getLogger(__name__)


class TextNotFound(NotFound):
    code = "text_not_found"


class TextUnreadable(DomainError):
    """The full text is sealed with a data key this process does not hold (or tampered)."""

    status_code = 500
    code = "text_unreadable"


def clear_kinds(role: Role) -> frozenset[str]:
    """The kinds of personal data this role sees in clear inside text (disclosure.yml)."""
    return frozenset(kind for kind in KINDS if disclosure.shown_as(role, kind) == "clear")


@dataclass
class TextView:
    """Shows one caller the texts of one ticket, remembering what it showed in clear."""

    principal: Principal
    vault: Vault
    clear: frozenset[str] = field(init=False)
    shown_in_clear: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.clear = clear_kinds(self.principal.role)

    def show(self, masked: str | None, token: str | None) -> ShownText:
        """One stored text for this caller."""
        try:
            shown = show(masked, token, clear=self.clear, vault=self.vault)
        except DecryptionFailed as error:
            # The masked copy is still right to show; the key problem goes to the log
            # (the key id, never the text) and a reveal reports it to the caller.
            logger.warning("showing the masked copy of a ticket text: %s", error)
            return ShownText(masked, True, frozenset())
        self.shown_in_clear |= shown.shown_in_clear
        return shown

    def message(self, message: TicketMessage) -> ShownText:
        """A message body for this caller."""
        return self.show(message.body, message.body_enc)

    def ticket(self, ticket: Ticket, name: str) -> ShownText:
        """The subject, description or escalation reason for this caller."""
        return self.show(getattr(ticket, name), getattr(ticket, f"{name}_enc"))

    def audit(self, session: Session, *, ticket: Ticket) -> None:
        """Record that this response showed personal data in clear (kinds, not values)."""
        if not self.shown_in_clear:
            return
        audit(
            session,
            principal=self.principal,
            action="view",
            customer_id=ticket.customer_id,
            field_name="ticket_text",
            details={"ticket": ticket.number, "kinds": sorted(self.shown_in_clear)},
        )
        self.shown_in_clear.clear()


@dataclass(frozen=True)
class Revealed:
    """One text in full (a history entry: its old and new value)."""

    part: str
    id: int | None
    text: str | None = None
    old_value: str | None = None
    new_value: str | None = None


def reveal(
    session: Session,
    *,
    vault: Vault,
    ticket: Ticket,
    principal: Principal,
    part: str,
    item_id: int | None,
    reason_code: str,
    reason: str,
) -> Revealed:
    """One text of the ticket in full, for a stated reason; one audit entry, no values.

    The same rules as a profile field's reveal: a reason code and a reason in words.
    """
    if part not in REVEALABLE:
        raise ValidationFailed(f"part must be one of {list(REVEALABLE)}", field="part")
    disclosure.check_may_reveal(principal)
    profiles.check_reveal_reason(reason_code, reason)
    try:
        result = _full(
            session, vault=vault, ticket=ticket, principal=principal, part=part, item_id=item_id
        )
    except DecryptionFailed as error:
        raise TextUnreadable(
            f"this text cannot be decrypted: {error}; DESK_DATA_KEYS must hold the key it "
            "was sealed with"
        ) from None
    audit(
        session,
        principal=principal,
        action="reveal",
        customer_id=ticket.customer_id,
        field_name=f"ticket_{part}",
        reason=reason.strip(),
        details={"ticket": ticket.number, "id": result.id, "reason_code": str(reason_code)},
    )
    return result


def _full(
    session: Session,
    *,
    vault: Vault,
    ticket: Ticket,
    principal: Principal,
    part: str,
    item_id: int | None,
) -> Revealed:
    if part in TICKET_TEXTS:
        result = Revealed(
            part,
            None,
            text=full_text(getattr(ticket, part), getattr(ticket, f"{part}_enc"), vault=vault),
        )
    elif part == "message":
        message = _message(ticket, item_id, principal=principal)
        result = Revealed(
            part, message.id, text=full_text(message.body, message.body_enc, vault=vault)
        )
    else:
        entry = _history_entry(session, ticket, item_id)
        result = Revealed(
            part,
            entry.id,
            old_value=full_text(entry.old_value, entry.old_value_enc, vault=vault),
            new_value=full_text(entry.new_value, entry.new_value_enc, vault=vault),
        )
    return result


def _message(ticket: Ticket, message_id: int | None, *, principal: Principal) -> TicketMessage:
    for message in access.visible_messages(ticket, principal=principal):
        if message.id == message_id:
            return message
    raise TextNotFound(f"{ticket.number} has no message {message_id}")


def _history_entry(session: Session, ticket: Ticket, event_id: int | None) -> TicketEvent:
    for entry in tickets_repo.history(session, ticket.id):
        if entry.id == event_id:
            return entry
    raise TextNotFound(f"{ticket.number} has no history entry {event_id}")
