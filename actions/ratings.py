"""Customer satisfaction: asking for a rating once a ticket is resolved, and storing it."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import desk_client, mentioned_ticket
from actions.desk_api import DeskApiUnavailable, TicketConflict
from actions.parsing import parse_rating, parse_ticket_number
from actions.settings import ActionSettings

logger = logging.getLogger(__name__)

# From this score up the customer is thanked; below it they also hear an apology.
_SATISFIED_FROM = 4
_MAX_COMMENT = 2000


def _rating_from_entities(tracker: Tracker) -> int | None:
    """The score of a rating button's payload (/rate_service{"rating": "5"})."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "rating":
            try:
                score = int(str(entity.get("value")))
            except ValueError:
                return None
            return score if 1 <= score <= 5 else None
    return None


class ActionAskRating(Action):
    """Ask the customer to rate a resolved ticket (1-5, buttons).

    Triggered through the intent ``ticket_resolved`` with the entity ``ticket_number``
    (the live-handoff code calls Rasa's trigger_intent when an agent resolves a ticket).
    """

    def name(self) -> str:
        return "action_ask_rating"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = mentioned_ticket(tracker) or parse_ticket_number(
            str(tracker.get_slot("ticket_number") or "")
        )
        if number is None:
            logger.warning("asked for a rating without a ticket number; not asking")
            return []
        dispatcher.utter_message(response="utter_ask_rating", ticket_number=number)
        return [SlotSet("rating_ticket", number), SlotSet("ticket_number", number)]


class ActionRateTicket(Action):
    """Store the customer's rating, asked for (buttons) or volunteered ("5 stars", "非常满意").

    The ticket is the one named in the message, else the one the bot asked about,
    else the customer's most recently resolved ticket.
    """

    def name(self) -> str:
        return "action_rate_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = str(tracker.latest_message.get("text") or "").strip()
        score = _rating_from_entities(tracker) or parse_rating(text)
        # A rating's words ("不满意", "terrible") are not a problem category.
        events: list[EventType] = [SlotSet("category", None)]
        client = desk_client(ActionSettings.from_env(), tracker)
        number = mentioned_ticket(tracker) or tracker.get_slot("rating_ticket")
        try:
            if number is None:
                resolved = await client.list_tickets(statuses=["resolved"], limit=1)
                number = resolved[0].number if resolved else None
        except DeskApiUnavailable as error:
            logger.error("finding the ticket to rate failed: %s", error)
            dispatcher.utter_message(response="utter_tickets_unavailable")
            return events
        if number is None:
            dispatcher.utter_message(response="utter_rating_no_ticket")
            return events
        if score is None:
            dispatcher.utter_message(response="utter_ask_rating_score", ticket_number=number)
            return [*events, SlotSet("rating_ticket", number)]
        comment = None if text.startswith("/") else text[:_MAX_COMMENT] or None
        done = [*events, SlotSet("rating_ticket", None)]
        try:
            stored = await client.rate_ticket(number, score=score, comment=comment)
        except TicketConflict as conflict:
            response = (
                "utter_rating_already"
                if conflict.code == "already_rated"
                else "utter_rating_not_resolved"
            )
            dispatcher.utter_message(response=response, ticket_number=number)
            return done
        except DeskApiUnavailable as error:
            logger.error("rating %s failed: %s", number, error)
            dispatcher.utter_message(response="utter_rating_failed", ticket_number=number)
            return events
        if not stored:
            dispatcher.utter_message(response="utter_ticket_not_found", ticket_number=number)
            return done
        response = "utter_rating_thanks" if score >= _SATISFIED_FROM else "utter_rating_sorry"
        dispatcher.utter_message(response=response, ticket_number=number, score=score)
        return done
