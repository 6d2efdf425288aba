"""The relay: delivers agents' replies and resolutions to the customer's conversation.

``python -m ticketing.delivery_worker`` runs it on its own; the API runs one in-process when
``DESK_RASA_URL`` is set (``make demo`` sets it). Each pass takes the due deliveries
from the outbox (:mod:`ticketing.services.outbox`) and hands them to Rasa's HTTP API:

- a reply becomes the external intent ``agent_reply`` (entities ``agent_message`` and
  ``agent_name``) triggered with ``output_channel=latest``: Rasa's action
  ``utter_agent_reply`` says it on the channel the customer last wrote on,
  pushed into the chat widget, sent through WeChat's customer-service API, or kept for
  the caller's next turn on the phone;
- a resolution first clears the ``handoff_ticket`` slot (the bot answers again), then
  triggers ``ticket_resolved`` so that the bot asks for a rating;
- an agent handing the conversation back without resolving clears the slot the same
  way and triggers ``handed_back``: the bot says it is there again;
- a progress notice (``ticketing.services.notices``) goes to the channel connector's
  ``POST /webhooks/<channel>/push`` with the same kind of token: the channel says it
  itself (pushed to the widget and kept for its next opening, a WeChat customer-service
  or template message, kept for the caller's next turn and sent by SMS, kept for a REST
  sender's next answer). A REST client cannot receive Rasa's ``output_channel=latest``,
  so its replies and resolutions take the push route too.

Delivery is at least once: when Rasa took a message but its answer got lost, the
message is sent again. Several relays may run at once (SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, replace
from urllib.parse import quote

import httpx
import jwt
from sqlalchemy.orm import Session

from ticketing.db import Database
from ticketing.enums import IdentityKind
from ticketing.models import RelayDelivery, Ticket, TicketMessage
from ticketing.periodic import PeriodicWorker
from ticketing.privacy import DecryptionFailed
from ticketing.privacy_text import full_text, session_vault
from ticketing.repositories import agents as agents_repo
from ticketing.repositories import customers as customers_repo
from ticketing.services import outbox
from ticketing.settings import Settings, get_settings

logger = logging.getLogger(__name__)

REPLY_INTENT = "agent_reply"
RESOLVED_INTENT = "ticket_resolved"
HANDBACK_INTENT = "handed_back"
HANDOFF_SLOT = "handoff_ticket"
# Deliveries attempted in one pass at most (the rest wait for the next tick).
MAX_PER_PASS = 200


class DeliveryFailed(Exception):
    """Rasa did not take the delivery; it is retried later."""


# Characters a URL path carries unencoded (RFC 3986 pchar, and "/" for Rasa's path route).
_PATH_SAFE = ":@!$&'()*+,;=-._~/"
# Lifetime of the relay's JWTs for Rasa's HTTP API: one per request, never reused for long.
TOKEN_SECONDS = 60
# The Rasa input channel that serves each desk channel's conversations (its webhook path).
INPUT_CHANNEL = {"web": "socketio", "wechat": "wechat", "voice": "voice", "rest": "rest"}


@dataclass(frozen=True)
class RasaConversations:
    """The parts of Rasa's HTTP API (``bot/serve.py``, ``--enable-api``) the relay uses.

    Rasa accepts JWTs signed with ``DESK_RASA_JWT_SECRET``; the relay signs a short-lived
    one per request and sends it as ``Authorization: Bearer``, never in the URL.
    """

    base_url: str
    jwt_secret: str | None
    timeout: float = 15.0

    def _url(self, conversation_id: str, tail: str) -> str:
        # Rasa's route takes the id as a raw path (Sanic does not percent-decode it), so
        # only what a path cannot hold is encoded; the channels' ids (web:<hex>,
        # wechat:<openid>, voice:<call id>) travel exactly as they are.
        path = quote(conversation_id, safe=_PATH_SAFE)
        return f"{self.base_url.rstrip('/')}/conversations/{path}/{tail}"

    def authorization(self) -> dict[str, str]:
        """The Authorization header for one request (none when Rasa's API is open)."""
        if not self.jwt_secret:
            return {}
        now = int(time.time())
        claims = {
            "user": {"username": "desk-relay", "role": "admin"},
            "iat": now,
            "exp": now + TOKEN_SECONDS,
        }
        return {"Authorization": f"Bearer {jwt.encode(claims, self.jwt_secret, 'HS256')}"}

    def _post(self, client: httpx.Client, url: str, body: object) -> None:
        params = {"output_channel": "latest"}
        try:
            response = client.post(
                url, json=body, params=params, headers=self.authorization(), timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"Rasa unreachable: {type(error).__name__}") from error
        if response.status_code >= 300:
            raise DeliveryFailed(f"Rasa answered {response.status_code}")

    def trigger(
        self, client: httpx.Client, conversation_id: str, intent: str, entities: dict[str, str]
    ) -> None:
        """Trigger an intent in the conversation; the bot answers on its latest channel."""
        self._post(
            client,
            self._url(conversation_id, "trigger_intent"),
            {"name": intent, "entities": entities},
        )

    def push(self, client: httpx.Client, parcel: Parcel, notice: str) -> None:
        """Hand a notice to the connector of the conversation's channel (``/push``)."""
        channel = INPUT_CHANNEL[outbox.conversation_channel(parcel.conversation_id)]
        url = f"{self.base_url.rstrip('/')}/webhooks/{channel}/push"
        body = {
            "push_id": parcel.delivery_id,
            "conversation_id": parcel.conversation_id,
            "text": parcel.body,
            "ticket_number": parcel.ticket_number,
            "notice": notice,
        }
        if parcel.sms_to:
            body["sms_to"] = parcel.sms_to
        try:
            response = client.post(
                url, json=body, headers=self.authorization(), timeout=self.timeout
            )
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"Rasa unreachable: {type(error).__name__}") from error
        if response.status_code >= 300:
            raise DeliveryFailed(f"the {channel} channel answered {response.status_code}")

    def clear_slot(self, client: httpx.Client, conversation_id: str, slot: str) -> None:
        """Append ``slot = null`` to the conversation's tracker."""
        self._post(
            client,
            self._url(conversation_id, "tracker/events"),
            [{"event": "slot", "name": slot, "value": None}],
        )


