"""Actions on the tickets a customer already has: cancel one, add information, list them."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import (
    UNKNOWN_TICKET,
    conversation_language,
    desk_client,
    local_today,
    mentioned_ticket,
    ticket_card,
    ticket_details,
)
from actions.desk_api import (
    FINISHED_STATUSES,
    OPEN_STATUSES,
    DeskApiUnavailable,
    Ticket,
    TicketConflict,
)
from actions.form_answers import LAST_ATTEMPT, AnsweringFormValidation
from actions.labels import status_label, ticket_lines
from actions.parsing import parse_ticket_number
from actions.settings import ActionSettings

logger = logging.getLogger(__name__)

_MAX_INFO = 4000
_DEFAULT_CANCEL_REASON = "the customer cancelled it in the chat"


def _last_text_of_intent(tracker: Tracker, intent: str) -> str:
    """What the customer typed the last time they meant ``intent`` (not a button payload)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        text = str(event.get("text") or "").strip()
        if name == intent and text and not text.startswith("/"):
            return text
    return ""


def _ticket_buttons(tickets: list[Ticket], language: str, intent: str) -> list[dict[str, str]]:
    return [
        {
            "title": f"{t.number} · {status_label(t.status, language)}",
            "payload": f'/{intent}{{"ticket_number": "{t.number}"}}',
        }
        for t in tickets
    ]


class ActionPrepareCancel(Action):
    """Find the ticket the customer wants cancelled and ask them to confirm.

    The number comes from the message, else the conversation's ticket (if still open),
    else the customer's only open ticket; with several open, the customer picks one.
    ``cancel_pending`` is set only when the confirmation question was asked.
    """

    def name(self) -> str:
        return "action_prepare_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = conversation_language(tracker)
        client = desk_client(ActionSettings.from_env(), tracker)
        number = mentioned_ticket(tracker)
        remembered = parse_ticket_number(str(tracker.get_slot("ticket_number") or ""))
        nothing_pending: list[EventType] = [SlotSet("cancel_pending", None)]
        try:
            if number is None and remembered is not None:
                # The conversation's ticket, unless it is finished: then the open ones.
                ticket = await client.get_ticket(remembered)
                if ticket is not None and ticket.status not in FINISHED_STATUSES:
                    number = remembered
            if number is None:
                open_tickets = await client.list_tickets(statuses=OPEN_STATUSES)
                if not open_tickets:
                    dispatcher.utter_message(response="utter_no_open_tickets")
                    return nothing_pending
                if len(open_tickets) > 1:
                    dispatcher.utter_message(
                        response="utter_ask_cancel_which",
                        buttons=_ticket_buttons(open_tickets, language, "cancel_ticket"),
                    )
                    return nothing_pending
                ticket: Ticket | None = open_tickets[0]
            else:
                ticket = await client.get_ticket(number)
        except DeskApiUnavailable as error:
            logger.error("finding the ticket to cancel failed: %s", error)
            dispatcher.utter_message(response="utter_tickets_unavailable")
            return nothing_pending
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            return [*nothing_pending, SlotSet("ticket_number", None)]
        if ticket.status in FINISHED_STATUSES:
            dispatcher.utter_message(
                response="utter_ticket_not_cancellable",
                ticket_number=ticket.number,
                status=status_label(ticket.status, language),
            )
            return nothing_pending
        dispatcher.utter_message(response="utter_confirm_cancel", ticket_number=ticket.number)
        return [SlotSet("cancel_pending", ticket.number), SlotSet("ticket_number", ticket.number)]


class ActionCancelTicket(Action):
    """Cancel the ticket the customer just confirmed, with their words as the reason."""

    def name(self) -> str:
        return "action_cancel_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = tracker.get_slot("cancel_pending")
        done: list[EventType] = [SlotSet("cancel_pending", None)]
        if not number:
            dispatcher.utter_message(response="utter_how_can_i_help")
            return done
        reason = _last_text_of_intent(tracker, "cancel_ticket") or _DEFAULT_CANCEL_REASON
        client = desk_client(ActionSettings.from_env(), tracker)
        try:
            ticket = await client.cancel_ticket(number, reason=reason[:500])
            if ticket is None:
                dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
                return [*done, SlotSet("ticket_number", None)]
        except TicketConflict:
            # Finished in the meantime (an agent resolved it): say what it is now.
            current = await self._current(client, number)
            dispatcher.utter_message(
                response="utter_ticket_not_cancellable",
                ticket_number=number,
                status=status_label(current, conversation_language(tracker)),
            )
            return done
        except DeskApiUnavailable as error:
            logger.error("cancelling %s failed: %s", number, error)
            dispatcher.utter_message(response="utter_ticket_action_failed", ticket_number=number)
            return done
        dispatcher.utter_message(
            response="utter_ticket_cancelled",
            ticket_number=ticket.number,
            json_message=ticket_card(ticket),
        )
        return done

    @staticmethod
    async def _current(client: Any, number: str) -> str:
        try:
            ticket = await client.get_ticket(number)
        except DeskApiUnavailable:
            return "closed"
        return ticket.status if ticket else "closed"


