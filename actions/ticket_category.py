"""Which team a new ticket goes to, decided inside the ticket form.

Once the form has the customer's description, ``actions.categories.decide`` reads it
whole: a complaint (the conversation began as one, or the complaint rules match) goes to
the complaints team; otherwise the model's category when it is sure. Only when it is not
does the form ask (``action_ask_ticket_category``, in ``actions.tickets`` beside the
form): the likeliest categories as buttons, which the customer may also answer by typing
a category's name, its number, or a few more words about the problem, in either language.
No question is asked a third time: after the second unusable answer the ticket takes the
model's likeliest category.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.categories import (
    CATEGORIES,
    CHOICES,
    CategoryDecision,
    category_model,
    decide,
    normalise,
)
from actions.form_answers import LAST_ATTEMPT, REQUESTED_SLOT, answers_to, latest_text
from actions.labels import category_words

logger = logging.getLogger(__name__)

SLOT = "ticket_category"
# The NLU's category word, or "complaints" once the customer started by complaining.
FLOW_SLOT = "category"
# When the model is missing and nothing else tells: the general enquiries team.
FALLBACK_CATEGORY = "general"
FALLBACK_INTENT = "nlu_fallback"

_ORDINALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(?i)^\W*(?:1|one|first|the first(?: one)?|第一(?:个|項|项)?|一)\W*$"), 0),
    (re.compile(r"(?i)^\W*(?:2|two|second|the second(?: one)?|第二(?:个|項|项)?|二)\W*$"), 1),
    (re.compile(r"(?i)^\W*(?:3|three|third|the third(?: one)?|第三(?:个|項|项)?|三)\W*$"), 2),
    (
        re.compile(
            r"(?i)^\W*(?:4|four|fourth|the fourth(?: one)?|the last(?: one)?|"
            r"第四(?:个|項|项)?|四|最后一个)\W*$"
        ),
        3,
    ),
)


# Messages that describe the problem: what the customer said before the form took the
# description (an FAQ answer that didn't help, a clarifying question) belongs to it too.
_DESCRIBING_INTENTS = frozenset({"report_problem", "complain", "faq", FALLBACK_INTENT})
# Where one request ends and the next begins.
_REQUEST_ENDS = frozenset({"action_create_ticket", "action_stop_form", "action_restart"})
_EARLIER_MESSAGES = 3


def request_words(tracker: Tracker) -> str:
    """The customer's whole description of this request: the description slot, after the
    customer's earlier messages about the problem since the last ticket (at most three;
    button payloads such as "/report_problem" are not words)."""
    earlier: list[str] = []
    asking: str | None = None  # what the form asked for when a message came
    for event in tracker.events:
        kind = event.get("event")
        if kind in ("restart", "session_started") or (
            kind == "action" and event.get("name") in _REQUEST_ENDS
        ):
            earlier, asking = [], None
        elif kind == "slot" and event.get("name") == REQUESTED_SLOT:
            asking = event.get("value")
        elif kind == "user" and asking in (None, "problem_description"):
            # Answers to the form's other questions (a contact, the category) are not
            # the description: the choices offered must not move under the customer.
            text = str(event.get("text") or "").strip()
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if text and not text.startswith("/") and intent in _DESCRIBING_INTENTS:
                earlier.append(text)
    description = str(tracker.get_slot("problem_description") or "").strip()
    if description.startswith("/"):
        description = ""  # a button's payload, not the customer's words
    parts = [t for t in earlier[-_EARLIER_MESSAGES:] if t != description] + [description]
    return " ".join(part for part in parts if part)


def decision_for(tracker: Tracker, extra: str = "") -> CategoryDecision:
    """The category decision for the customer's whole description (plus ``extra``)."""
    description = " ".join(part for part in (request_words(tracker), extra) if part)
    return decide(description, flow_category=tracker.get_slot(FLOW_SLOT))


def category_for_ticket(tracker: Tracker) -> str | None:
    """The category a new ticket gets: the one the ticket form decided (rules, model or
    the customer's pick); before it did (a person asked for mid-form), the decision or
    the model's likeliest for the description; else the NLU's category word (None lets
    the API file it under general enquiries)."""
    decided = tracker.get_slot(SLOT)
    if decided in CATEGORIES:
        return str(decided)
    if request_words(tracker):
        decision = decision_for(tracker)
        if decision.category or decision.choices:
            return decision.category or decision.choices[0]
    flow = tracker.get_slot(FLOW_SLOT)
    return str(flow) if flow in CATEGORIES else None


def choices_for(tracker: Tracker) -> list[str]:
    """The categories offered for this description, in the order shown: the model's
    likeliest few, then "something else" (general enquiries) when not among them."""
    decision = decision_for(tracker)
    likeliest = list(decision.choices)
    if not likeliest:
        model = category_model()
        likeliest = model.guess(request_words(tracker)).top(CHOICES) if model else []
    return likeliest + [c for c in [FALLBACK_CATEGORY] if c not in likeliest]


def picked_category(text: str, choices: list[str]) -> str | None:
    """The category an answer names: a choice's number, a category's name or one of its
    short words (either language, either script); None when it names none or several."""
    stripped = text.strip()
    for pattern, index in _ORDINALS:
        if pattern.match(stripped) and index < len(choices):
            return choices[index]
    answer = normalise(stripped)
    if not answer:
        return None
    named = set()
    for category in CATEGORIES:
        for word in category_words(category):
            word = normalise(word)
            if not word:
                continue
            whole = answer == word
            # English words only as whole words ("app" is not in "happy").
            inside = (
                re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", answer)
                if word.isascii()
                else word in answer
            )
            if whole or (inside and len(answer) <= 3 * len(word) + 8):
                named.add(category)
                break
    return named.pop() if len(named) == 1 else None


class TicketCategoryValidation:
    """Mixed into the ticket form's validation: decides the category after the
    description and validates the customer's answer when the form had to ask."""

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = await super().get_validation_events(  # type: ignore[misc]
            dispatcher, tracker, domain
        )
        if tracker.get_slot(SLOT) or tracker.get_slot(REQUESTED_SLOT) == SLOT:
            return events  # decided already, or the answer to the question was validated
        if not tracker.get_slot("problem_description"):
            return events
        decision = decision_for(tracker)
        logger.info(
            "ticket category %s (%s, confidence %s)",
            decision.category, decision.source, decision.confidence,
        )
        if decision.category is None:
            return events  # the form asks next (action_ask_ticket_category)
        return [*events, SlotSet(SLOT, decision.category)]

    def validate_ticket_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A choice by number, name or short word; otherwise more words about the
        problem, read with the description; the second unusable answer takes the
        model's likeliest category rather than asking a third time."""
        if tracker.get_slot(REQUESTED_SLOT) != SLOT:
            return {SLOT: value if value in CATEGORIES else None}
        text = str(value or latest_text(tracker)).strip()
        picked = picked_category(text, choices_for(tracker))
        if picked:
            return {SLOT: picked}
        decision = decision_for(tracker, extra=text)
        if decision.category:
            return {SLOT: decision.category}
        if answers_to(tracker, SLOT) < LAST_ATTEMPT:
            dispatcher.utter_message(response="utter_ticket_category_not_understood")
            return {SLOT: None}
        settled = decision.choices[0] if decision.choices else FALLBACK_CATEGORY
        return {SLOT: settled}

