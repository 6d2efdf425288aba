"""The API names Rasa conversations exactly as the bot's connectors do (shared examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ticketing.conversations import channel_key_tag, rasa_conversation_id
from ticketing.principals import Principal, Role

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "conversation_ids.json").read_text()
)["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e['channel']}:{e['sender']}")
def test_ids_are_the_shared_examples(example: dict[str, str]) -> None:
    assert rasa_conversation_id(example["channel"], example["sender"]) == example["conversation_id"]


def test_the_bots_principal_names_its_conversation() -> None:
    bot = Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("wechat", "oAbC"))
    assert bot.rasa_conversation_id == "wechat:oAbC"
    staff = Principal(name="staff:li.na", role=Role.AGENT, agent_id=2)
    assert staff.rasa_conversation_id is None


def test_a_channel_without_conversations_is_refused() -> None:
    with pytest.raises(ValueError, match="not a conversation channel"):
        rasa_conversation_id("email", "a@example.com")


def test_channel_key_tags_are_the_bots() -> None:
    """Erasure finds the channels' keys by the tag the bot computes (shared examples)."""
    tags = json.loads(
        (Path(__file__).resolve().parents[1] / "data" / "conversation_tags.json").read_text()
    )
    assert {c: channel_key_tag(c) for c in tags} == tags
