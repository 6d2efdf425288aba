"""Actions that open tickets and report their progress."""

from __future__ import annotations

import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import (
    MAX_DESCRIPTION,
    NO_CONTACT,
    NO_ORDER_NUMBER,
    REPORT_SLOTS,
    UNKNOWN_TICKET,
    caller_number,
    conversation_channel,
    conversation_language,
    conversation_sender,
    desk_client,
    local_today,
    ticket_card,
    ticket_details,
    transcript,
)
from actions.desk_api import (
    OPEN_STATUSES,
    DeskApiClient,
    DeskApiUnavailable,
    NewTicket,
    TicketConflict,
)
from actions.form_answers import (
    LAST_ATTEMPT,
    REQUESTED_SLOT,
    AnsweringFormValidation,
    as_written,
    declines_contact,
    has_no_order_number,
    latest_intent,
    latest_text,
)
from actions.labels import category_label, ticket_lines
from actions.parsing import (
    is_email,
    parse_contact,
    parse_email,
    parse_name,
    parse_order_number,
    parse_phone,
    parse_ticket_number,
)
from actions.settings import ActionSettings
from actions.ticket_category import TicketCategoryValidation, category_for_ticket, choices_for
from actions.ticket_requests import ticket_request

logger = logging.getLogger(__name__)

# Categories whose tickets need the order number (asked by the ticket form).
ORDER_CATEGORIES = frozenset({"after_sales", "billing"})
# An uncategorised problem about something bought or delivered needs the order number too.
_ABOUT_AN_ORDER = re.compile(
    r"(?i)订单|訂單|订的|訂的|买的|買的|购买|購買|下单|下單|快递|快遞|包裹|寄|发货|發貨|"
    r"\border(?:ed)?\b|\bbought\b|\bpurchase|\bdeliver|\bparcel|\bpackage|\bshipp?"
)

def previous_customer_words(tracker: Tracker) -> str:
    """The customer's latest message that was words, not a button's payload."""
    for event in reversed(tracker.events):
        text = str(event.get("text") or "").strip() if event.get("event") == "user" else ""
        if text and not text.startswith("/"):
            return text
    return ""


def contacts_told(tracker: Tracker, contact: str | None) -> tuple[str | None, str | None]:
    """The mobile number and the e-mail address the customer gave: the contact the form
    took, and the other one if they typed both ("grace@qq.com, 137 0000 1234")."""
    phone = contact if contact and not is_email(contact) else None
    email = contact if contact and is_email(contact) else None
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            text = str(event["text"])
            phone = phone or parse_phone(text)
            email = email or parse_email(text)
    return phone, email


def customer_name(tracker: Tracker) -> str | None:
    """The name the customer introduced themselves with in this conversation, if any."""
    for event in tracker.events:
        if event.get("event") == "user" and event.get("text"):
            name = parse_name(str(event["text"]))
            if name:
                return name
    return None


async def _add_retold(client: DeskApiClient, number: str, words: str) -> None:
    """What the customer said differently when asking again goes on the ticket's thread."""
    try:
        await client.add_message(number, body=words[:MAX_DESCRIPTION])
    except (DeskApiUnavailable, TicketConflict) as error:
        logger.warning("could not add the retold problem to %s: %s", number, error)


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


