"""The handoff policy: relay during a handoff, deliver agents' replies, abstain otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies.handoff import HandoffPolicy, next_action

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


def tracker(domain: Domain, *events: object) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("widget-1", list(events), slots=domain.slots)


def said(intent: str, text: str = "hi") -> list[object]:
    return [ActionExecuted("action_listen"), UserUttered(text, {"name": intent, "confidence": 1.0})]


def test_during_a_handoff_any_message_goes_to_the_agent(domain: Domain) -> None:
    for intent in ("greet", "faq", "report_problem", "request_human", "nlu_fallback"):
        t = tracker(domain, SlotSet("handoff_ticket", "SD-100001"), *said(intent))
        assert next_action(t) == "action_relay_to_agent", intent


def test_after_relaying_the_bot_listens(domain: Domain) -> None:
    t = tracker(
        domain,
        SlotSet("handoff_ticket", "SD-100001"),
        *said("greet"),
        ActionExecuted("action_relay_to_agent"),
    )
    assert next_action(t) == "action_listen"


def test_without_a_handoff_the_policy_abstains(domain: Domain) -> None:
    assert next_action(tracker(domain, *said("greet"))) is None
    assert next_action(tracker(domain)) is None


def test_an_agents_reply_is_delivered_with_or_without_a_handoff(domain: Domain) -> None:
    assert next_action(tracker(domain, *said("agent_reply", "EXTERNAL: agent_reply"))) == (
        "utter_agent_reply"
    )
    t = tracker(domain, *said("agent_reply"), ActionExecuted("utter_agent_reply"))
    assert next_action(t) == "action_listen"


def test_restart_and_the_resolution_keep_their_usual_handling(domain: Domain) -> None:
    for intent in ("restart", "ticket_resolved", "handed_back"):
        t = tracker(domain, SlotSet("handoff_ticket", "SD-100001"), *said(intent))
        assert next_action(t) is None


def test_slot_extraction_after_the_message_does_not_hide_it(domain: Domain) -> None:
    t = tracker(
        domain,
        SlotSet("handoff_ticket", "SD-100001"),
        *said("provide_contact", "13800138000"),
        SlotSet("contact", "13800138000"),
    )
    assert next_action(t) == "action_relay_to_agent"


def test_the_prediction_is_certain_and_outranks_the_rules(domain: Domain, tmp_path: Path) -> None:
    policy = HandoffPolicy.create(
        HandoffPolicy.get_default_config(),
        LocalModelStorage(tmp_path),
        Resource("handoff"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    t = tracker(domain, SlotSet("handoff_ticket", "SD-100001"), *said("greet"))
    prediction = policy.predict_action_probabilities(t, domain)
    best = domain.action_names_or_texts[prediction.max_confidence_index]
    assert (best, prediction.max_confidence, prediction.policy_priority) == (
        "action_relay_to_agent",
        1.0,
        7,
    )
    quiet = policy.predict_action_probabilities(tracker(domain, *said("greet")), domain)
    assert quiet.max_confidence == 0.0