class ActionKeepTicket(Action):
    """The customer said no to cancelling: the ticket stays."""

    def name(self) -> str:
        return "action_keep_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_ticket_kept", ticket_number=tracker.get_slot("cancel_pending")
        )
        return [SlotSet("cancel_pending", None)]


class ValidateTicketInfoForm(AnsweringFormValidation):
    """Which ticket the customer adds to (one of theirs, not closed) and what they add."""

    def name(self) -> str:
        return "validate_ticket_info_form"

    def settled_after_detour(self, slot: str, text: str) -> Any:
        """A second detour instead of a ticket number: go on without one."""
        if slot == "ticket_number":
            return UNKNOWN_TICKET
        return super().settled_after_detour(slot, text)

    async def extract_ticket_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """When the form starts without a number, take the customer's only open ticket."""
        if tracker.get_slot("ticket_number") or tracker.get_slot("requested_slot"):
            return {}
        try:
            open_tickets = await desk_client(ActionSettings.from_env(), tracker).list_tickets(
                statuses=OPEN_STATUSES
            )
        except DeskApiUnavailable as error:
            logger.warning("listing open tickets failed: %s", error)
            return {}
        return {"ticket_number": open_tickets[0].number} if len(open_tickets) == 1 else {}

    async def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A well-formed number of a ticket of this customer that is not closed; after
        the second answer that names none, the information is taken anyway and a person
        finds the ticket (action_add_ticket_info offers one)."""
        number = parse_ticket_number(self.text_of(value, tracker))
        if number is None:
            if self.attempt(tracker, "ticket_number") >= LAST_ATTEMPT:
                return {"ticket_number": UNKNOWN_TICKET}
            dispatcher.utter_message(response="utter_invalid_ticket_number")
            return {"ticket_number": None}
        try:
            ticket = await desk_client(ActionSettings.from_env(), tracker).get_ticket(number)
        except DeskApiUnavailable as error:
            # Keep it; adding the information will report the outage honestly.
            logger.warning("checking %s failed: %s", number, error)
            return {"ticket_number": number}
        last = self.attempt(tracker, "ticket_number") >= LAST_ATTEMPT
        if ticket is None:
            if last:
                return {"ticket_number": UNKNOWN_TICKET}
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            return {"ticket_number": None}
        if ticket.status == "closed":
            if last:
                return {"ticket_number": UNKNOWN_TICKET}
            dispatcher.utter_message(response="utter_ticket_closed_no_info", ticket_number=number)
            return {"ticket_number": None}
        return {"ticket_number": ticket.number}

    def validate_ticket_info(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Keep a non-empty text, trimmed to what the API accepts."""
        text = str(value or "").strip()
        return {"ticket_info": text[:_MAX_INFO] or None}


class ActionAddTicketInfo(Action):
    """Append what the customer added to the ticket's thread, as their message."""

    def name(self) -> str:
        return "action_add_ticket_info"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        settings = ActionSettings.from_env()
        number = parse_ticket_number(str(tracker.get_slot("ticket_number") or ""))
        info = str(tracker.get_slot("ticket_info") or "").strip()
        done: list[EventType] = [SlotSet("ticket_info", None)]
        if number is None and info:
            # No ticket could be named: a person finds it, and what the customer wanted
            # to add travels as the description of the request.
            dispatcher.utter_message(response="utter_ticket_unknown_offer_human")
            return [*done, SlotSet("ticket_number", None), SlotSet("problem_description", info)]
        if number is None or not info:
            dispatcher.utter_message(response="utter_how_can_i_help")
            return done
        details = ticket_details(
            language=conversation_language(tracker),
            today=local_today(settings),
            order_number=_entity(tracker, "order_number"),
            product=_entity(tracker, "product"),
            day=_entity(tracker, "date"),
        )
        body = f"{info}\n\n{details}" if details else info
        try:
            ticket = await desk_client(settings, tracker).add_message(number, body=body[:_MAX_INFO])
        except TicketConflict:
            dispatcher.utter_message(response="utter_ticket_closed_no_info", ticket_number=number)
            return done
        except DeskApiUnavailable as error:
            logger.error("adding to %s failed: %s", number, error)
            dispatcher.utter_message(response="utter_ticket_action_failed", ticket_number=number)
            return done
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            return [*done, SlotSet("ticket_number", None)]
        dispatcher.utter_message(
            response="utter_ticket_info_added",
            ticket_number=ticket.number,
            json_message=ticket_card(ticket),
        )
        return done


def _entity(tracker: Tracker, name: str) -> str | None:
    """The first ``name`` entity of the latest message (the information just given)."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


class ActionMyTickets(Action):
    """List the customer's open tickets, each with its number and status."""

    def name(self) -> str:
        return "action_my_tickets"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = conversation_language(tracker)
        try:
            tickets = await desk_client(ActionSettings.from_env(), tracker).list_tickets(
                statuses=OPEN_STATUSES
            )
        except DeskApiUnavailable as error:
            logger.error("listing tickets failed: %s", error)
            dispatcher.utter_message(response="utter_tickets_unavailable")
            return []
        if not tickets:
            dispatcher.utter_message(response="utter_no_open_tickets")
            return []
        dispatcher.utter_message(
            response="utter_my_tickets", count=len(tickets), tickets=ticket_lines(tickets, language)
        )
        return []
