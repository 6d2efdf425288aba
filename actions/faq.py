"""FAQ or problem: an FAQ answer, with the offer of a ticket when the customer has a fault.

A question ("how do I get an invoice?") gets its answer. A fault that matches an FAQ
("I can't log in, my password is wrong") gets the answer and the offer of a ticket
(yes/no buttons; a typed yes or no works the same). A customer who comes back with the
problem after that, says it didn't help, or gives an order number or a contact gets a
ticket, not the same answer again: the slot ``faq_outcome`` is ``ticket`` and the rules
go on to the ticket form, with what they said as the description.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.form_answers import latest_intent, latest_text
from actions.parsing import parse_contact, parse_order_number

OUTCOME_SLOT = "faq_outcome"
ANSWERED, OFFERED, TICKET = "answered", "offered", "ticket"
# How sure the intent classifier must be of report_problem, as the runner-up to faq,
# for the message to count as a fault on that alone.
FAULT_RUNNER_UP = 0.25
_MAX_DESCRIPTION = 4000

_FAULT = re.compile(
    r"(?i)\b(?:can'?t|cannot|can not|won'?t|doesn'?t|does not|isn'?t|is not|aren'?t|"
    r"not working|no longer|broken|broke|stopped|never (?:arrived|came|got)|hasn'?t|"
    r"haven'?t|didn'?t|still (?:not|no|hasn'?t|haven'?t)|fail(?:s|ed|ing)?|error|cracked|"
    r"damaged|missing|wrong|twice|leak(?:s|ing)?|faulty|dead)\b"
    r"|坏|壞|不能|不了|无法|無法|没收到|沒收到|失败|失敗|不行|一直|还没|還沒|故障|报错|報錯|"
    r"破|裂|漏|少了|少寄|缺|错了|錯了|两次|兩次|重复扣|重複扣|不亮|没反应|沒反應|连不上|連不上|"
    r"打不开|打不開|登不上|跳闸|跳閘|没声音|沒聲音|划痕|劃痕|刮花|充不进|充不進|\bscratch"
)
_DID_NOT_HELP = re.compile(
    r"(?i)did ?n[o']t help|does ?n[o']t help|not help(?:ful|ing)|didn'?t work|doesn'?t work|"
    r"still (?:can'?t|cannot|not|doesn'?t|don'?t|no|the same)|already (?:tried|did|done)|"
    r"tried (?:that|it|this)|no use|useless|"
    r"没用|沒用|不管用|没有用|沒有用|没解决|沒解決|解决不了|解決不了|还是不行|還是不行|"
    r"试过了|試過了|试过|試過|都做了|照做了|不是问|不是問"
)


def reads_like_fault(tracker: Tracker) -> bool:
    """Whether the latest message reports something broken, missing or stuck."""
    if _FAULT.search(latest_text(tracker)):
        return True
    for candidate in tracker.latest_message.get("intent_ranking") or []:
        if candidate.get("name") == "report_problem":
            return float(candidate.get("confidence") or 0) >= FAULT_RUNNER_UP
    return False


def says_it_did_not_help(text: str) -> bool:
    """Whether the customer says the answer did not solve it ("没用", "already tried")."""
    return bool(_DID_NOT_HELP.search(text))


def gives_details(text: str) -> bool:
    """Whether the message carries an order number or a contact (a ticket's makings)."""
    return bool(parse_order_number(text) or parse_contact(text))


def faq_response(tracker: Tracker) -> str | None:
    """The FAQ answer the NLU picked for the latest message (``utter_faq/<topic>``)."""
    selector = tracker.latest_message.get("response_selector") or {}
    response = (selector.get("faq") or {}).get("response") or {}
    name = response.get("utter_action")
    return str(name) if name else None


def _customer_texts_since_offer(tracker: Tracker) -> list[str]:
    """What the customer said from the message that got the offer on, oldest first."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            text = str(event.get("text") or "").strip()
            if text and not text.startswith("/"):
                texts.append(text)
        offer = event.get("event") == "slot" and event.get("name") == OUTCOME_SLOT
        if offer and event.get("value") == OFFERED:
            break
    return list(reversed(texts))


class ActionAnswerFaq(Action):
    """Answer an FAQ; offer a ticket for a fault; open one when the answer did not do."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = latest_text(tracker)
        offered_before = tracker.get_slot(OUTCOME_SLOT) == OFFERED
        fault = reads_like_fault(tracker)
        if latest_intent(tracker) == "deny":
            # A "no" to the offer: a ticket when they say the answer didn't help.
            if offered_before and says_it_did_not_help(text):
                return self._ticket(tracker)
            dispatcher.utter_message(response="utter_how_can_i_help")
            return [SlotSet(OUTCOME_SLOT, ANSWERED), SlotSet("problem_description", None)]
        if (fault and gives_details(text)) or (
            offered_before and (fault or says_it_did_not_help(text) or gives_details(text))
        ):
            return self._ticket(tracker)
        response = faq_response(tracker)
        if response:
            dispatcher.utter_message(response=response)
        else:
            dispatcher.utter_message(response="utter_default")
        if fault:
            dispatcher.utter_message(response="utter_faq_offer_ticket")
            return [
                SlotSet(OUTCOME_SLOT, OFFERED),
                SlotSet("problem_description", text[:_MAX_DESCRIPTION]),
            ]
        return [SlotSet(OUTCOME_SLOT, ANSWERED)]

    @staticmethod
    def _ticket(tracker: Tracker) -> list[EventType]:
        """Go on to the ticket form with everything said about the fault as its description."""
        texts = _customer_texts_since_offer(tracker)
        previous = str(tracker.get_slot("problem_description") or "").strip()
        if previous and previous not in texts:
            texts.insert(0, previous)
        description = "\n".join(dict.fromkeys(texts)) or latest_text(tracker)
        events: list[Any] = [
            SlotSet(OUTCOME_SLOT, TICKET),
            SlotSet("problem_description", description[:_MAX_DESCRIPTION]),
        ]
        return events
