"""Actions that open tickets and report their progress."""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import (
    EXTERNAL_PREFIX,
    caller_number,
    conversation_channel,
    conversation_sender,
)
from actions.dates import parse_date
from actions.desk_api import DeskApiClient, DeskApiUnavailable, NewTicket
from actions.labels import detail_label
from actions.parsing import is_email, parse_contact, parse_order_number, parse_ticket_number
from actions.settings import ActionSettings

logger = logging.getLogger(__name__)

_MAX_DESCRIPTION = 4000
_TRANSCRIPT_TURNS = 20
# Categories whose tickets need the order number (asked by the ticket form).
ORDER_CATEGORIES = frozenset({"after_sales", "billing"})
# The order_number slot's value when the customer said they have none.
NO_ORDER_NUMBER = "none"


def conversation_language(tracker: Tracker) -> str:
    """The customer's language as the bot last detected it (English by default)."""
    return "zh" if tracker.get_slot("language") == "zh" else "en"


def transcript(tracker: Tracker, *, turns: int = _TRANSCRIPT_TURNS) -> list[dict[str, Any]]:
    """The last customer and bot messages of the conversation, oldest first."""
    lines: list[dict[str, Any]] = []
    for event in tracker.events:
        if event.get("event") not in ("user", "bot") or not event.get("text"):
            continue
        if str(event["text"]).startswith(EXTERNAL_PREFIX):
            continue  # an intent the desk triggered (an agent's reply), not the customer
        author = "customer" if event["event"] == "user" else "bot"
        lines.append({"author_type": author, "body": event["text"][:_MAX_DESCRIPTION]})
    return lines[-turns:]


def local_today(settings: ActionSettings) -> date:
    """Today's date where the desk is (what "yesterday" is relative to)."""
    return datetime.now(ZoneInfo(settings.timezone)).date()


def ticket_details(
    *,
    language: str,
    today: date,
    order_number: str | None = None,
    product: str | None = None,
    day: str | None = None,
) -> str:
    """Lines naming the order number, the product and the day (as an ISO date), or ''."""
    lines: list[str] = []
    if order_number and order_number != NO_ORDER_NUMBER:
        lines.append(f"{detail_label('order_number', language)}: {order_number}")
    if product:
        lines.append(f"{detail_label('product', language)}: {product}")
    found = parse_date(day, today=today) if day else None
    if found:
        lines.append(f"{detail_label('date', language)}: {found.isoformat()}")
    return "\n".join(lines)


def desk_client(settings: ActionSettings, tracker: Tracker) -> DeskApiClient:
    """The API client acting for this conversation's customer."""
    return DeskApiClient.from_settings(
        settings, channel=conversation_channel(tracker), sender=conversation_sender(tracker)
    )


def _idempotency_key(tracker: Tracker, description: str) -> str:
    """Same conversation turn and description -> same key, so a retried action is harmless."""
    last_user = next(
        (e for e in reversed(tracker.events) if e.get("event") == "user"), {"timestamp": ""}
    )
    raw = f"{tracker.sender_id}|{last_user.get('timestamp')}|{description}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


class ActionCheckProfile(Action):
    """Look up the customer so the ticket form asks for a contact only when none is on file."""

    def name(self) -> str:
        return "action_check_profile"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if caller_number(tracker):
            return [SlotSet("contact_on_file", True)]  # the number they are calling from
        client = desk_client(ActionSettings.from_env(), tracker)
        try:
            profile = await client.find_customer(
                channel=conversation_channel(tracker), external_id=conversation_sender(tracker)
            )
        except DeskApiUnavailable as error:
            # Asking for a contact again is harmless; the ticket creation will report
            # the outage if it lasts.
            logger.warning("profile lookup failed: %s", error)
            return [SlotSet("contact_on_file", False)]
        return [SlotSet("contact_on_file", bool(profile and profile.has_contact))]