class ValidateTicketForm(TicketCategoryValidation, AnsweringFormValidation):
    """Validates the description, the category, the order number and the contact of a
    new ticket (the category: actions/ticket_category.py).

    A second unusable answer is never followed by the same question: an order number or
    a contact in a format the bot does not know is kept as written (an agent can still
    use it), and a customer who has none or would rather not say goes on without it.
    """

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
        number unless the problem is about an order or a bill (or, not categorised yet,
        speaks of something bought or delivered)."""
        skipped = set()
        if tracker.get_slot("contact_on_file"):
            skipped.add("contact")
        category = tracker.get_slot("ticket_category") or tracker.get_slot("category")
        about_an_order = category in ORDER_CATEGORIES or (
            category is None
            and bool(_ABOUT_AN_ORDER.search(str(tracker.get_slot("problem_description") or "")))
        )
        if not about_an_order:
            skipped.add("order_number")
        return [slot for slot in domain_slots if slot not in skipped]

    def changes_mind(self, slot: str, tracker: Tracker) -> bool:
        """Also a bare "no" to the contact question (the stop rule ends the form);
        "I'd rather not leave my number" is an answer (validate_contact)."""
        bare_no = (
            slot == "contact"
            and latest_intent(tracker) == "deny"
            and not declines_contact(latest_text(tracker))
        )
        return bare_no or super().changes_mind(slot, tracker)

    def is_detour(self, slot: str, tracker: Tracker) -> bool:
        """Not declining to leave a contact, whatever the NLU made of it."""
        if slot == "contact" and declines_contact(latest_text(tracker)):
            return False
        return super().is_detour(slot, tracker)

    def settled_after_detour(self, slot: str, text: str) -> Any:
        """The second detour instead of an order number or a contact: go on without."""
        if slot == "order_number":
            return NO_ORDER_NUMBER
        if slot == "contact":
            return NO_CONTACT
        return super().settled_after_detour(slot, text)

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Besides the domain's mappings, an order number or a contact anywhere in what
        the customer says (the first message too) fills its slot: never ask for what was
        given. The slot being asked for is left to its own validator."""
        events = await super().get_extraction_events(dispatcher, tracker, domain)
        text = latest_text(tracker)
        requested = tracker.get_slot(REQUESTED_SLOT)
        found: dict[str, str | None] = {}
        if not tracker.get_slot("order_number") and requested != "order_number":
            found["order_number"] = parse_order_number(text)
        if not tracker.get_slot("contact") and requested != "contact":
            found["contact"] = parse_contact(text)
        return events + [SlotSet(slot, value) for slot, value in found.items() if value]

    def validate_problem_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Keep a non-empty description, trimmed to what the API accepts."""
        text = str(value or "").strip()
        if text.startswith("/"):
            # A button's payload ("/report_problem" from the clarifying question): the
            # customer's words are the message before it.
            text = previous_customer_words(tracker)
        if not text:
            return {"problem_description": None}
        return {"problem_description": text[:MAX_DESCRIPTION]}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An order number the bot knows; a "no" means the customer has none; the second
        unusable answer is kept as written (or, with no digits in it, taken as none)."""
        text = self.text_of(value, tracker)
        number = parse_order_number(text)
        if number:
            return {"order_number": number}
        if latest_intent(tracker) == "deny" or has_no_order_number(text):
            return {"order_number": NO_ORDER_NUMBER}
        if self.attempt(tracker, "order_number") < LAST_ATTEMPT:
            dispatcher.utter_message(response="utter_invalid_order_number")
            return {"order_number": None}
        if re.search(r"\d", text):
            kept = as_written(text)
            dispatcher.utter_message(response="utter_order_number_kept", order_number=kept)
            return {"order_number": kept}
        dispatcher.utter_message(response="utter_order_number_skipped")
        return {"order_number": NO_ORDER_NUMBER}

    def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An 11-digit mainland mobile number or an e-mail address; a customer who would
        rather not leave one goes on without; the second unusable answer is kept as
        written when it has digits or an @ (a landline, a number from abroad)."""
        text = self.text_of(value, tracker)
        contact = parse_contact(text)
        if contact:
            return {"contact": contact}
        if declines_contact(text):
            dispatcher.utter_message(response="utter_contact_skipped")
            return {"contact": NO_CONTACT}
        if self.attempt(tracker, "contact") < LAST_ATTEMPT:
            dispatcher.utter_message(response="utter_invalid_contact")
            return {"contact": None}
        if re.search(r"\d|@", text):
            kept = as_written(text)
            dispatcher.utter_message(response="utter_contact_kept", contact=kept)
            return {"contact": kept}
        dispatcher.utter_message(response="utter_contact_skipped")
        return {"contact": NO_CONTACT}


class ActionAskTicketCategory(Action):
    """The form's question when the model is unsure: the likeliest categories as
    buttons (the channels without buttons number them or read them out)."""

    def name(self) -> str:
        return "action_ask_ticket_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = conversation_language(tracker)
        buttons: list[dict[str, str]] = []
        for category in choices_for(tracker):
            title = category_label(category, language)
            buttons.append({"title": title, "payload": title})
        dispatcher.utter_message(response="utter_ask_ticket_category", buttons=buttons)
        return []


class ActionCreateTicket(Action):
    """Open the ticket collected by the ticket form and tell the customer its number."""

    def name(self) -> str:
        return "action_create_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        settings = ActionSettings.from_env()
        # Asked again after a creation that got no answer: the same key and the same
        # request as then, so a ticket that landed late is found, not opened twice.
        request = ticket_request(tracker, action=self.name(), content_slots=REPORT_SLOTS)
        retold = str(tracker.get_slot("problem_description") or "").strip()
        tracker = request.as_first_sent
        description = str(tracker.get_slot("problem_description") or "").strip()
        language = conversation_language(tracker)
        given = str(tracker.get_slot("contact") or "")
        # Only a contact the bot understood goes to the profile; one kept as written
        # (a landline, a number from abroad) goes under the description for the agent.
        contact = parse_contact(given)
        phone, email = contacts_told(tracker, contact)
        told = {
            "language": language,
            "today": local_today(settings, request.sent_at if request.retried else None),
            "order_number": tracker.get_slot("order_number"),
            "product": tracker.get_slot("product"),
            "day": tracker.get_slot("incident_date"),
            "name": customer_name(tracker),
            "contact_as_given": given if given and not contact else None,
        }
        details = ticket_details(**told)
        full_description = f"{description}\n\n{details}" if details else description
        caller = caller_number(tracker)
        new_ticket = NewTicket(
            channel=conversation_channel(tracker),
            external_id=conversation_sender(tracker),
            language=language,
            description=full_description[:MAX_DESCRIPTION],
            category=category_for_ticket(tracker),
            phone=phone or caller,
            email=email,
            contact_verified=bool(caller) and not contact,
            transcript=transcript(tracker),
            display_name=told["name"],
        )
        try:
            ticket = await desk_client(settings, tracker).create_ticket(
                new_ticket, idempotency_key=request.idempotency_key
            )
        except DeskApiUnavailable as error:
            logger.error("ticket creation failed: %s", error)
            dispatcher.utter_message(response="utter_ticket_not_created")
            return []

        if retold and retold != description:
            await _add_retold(desk_client(settings, tracker), ticket.number, retold)
        due = ticket.first_response_due_at
        local_due = due.astimezone(ZoneInfo(settings.timezone)) if due else None
        due_time = local_due.strftime("%Y-%m-%d %H:%M") if local_due else "-"
        dispatcher.utter_message(
            response="utter_ticket_created",
            ticket_number=ticket.number,
            due_time=due_time,
            json_message=ticket_card(ticket),
        )
        readback = ticket_details(**told, contact=contact)
        if readback:
            # What the bot understood, so the customer can correct it with the agent.
            dispatcher.utter_message(response="utter_ticket_readback", details=readback)
        return [
            SlotSet("ticket_number", ticket.number),
            SlotSet("problem_description", None),
            SlotSet("category", None),
            SlotSet("ticket_category", None),
            SlotSet("order_number", None),
            SlotSet("product", None),
            SlotSet("incident_date", None),
            SlotSet("contact_on_file", True),
            SlotSet("faq_outcome", None),
        ]


class ValidateTicketStatusForm(AnsweringFormValidation):
    """Validates the ticket number the customer asks about."""

    def name(self) -> str:
        return "validate_ticket_status_form"

    def settled_after_detour(self, slot: str, text: str) -> Any:
        """A second detour instead of a ticket number: go on without one."""
        if slot == "ticket_number":
            return UNKNOWN_TICKET
        return super().settled_after_detour(slot, text)

    async def extract_ticket_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Asked about "my ticket" without a number: the customer's only open ticket."""
        if tracker.get_slot("ticket_number") or tracker.get_slot(REQUESTED_SLOT):
            return {}
        try:
            open_tickets = await desk_client(ActionSettings.from_env(), tracker).list_tickets(
                statuses=OPEN_STATUSES
            )
        except DeskApiUnavailable as error:
            logger.warning("listing open tickets failed: %s", error)
            return {}
        return {"ticket_number": open_tickets[0].number} if len(open_tickets) == 1 else {}

    def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Accept SD-100001, sd100001 or "SD 100001" and store the canonical form; after
        the second unusable answer, stop asking (the status action lists their tickets)."""
        number = parse_ticket_number(self.text_of(value, tracker))
        if number is not None:
            return {"ticket_number": number}
        if self.attempt(tracker, "ticket_number") < LAST_ATTEMPT:
            dispatcher.utter_message(response="utter_invalid_ticket_number")
            return {"ticket_number": None}
        return {"ticket_number": UNKNOWN_TICKET}


class ActionTicketStatus(Action):
    """Tell the customer the real status of a ticket."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = parse_ticket_number(str(tracker.get_slot("ticket_number") or ""))
        if number is None:
            # Twice no usable number: not a third question, but the customer's open
            # tickets, or a person when there are none.
            return await self._open_tickets_instead(dispatcher, tracker)
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
            response=f"utter_ticket_status_{ticket.status}",
            ticket_number=ticket.number,
            json_message=ticket_card(ticket),
        )
        return []

    @staticmethod
    async def _open_tickets_instead(
        dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType]:
        try:
            tickets = await desk_client(ActionSettings.from_env(), tracker).list_tickets(
                statuses=OPEN_STATUSES
            )
        except DeskApiUnavailable as error:
            logger.error("listing tickets failed: %s", error)
            dispatcher.utter_message(response="utter_tickets_unavailable")
            return [SlotSet("ticket_number", None)]
        if not tickets:
            dispatcher.utter_message(response="utter_ticket_unknown_offer_human")
            return [SlotSet("ticket_number", None)]
        dispatcher.utter_message(
            response="utter_ticket_unknown_open_tickets",
            count=len(tickets),
            tickets=ticket_lines(tickets, conversation_language(tracker)),
        )
        return [SlotSet("ticket_number", None)]