@dataclass(frozen=True)
class Parcel:
    """What one delivery sends, read from the database before any network call."""

    delivery_id: int
    kind: str
    conversation_id: str
    ticket_number: str
    body: str | None = None
    agent_name: str | None = None
    # For a progress notice: which one (assigned, waiting, resolved, late).
    notice: str | None = None
    # For a notice to a caller: the customer's phone number, for the SMS.
    sms_to: str | None = None
    # Why the body could not be read (a data key missing from the ring): retried later.
    unreadable: str | None = None


def deliver(client: httpx.Client, rasa: RasaConversations, parcel: Parcel) -> None:
    """Hand one delivery to Rasa, or raise DeliveryFailed.

    The customer sees the agent's display name (王芳), not their login.
    """
    rest = outbox.conversation_channel(parcel.conversation_id) == "rest"
    if parcel.kind in (outbox.REPLY, outbox.NOTICE) or (parcel.kind == outbox.RESOLVED and rest):
        if parcel.unreadable is not None:
            raise DeliveryFailed(parcel.unreadable)
        if parcel.body is None and parcel.kind != outbox.RESOLVED:
            raise DeliveryFailed("the message is gone")
    if parcel.kind == outbox.NOTICE:
        rasa.push(client, parcel, parcel.notice or "assigned")
    elif parcel.kind == outbox.REPLY and rest:
        name = f"{parcel.agent_name}: " if parcel.agent_name else ""
        rasa.push(client, replace(parcel, body=f"{name}{parcel.body}"), "reply")
    elif parcel.kind == outbox.RESOLVED and rest:
        rasa.clear_slot(client, parcel.conversation_id, HANDOFF_SLOT)
        if parcel.body:
            rasa.push(client, parcel, "resolved")
    elif parcel.kind == outbox.REPLY:
        rasa.trigger(
            client,
            parcel.conversation_id,
            REPLY_INTENT,
            {
                "agent_message": parcel.body or "",  # None was refused above
                "agent_name": parcel.agent_name or "",
                "ticket_number": parcel.ticket_number,
            },
        )
    elif parcel.kind in (outbox.RESOLVED, outbox.HANDBACK):
        rasa.clear_slot(client, parcel.conversation_id, HANDOFF_SLOT)
        intent = RESOLVED_INTENT if parcel.kind == outbox.RESOLVED else HANDBACK_INTENT
        rasa.trigger(
            client, parcel.conversation_id, intent, {"ticket_number": parcel.ticket_number}
        )
    else:  # pragma: no cover - the outbox only holds known kinds
        raise DeliveryFailed(f"unknown kind {parcel.kind}")


@dataclass(frozen=True)
class PassResult:
    delivered: int = 0
    retried: int = 0
    given_up: int = 0


def claim_next(database: Database) -> Parcel | None:
    """Take the next due delivery for a lease and read what it sends; None when none is due.

    The claim is committed before anything goes over the network: no transaction (and on
    SQLite no write lock) is held while Rasa answers. A relay that dies mid-delivery
    leaves the lease to run out; the delivery is then tried again.
    """
    with database.sessions.begin() as session:
        batch = outbox.due(session, limit=1)
        if not batch:
            return None
        delivery = batch[0]
        outbox.lease(delivery)
        ticket = session.get(Ticket, delivery.ticket_id)
        message = session.get(TicketMessage, delivery.message_id) if delivery.message_id else None
        author = (
            agents_repo.get_by_username(session, message.author_name)
            if message is not None and message.author_name
            else None
        )
        # The customer reads the reply as the agent wrote it: the full text, not the
        # masked copy kept for lists and agents.
        body: str | None = None
        unreadable: str | None = None
        if message is not None:
            try:
                body = _full_body(session, message)
            except DecryptionFailed as error:
                unreadable = f"the reply cannot be decrypted: {error}"
        return Parcel(
            delivery_id=delivery.id,
            kind=delivery.kind,
            conversation_id=delivery.conversation_id,
            ticket_number=(ticket.number if ticket is not None else None) or "",
            body=body,
            agent_name=author.display_name
            if author
            else (message.author_name if message else None),
            unreadable=unreadable,
            notice=delivery.notice,
            sms_to=_sms_number(session, delivery, ticket),
        )


