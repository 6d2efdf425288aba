"""Whether a message answers the question a form asked, and how often it was asked.

Two rules hold for every slot of every form:

* An answer is an answer: text that answers the question fills the slot, even when the
  NLU also reads it as an FAQ; only an FAQ that does not answer it is a detour (the
  form steps aside, the rules answer the FAQ and the form asks again).
* No question is asked a third time: after the second unusable answer to a slot, its
  validator keeps what the customer wrote, moves on, or offers a person.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.parsing import (
    parse_contact,
    parse_order_number,
    parse_ticket_number,
    read_out_digits,
)

REQUESTED_SLOT = "requested_slot"
# The answer after which the bot stops asking the same question (the second one).
LAST_ATTEMPT = 2
# A kept answer in a format the bot does not know: at most this long.
MAX_KEPT = 80

_QUESTION_START = re.compile(
    r"(?i)^\s*(?:how|what|when|where|which|who|do you|does|did you|can i|can you|could you|"
    r"is there|are there|is it|are you|will|would|should i|btw|by the way|oh wait)\b"
)
_QUESTION_WORDS = re.compile(
    r"怎么|怎麼|如何|多久|几点|幾點|几天|幾天|什么时候|什麼時候|哪里|哪裡|能不能|可不可以|"
    r"可以.{0,12}[吗嗎]|[吗嗎][？?]?\s*$|是否|对了|對了|顺便问|順便問"
)
_DIGIT_RUN = re.compile(r"\d{5,}")
_CONTACTISH = re.compile(r"@|\d[\d\s-]{5,}\d")
# "I'd rather not give my number": declining the contact, not stopping the request.
# "I'd rather not leave my number": declining the contact, not stopping the request.
_DECLINES_CONTACT = re.compile(
    r"(?i)(?:不方便|不想|不愿意|不願意|不留|不给|不給|不提供|不用留).{0,6}"
    r"(?:电话|電話|手机|手機|号码|號碼|邮箱|郵箱|联系方式|聯絡方式|联系|聯絡)"
    r"|(?:电话|電話|手机|手機|号码|號碼|邮箱|郵箱|联系方式|聯絡方式).{0,4}(?:不方便|不想|不留|不给|不給|就不)"
    r"|\b(?:rather not|prefer not|don'?t want to|do not want to|not comfortable|won'?t)\b"
    r".{0,25}\b(?:phone|mobile|number|e-?mail|contact|details)\b"
    r"|\bno (?:phone|mobile|e-?mail|contact)\b"
)
# "I don't have one" to the order-number question, whatever the NLU made of it.
_HAS_NO_ORDER_NUMBER = re.compile(
    r"(?i)没有|沒有|不知道|不记得|不記得|忘了|找不到|记不得|記不得|"
    r"\b(?:no idea|don'?t have|do not have|don'?t know|not sure|can'?t find|cannot find|"
    r"lost it|dunno|no clue|haven'?t got|don'?t remember|do not remember|can'?t remember)\b"
)


# What a message holds besides a problem: contacts, numbers, names, greetings and the
# words that introduce them ("my number is", "订单号", "有事打给我").
_DETAIL_WORDS = re.compile(
    r"(?i)\b(?:hi|hello|hey|this is|my|name|is|it'?s|i'?m|here|phone|mobile|number|cell|"
    r"e-?mail|mail|address|contact|details|order|no|ticket|you can|can|call|text|reach|"
    r"me|at|on|or|and|please|pls|thanks?|thank you)\b"
    r"|你好|您好|我叫|我是|名字|姓名|手机号?码?|手機號?碼?|电话|電話|号码|號碼|邮箱|郵箱|电邮|電郵|"
    r"联系方式|聯絡方式|联系|聯絡|聯繫|订单号?|訂單號?|编号|編號|工单号?|工單號?|"
    r"有事|打给我|打給我|找我|谢谢|謝謝|请|請|是|的|我"
)
_NAME_INTRO = re.compile(
    r"(?:我叫|我係|我是|姓名[:：]?)[\u4e00-\u9fff]{2,3}"
    r"|(?:this is|my name is|i'?m)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?"
    r"|\b[A-Z][a-z]+ [A-Z][a-z]+ here\b"
)
_EMAIL_OR_NUMBER = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|[A-Za-z]{0,2}[\d][\d\s-]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def describes_a_problem(text: str) -> bool:
    """Whether ``text`` says something beyond contacts, numbers and a name ("Sarah Jones,
    sarah@x.com, 139 8765 4321, order DD2026112208: you charged me twice for one TV
    stand" does; "my number is 13800138000, call me" does not)."""
    rest = _NAME_INTRO.sub(" ", text)
    rest = _EMAIL_OR_NUMBER.sub(" ", rest)
    rest = _DETAIL_WORDS.sub(" ", rest)
    return len(_CJK.findall(rest)) >= 5 or len(_LATIN_WORD.findall(rest)) >= 4


def latest_intent(tracker: Tracker) -> str | None:
    """The intent the NLU gave the latest customer message."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_text(tracker: Tracker) -> str:
    """The latest customer message as the NLU read it (spoken numbers already digits)."""
    return str(tracker.latest_message.get("text") or "").strip()


def answers_to(tracker: Tracker, slot: str) -> int:
    """How many customer messages came while the running form was asking for ``slot``
    (the latest one included): 1 for a first answer, 2 for the second, ..."""
    requested: str | None = None
    in_loop = False
    count = 0
    for event in tracker.events:
        kind = event.get("event")
        if kind == "active_loop":
            if event.get("name") is None:
                in_loop, requested, count = False, None, 0
            else:
                in_loop = True
        elif kind == "slot" and event.get("name") == REQUESTED_SLOT:
            requested = event.get("value")
        elif kind == "restart" or kind == "session_started":
            in_loop, requested, count = False, None, 0
        elif kind == "user" and in_loop and requested == slot:
            count += 1
    if tracker.active_loop.get("name") and tracker.get_slot(REQUESTED_SLOT) == slot:
        # The tracker a form hands its validator may not carry the loop event yet.
        count = max(count, 1)
    return count


def is_question(text: str) -> bool:
    """Whether the customer is asking something rather than telling."""
    stripped = text.strip()
    return (
        stripped.endswith(("?", "？"))
        or bool(_QUESTION_START.search(stripped))
        or bool(_QUESTION_WORDS.search(stripped))
    )


def answers_question(slot: str, text: str) -> bool:
    """Whether ``text`` answers the form's question for ``slot`` (whatever its intent)."""
    if not text.strip():
        return False
    if slot in ("order_number", "contact", "ticket_number"):
        # Digits read out ("D D 二零二六 一一二六 零四") answer a number question too.
        return any(_answers_number(slot, t) for t in (text, read_out_digits(text)))
    # Free text (a description, information for a ticket): anything but a question.
    return not is_question(text)


def _answers_number(slot: str, text: str) -> bool:
    if slot == "order_number":
        return bool(parse_order_number(text) or _DIGIT_RUN.search(text))
    if slot == "contact":
        return bool(parse_contact(text) or _CONTACTISH.search(text))
    return bool(parse_ticket_number(text) or _DIGIT_RUN.search(text))


def declines_contact(text: str) -> bool:
    """Whether the customer would rather not leave a contact ("不方便留电话", "I'd rather
    not give my number"): a no about the contact, not about the request."""
    if _CONTACTISH.search(text):
        return False  # "no mobile, my number is 010-6552 3344" gives one
    return bool(_DECLINES_CONTACT.search(text))


def has_no_order_number(text: str) -> bool:
    """Whether the customer says they have no order number ("没有订单号", "no idea")."""
    return not _DIGIT_RUN.search(text) and bool(_HAS_NO_ORDER_NUMBER.search(text))


def as_written(text: str) -> str:
    """An answer kept as the customer wrote it, trimmed for a ticket line."""
    return " ".join(text.split())[:MAX_KEPT]


class AnsweringFormValidation(FormValidationAction):
    """A form's validation that lets an FAQ which does not answer the question step
    outside the form (the rules answer it) and keeps every answer that does."""

    # Intents that may interrupt a form with a question of their own.
    DETOUR_INTENTS = frozenset({"faq"})

    @abstractmethod
    def name(self) -> str:
        """The validation action's name (``validate_<form>``); abstract, so the action
        server does not register this base class as an action."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        requested = self.answered_slot(tracker)
        if requested and (
            self.changes_mind(requested, tracker) or self.is_detour(requested, tracker)
        ):
            # The form rejects this turn and a rule takes it (the FAQ rule answers it, a
            # stop or another ticket's status leaves the form). Rasa's slot mappings have
            # already put the text in the slot: take it out, or settle the slot when this
            # was the last time the question may be asked.
            value = None
            if not self.changes_mind(requested, tracker) and (
                self.attempt(tracker, requested) >= LAST_ATTEMPT
            ):
                value = self.settled_after_detour(requested, latest_text(tracker))
            return [SlotSet(requested, value), ActionExecutionRejected(self.form_name())]
        return await super().run(dispatcher, tracker, domain)

    def is_detour(self, slot: str, tracker: Tracker) -> bool:
        """An FAQ that does not answer the question asked."""
        return latest_intent(tracker) in self.DETOUR_INTENTS and not answers_question(
            slot, latest_text(tracker)
        )

    def changes_mind(self, slot: str, tracker: Tracker) -> bool:
        """A clear change of mind the form's rules handle: here, another ticket's status."""
        return (
            slot != "ticket_number"
            and latest_intent(tracker) == "ticket_status"
            and parse_ticket_number(latest_text(tracker)) is not None
        )

    def settled_after_detour(self, slot: str, text: str) -> Any:
        """The slot's value when the customer detoured instead of answering the second
        time it was asked (the FAQ is answered, the question not asked a third time).
        Free text is kept as written; forms override this for their other slots."""
        return as_written(text)

    @staticmethod
    def answered_slot(tracker: Tracker) -> str | None:
        """The slot the form asked for, if the latest message is being offered as its
        answer. None when the form comes back after a detour (the FAQ rule answered,
        then the form runs again with no new message to judge): rejecting then would
        leave the form with nothing to say."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested and requested in tracker.slots_to_validate():
            return str(requested)
        return None

    @staticmethod
    def attempt(tracker: Tracker, slot: str) -> int:
        """Which answer to ``slot`` this is (1 = the first)."""
        return answers_to(tracker, slot)

    @staticmethod
    def text_of(value: Any, tracker: Tracker) -> str:
        """The answer's text: the slot candidate, else the latest message."""
        return str(value or latest_text(tracker)).strip()
