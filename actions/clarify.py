"""When the bot is unsure: a clarifying question, then a person; and stopping a form."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import conversation_language
from actions.labels import intent_label

FALLBACK_INTENT = "nlu_fallback"
# Never offered as a guess: the fallback itself, the FAQ (its answer needs the response
# selector's pick, which a button cannot carry) and intents only code triggers.
_NOT_OFFERED = frozenset({FALLBACK_INTENT, "faq", "ticket_resolved"})
_CHOICES = 2
# What a stopped form leaves behind: nothing of the unfinished request.
_FORM_SLOTS = (
    "problem_description",
    "order_number",
    "product",
    "incident_date",
    "category",
    "ticket_category",
    "ticket_info",
    "faq_outcome",
    "requested_slot",
)


def _previous_user_intent(tracker: Tracker) -> str | None:
    """The intent of the customer's message before the latest one."""
    seen_latest = False
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if not seen_latest:
            seen_latest = True
            continue
        return ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    return None


class ActionClarify(Action):
    """Low confidence: offer the two likeliest intents as buttons; the second miss in a
    row offers a person instead (the request_human flow)."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if _previous_user_intent(tracker) == FALLBACK_INTENT:
            dispatcher.utter_message(response="utter_offer_human")
            return []
        language = conversation_language(tracker)
        buttons: list[dict[str, str]] = []
        for candidate in tracker.latest_message.get("intent_ranking") or []:
            name = str(candidate.get("name") or "")
            label = intent_label(name, language) if name not in _NOT_OFFERED else None
            if label:
                buttons.append({"title": label, "payload": f"/{name}"})
            if len(buttons) == _CHOICES:
                break
        if not buttons:
            dispatcher.utter_message(response="utter_default")
            return []
        dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        return []


class ActionStopForm(Action):
    """The customer stopped in the middle of a form: say so politely, keep nothing of it."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_form_stopped")
        return [SlotSet(slot, None) for slot in _FORM_SLOTS]