class ValidateTicketForm(FormValidationAction):
    """Validates the description and the contact of a new ticket."""

    def name(self) -> str:
        return "validate_ticket_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        """Skip the contact when the customer's profile already has one, and the order
        number unless the problem is about an order or a bill."""
        skipped = set()
        if tracker.get_slot("contact_on_file"):
            skipped.add("contact")
        if tracker.get_slot("category") not in ORDER_CATEGORIES:
            skipped.add("order_number")
        return [slot for slot in domain_slots if slot not in skipped]

    def validate_problem_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Keep a non-empty description, trimmed to what the API accepts."""
        text = str(value or "").strip()
        if not text:
            return {"problem_description": None}
        return {"problem_description": text[:_MAX_DESCRIPTION]}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept DD + 10 digits or 12-20 digits; a "no" means the customer has none."""
        number = parse_order_number(str(value or ""))
        if number:
            return {"order_number": number}
        if (tracker.latest_message.get("intent") or {}).get("name") == "deny":
            return {"order_number": NO_ORDER_NUMBER}
        dispatcher.utter_message(response="utter_invalid_order_number")
        return {"order_number": None}

    def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept an 11-digit mainland mobile number or an e-mail address."""
        contact = parse_contact(str(value or ""))
        if contact is None:
            dispatcher.utter_message(response="utter_invalid_contact")
        return {"contact": contact}


class ActionCreateTicket(Action):
    """Open the ticket collected by the ticket form and tell the customer its number."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        settings = ActionSettings.from_env()
        description = str(tracker.get_slot("problem_description") or "").strip()
        language = conversation_language(tracker)
        details = ticket_details(
            language=language,
            today=local_today(settings),
            order_number=tracker.get_slot("order_number"),
            product=tracker.get_slot("product"),
            day=tracker.get_slot("incident_date"),
        )
        full_description = f"{description}\n\n{details}" if details else description
        contact = tracker.get_slot("contact")
        caller = caller_number(tracker)
        new_ticket = NewTicket(
            channel=conversation_channel(tracker),
            external_id=conversation_sender(tracker),
            language=language,
            description=full_description[:_MAX_DESCRIPTION],
            category=tracker.get_slot("category"),
            phone=contact if contact and not is_email(contact) else caller,
            email=contact if contact and is_email(contact) else None,
            contact_verified=bool(caller) and not contact,
            transcript=transcript(tracker),
        )
        try:
            ticket = await desk_client(settings, tracker).create_ticket(
                new_ticket, idempotency_key=_idempotency_key(tracker, description)
            )
        except DeskApiUnavailable as error:
            logger.error("ticket creation failed: %s", error)
            dispatcher.utter_message(response="utter_ticket_not_created")
            return []

        due = ticket.first_response_due_at
        local_due = due.astimezone(ZoneInfo(settings.timezone)) if due else None
        due_time = local_due.strftime("%Y-%m-%d %H:%M") if local_due else "-"
        dispatcher.utter_message(
            response="utter_ticket_created", ticket_number=ticket.number, due_time=due_time
        )
        return [
            SlotSet("ticket_number", ticket.number),
            SlotSet("problem_description", None),
            SlotSet("category", None),
            SlotSet("order_number", None),
            SlotSet("product", None),
            SlotSet("incident_date", None),
            SlotSet("contact_on_file", True),
        ]


class ValidateTicketStatusForm(FormValidationAction):
    """Validates the ticket number the customer asks about."""

    def name(self) -> str:
        return "validate_ticket_status_form"

    def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept SD-100001, sd100001 or "SD 100001" and store the canonical form."""
        number = parse_ticket_number(str(value or ""))
        if number is None:
            dispatcher.utter_message(response="utter_invalid_ticket_number")
        return {"ticket_number": number}


class ActionTicketStatus(Action):
    """Tell the customer the real status of a ticket."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = parse_ticket_number(str(tracker.get_slot("ticket_number") or ""))
        if number is None:
            dispatcher.utter_message(response="utter_ask_ticket_number")
            return [SlotSet("ticket_number", None)]
        client = desk_client(ActionSettings.from_env(), tracker)
        try:
            ticket = await client.get_ticket(number)
        except DeskApiUnavailable as error:
            logger.error("ticket lookup failed: %s", error)
            dispatcher.utter_message(response="utter_ticket_lookup_failed", ticket_number=number)
            return []
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            return [SlotSet("ticket_number", None)]
        dispatcher.utter_message(
            response=f"utter_ticket_status_{ticket.status}", ticket_number=ticket.number
        )
        return []
