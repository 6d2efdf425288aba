"""Actions that bring a person in: asking for a human, and complaints."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import (
    EXTERNAL_PREFIX,
    REPORT_SLOTS,
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
from actions.desk_api import DeskApiUnavailable, NewTicket, Ticket
from actions.parsing import is_email
from actions.settings import ActionSettings
from actions.ticket_category import category_for_ticket
from actions.ticket_requests import TicketRequest, ticket_request

logger = logging.getLogger(__name__)

HUMAN_REASON = "the customer asked for a human agent"


def _last_customer_text(tracker: Tracker) -> str:
    for event in reversed(tracker.events):
        text = str(event.get("text") or "")
        if event.get("event") == "user" and text and not text.startswith(EXTERNAL_PREFIX):
            return text
    return ""


def _due_time(ticket: Ticket, settings: ActionSettings) -> str:
    due = ticket.first_response_due_at
    return due.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M") if due else "-"


class ActionRequestHuman(Action):
    """Escalate the conversation's ticket (or open one) so that a person takes over.

    Everything gathered so far travels with it: the problem, the contact, the category
    and the transcript. The customer hears the ticket number, the queue and by when an
    agent will answer.
    """

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        settings = ActionSettings.from_env()
        client = desk_client(settings, tracker)
        language = conversation_language(tracker)
        lines = transcript(tracker)
        try:
            ticket = None
            number = tracker.get_slot("ticket_number")
            if number:
                ticket = await client.escalate(number, reason=HUMAN_REASON, transcript=lines)
            if ticket is None:
                # Asked again after an attempt that got no answer: the same request under
                # the same key, so a ticket that landed late is found, not opened twice.
                request = ticket_request(tracker, action=self.name(), content_slots=REPORT_SLOTS)
                ticket = await self._open_and_escalate(client, request)
        except DeskApiUnavailable as error:
            logger.error("handing over to a human failed: %s", error)
            dispatcher.utter_message(response="utter_human_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_human_on_the_way",
            ticket_number=ticket.number,
            queue=ticket.queue_name(language),
            due_time=_due_time(ticket, settings),
            json_message=ticket_card(ticket),
        )
        # From now on the HandoffPolicy relays the customer's messages to the agent.
        return [
            SlotSet("ticket_number", ticket.number),
            SlotSet("problem_description", None),
            SlotSet("handoff_ticket", ticket.number),
        ]

    @staticmethod
    async def _open_and_escalate(client: Any, request: TicketRequest) -> Ticket:
        tracker = request.as_first_sent
        description = str(tracker.get_slot("problem_description") or "").strip()
        if not description:
            # Nothing described yet: the agents get the customer's own last words.
            description = _last_customer_text(tracker).strip() or HUMAN_REASON
        # What the ticket form gathered before the customer asked for a person travels too.
        details = ticket_details(
            language=conversation_language(tracker),
            today=local_today(
                ActionSettings.from_env(), request.sent_at if request.retried else None
            ),
            order_number=tracker.get_slot("order_number"),
            product=tracker.get_slot("product"),
            day=tracker.get_slot("incident_date"),
        )
        if details:
            description = f"{description}\n\n{details}"
        contact = tracker.get_slot("contact")
        caller = caller_number(tracker)
        new_ticket = NewTicket(
            channel=conversation_channel(tracker),
            external_id=conversation_sender(tracker),
            language=conversation_language(tracker),
            description=description[:4000],
            category=category_for_ticket(tracker),
            phone=contact if contact and not is_email(contact) else caller,
            email=contact if contact and is_email(contact) else None,
            contact_verified=bool(caller) and not contact,
            transcript=transcript(tracker),
        )
        created = await client.create_ticket(new_ticket, idempotency_key=request.idempotency_key)
        escalated = await client.escalate(created.number, reason=HUMAN_REASON)
        return escalated or created


class ActionStartComplaint(Action):
    """Own the mistake first, then take the complaint down as a ticket for the
    complaints team (the routing policy gives that queue high priority)."""

    def name(self) -> str:
        return "action_start_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_complaint_heard")
        return [SlotSet("category", "complaints")]
