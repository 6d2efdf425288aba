"""What Rasa does with the domain's slot mappings on every message: nothing remote.

``action_extract_slots`` runs before every prediction. A custom slot mapping that names
an ``action`` makes it call that action on the action server on every message of every
conversation (and the action calls the API), so the desk's custom mappings name none:
the slots they describe are set by the actions the rules run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa.core.actions import action as rasa_actions
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


def test_no_slot_mapping_names_an_action(domain: Domain) -> None:
    named = {
        slot.name: mapping["action"]
        for slot in domain.slots
        for mapping in slot.mappings
        if mapping.get("action")
    }
    assert named == {}


def test_the_domain_asks_for_no_slot_mapping_validation_action(domain: Domain) -> None:
    assert "action_validate_slot_mappings" not in domain.user_actions


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        ("how much is shipping", "faq", []),
        (
            "SD-100042 现在什么进度",
            "ticket_status",
            [{"entity": "ticket_number", "value": "SD-100042"}],
        ),
        ("yes", "affirm", []),
    ],
)
def test_extracting_slots_calls_no_custom_action(
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    intent: str,
    entities: list[dict[str, Any]],
) -> None:
    called: list[str] = []

    async def remote_run(self: rasa_actions.RemoteAction, *_args: Any) -> list[Any]:
        called.append(self.name())
        return []

    monkeypatch.setattr(rasa_actions.RemoteAction, "run", remote_run)
    # A conversation that already has a ticket: the old mappings fired their actions
    # whenever one was known.
    tracker = DialogueStateTracker.from_events(
        "extract",
        [
            ActionExecuted("action_listen"),
            SlotSet("ticket_number", "SD-100041"),
            UserUttered(text, intent={"name": intent, "confidence": 1.0}, entities=entities),
        ],
        slots=domain.slots,
    )
    extract = rasa_actions.ActionExtractSlots(EndpointConfig("http://127.0.0.1:9/webhook"))
    events = asyncio.run(
        extract.run(
            CollectingOutputChannel(),
            TemplatedNaturalLanguageGenerator(domain.responses),
            tracker,
            domain,
        )
    )
    assert called == []
    set_slots = {e.key for e in events if isinstance(e, SlotSet)}
    assert not set_slots & {"cancel_pending", "rating_ticket", "contact_on_file"}