def _sms_number(session: Session, delivery: RelayDelivery, ticket: Ticket | None) -> str | None:
    """The customer's phone number for a notice to a caller (their latest one), or None.

    Read here, from the encrypted profile, so the phone channel keeps no number of its own.
    """
    if delivery.kind != outbox.NOTICE or ticket is None:
        return None
    if outbox.conversation_channel(delivery.conversation_id) != "voice":
        return None
    vault = session_vault(session)
    phones = [
        identity
        for identity in customers_repo.identities_of(session, ticket.customer_id)
        if identity.kind is IdentityKind.PHONE
    ]
    if vault is None or not phones:
        return None
    try:
        return vault.decrypt(phones[-1].value_enc)
    except DecryptionFailed:
        logger.warning("a caller's phone number cannot be decrypted; no SMS for it")
        return None


def _full_body(session: Session, message: TicketMessage) -> str | None:
    vault = session_vault(session)
    if message.body_enc is not None and vault is None:
        raise DecryptionFailed("this relay has no data keys")
    if vault is None:
        return message.body
    return full_text(message.body, message.body_enc, vault=vault)


def run_once(database: Database, rasa: RasaConversations, client: httpx.Client) -> PassResult:
    """One pass: every due delivery attempted once."""
    delivered = retried = given_up = 0
    for _ in range(MAX_PER_PASS):
        parcel = claim_next(database)
        if parcel is None:
            break
        error: str | None = None
        try:
            deliver(client, rasa, parcel)
        except DeliveryFailed as failure:
            error = str(failure)
        with database.sessions.begin() as session:
            delivery = session.get(RelayDelivery, parcel.delivery_id)
            if delivery is None:  # pragma: no cover - deliveries are never deleted
                continue
            if error is None:
                outbox.mark_delivered(delivery)
                delivered += 1
            elif outbox.mark_failed_attempt(session, delivery, error=error):
                given_up += 1
                logger.error("gave up relaying %s #%d: %s", parcel.kind, parcel.delivery_id, error)
            else:
                retried += 1
                logger.warning(
                    "relaying %s #%d failed (%s); will retry",
                    parcel.kind,
                    parcel.delivery_id,
                    error,
                )
    return PassResult(delivered, retried, given_up)


class RelayWorker(PeriodicWorker):
    """A daemon thread that runs a pass every ``interval_seconds`` until stopped."""

    def __init__(
        self,
        database: Database,
        rasa: RasaConversations,
        *,
        interval_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__("handoff-relay", interval_seconds=interval_seconds)
        self._database = database
        self._rasa = rasa
        self._transport = transport
        self._client: httpx.Client | None = None

    @property
    def rasa(self) -> RasaConversations:
        """Where this relay delivers."""
        return self._rasa

    def tick(self) -> None:
        """One pass over the due deliveries."""
        assert self._client is not None, "ticks run inside run()"
        result = run_once(self._database, self._rasa, self._client)
        if result.delivered:
            logger.info("relayed %d deliveries", result.delivered)

    def run(self) -> None:
        """Pass after pass until stopped, with one HTTP client for all of them."""
        with httpx.Client(transport=self._transport) as self._client:
            super().run()


def from_settings(database: Database, settings: Settings) -> RelayWorker | None:
    """The relay the settings ask for; None when no Rasa URL is configured."""
    if not settings.rasa_url:
        return None
    secret = settings.rasa_jwt_secret.get_secret_value() if settings.rasa_jwt_secret else None
    return RelayWorker(
        database,
        RasaConversations(settings.rasa_url, secret),
        interval_seconds=settings.relay_poll_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the relay in the foreground (``--once`` for a single pass)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    database = Database.from_settings(settings)
    worker = from_settings(database, settings)
    if worker is None:
        parser.error("set DESK_RASA_URL (and DESK_RASA_JWT_SECRET) to say where Rasa is")
    if args.once:
        with httpx.Client() as client:
            result = run_once(database, worker.rasa, client)
        print(f"delivered={result.delivered} retried={result.retried} given_up={result.given_up}")
        return 0
    worker.start()
    try:
        worker.join()
    except KeyboardInterrupt:
        worker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
