"""Erasure reaches the customer's conversations, not only the database.

``erasure.erase`` anonymises what the database holds. What a customer said to the bot
also lives in Rasa's tracker store and in the channels' state in Redis (answers kept for
retries, notices waiting for them, a widget's mailbox). The router asks
:func:`conversations_of` before the erasure (it deletes the identities that name the
conversations) and :func:`forget` after it; kept apart from the profile rules so that
each side reads on its own.
"""

from __future__ import annotations

import redis
from sqlalchemy.orm import Session

from ticketing import conversation_store
from ticketing.conversation_store import ConversationErasure, ConversationStore
from ticketing.conversations import rasa_conversation_id
from ticketing.enums import IdentityKind
from ticketing.models import AuditEntry, utcnow
from ticketing.principals import Principal
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.repositories import audit as audit_repo
from ticketing.repositories import customers as customers_repo
from ticketing.repositories import tickets as tickets_repo

AUDIT_ACTION = "erase_conversations"
# The identity kinds that are a sender on a channel the bot serves, and that channel.
_CONVERSATION_KINDS = {
    IdentityKind.WEB_SESSION: "web",
    IdentityKind.REST: "rest",
    IdentityKind.WECHAT_OPENID: "wechat",
    IdentityKind.VOICE: "voice",
}


def conversations_of(session: Session, *, customer_id: int, vault: Vault) -> set[str]:
    """The Rasa conversation ids of a customer: their channel identities', and those kept on
    their tickets and relay deliveries."""
    found = tickets_repo.conversation_ids_of_customer(session, customer_id)
    for identity in customers_repo.identities_of(session, customer_id):
        channel = _CONVERSATION_KINDS.get(identity.kind)
        if channel is None:
            continue
        try:
            sender = vault.decrypt(identity.value_enc)
        except DecryptionFailed:
            continue  # its ticket's conversation id (above) still names the conversation
        found.add(rasa_conversation_id(channel, sender))
    return found


def forget(
    session: Session,
    *,
    customer_id: int,
    conversation_ids: set[str],
    store: ConversationStore | None,
    channel_redis: redis.Redis | None,
    principal: Principal,
) -> ConversationErasure:
    """Remove the conversations from Rasa's store and the channels' Redis state; one audit
    entry with the counts (never an id or a text)."""
    erased = conversation_store.forget(store, channel_redis, conversation_ids)
    audit_repo.add(
        session,
        AuditEntry(
            at=utcnow(),
            actor=principal.name,
            role=principal.role.value,
            action=AUDIT_ACTION,
            customer_id=customer_id,
            details=erased.as_details(),
        ),
    )
    return erased
