"""Live handoff, the bot's side: relaying between the customer and the agent.

While the ``handoff_ticket`` slot names a ticket, the HandoffPolicy runs
``action_relay_to_agent`` for every customer message: the words go to the ticket
thread (the agent console shows them live) and, while the ticket still waits for an
agent, the customer hears their place in the queue. When the ticket system is down,
the message is kept in the ``pending_relay`` slot and sent first once it answers.

Agents' replies come back without the action server: the desk triggers
``agent_reply`` and the response ``utter_agent_reply`` says it (bot/policies/handoff.py).
The desk's own relay (``ticketing/relay.py``) is that other direction: its outbox of
replies and notices on their way to the customer's channel.
"""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_language, desk_client
from actions.desk_api import DeskApiClient, DeskApiUnavailable
from actions.settings import ActionSettings

logger = logging.getLogger(__name__)

HANDOFF_SLOT = "handoff_ticket"
PENDING_SLOT = "pending_relay"
# Kept messages beyond this many (a very long outage) are dropped oldest first.
MAX_PENDING = 50


async def _flush(client: DeskApiClient, number: str, messages: list[str]) -> tuple[list[str], bool]:
    """Send messages in order; returns (those not sent, whether the ticket still takes them)."""
    for index, text in enumerate(messages):
        try:
            if not await client.relay_customer_message(number, text):
                return [], False
        except DeskApiUnavailable as error:
            logger.warning("relaying to %s failed: %s", number, error)
            return messages[index:], True
    return [], True


def _pending(tracker: Tracker) -> list[str]:
    value = tracker.get_slot(PENDING_SLOT)
    return [str(item) for item in value] if isinstance(value, list) else []


class ActionRelayToAgent(Action):
    """The customer's message goes to the agent instead of being answered by the bot."""

    def name(self) -> str:
        return "action_relay_to_agent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = str(tracker.get_slot(HANDOFF_SLOT) or "")
        text = str(tracker.latest_message.get("text") or "").strip()
        messages = [*_pending(tracker), *([text] if text else [])]
        if not number:
            return []
        client = desk_client(ActionSettings.from_env(), tracker)
        unsent, open_ticket = await _flush(client, number, messages)
        if not open_ticket:
            dispatcher.utter_message(response="utter_handoff_over", ticket_number=number)
            return [SlotSet(HANDOFF_SLOT, None), SlotSet(PENDING_SLOT, None)]
        if unsent:
            dispatcher.utter_message(response="utter_relay_kept", ticket_number=number)
            return [SlotSet(PENDING_SLOT, unsent[-MAX_PENDING:])]
        try:
            place = await client.queue_position(number)
        except DeskApiUnavailable as error:
            logger.warning("queue position of %s unknown: %s", number, error)
            place = None
        if place is not None and place.position is not None:
            dispatcher.utter_message(
                response="utter_queue_position",
                ticket_number=number,
                position=place.position,
                queue=place.queue_name(conversation_language(tracker)),
            )
        # Held by an agent: the bot stays quiet; the agent answers.
        return [SlotSet(PENDING_SLOT, None)]
