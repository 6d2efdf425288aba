"""Conversation ids: each channel's connector owns its prefix; REST can never reach another's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.channels.conversation import (
    Conversation,
    conversation_id,
    split_conversation_id,
)

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "conversation_ids.json").read_text()
)["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e['channel']}:{e['sender']}")
def test_ids_are_the_shared_examples(example: dict[str, str]) -> None:
    assert conversation_id(example["channel"], example["sender"]) == example["conversation_id"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e['channel']}:{e['sender']}")
def test_an_id_splits_back_into_its_channel_and_sender(example: dict[str, str]) -> None:
    assert split_conversation_id(example["conversation_id"]) == Conversation(
        example["channel"], example["sender"]
    )


@pytest.mark.parametrize(
    ("channel", "sender"),
    [("wechat", "oAbC123"), ("voice", "call-1"), ("web", "0123456789abcdef0123")],
)
def test_no_rest_sender_gets_another_channels_conversation(channel: str, sender: str) -> None:
    target = conversation_id(channel, sender)
    # Whatever a REST client writes as "sender", its conversation is a REST one.
    for attempt in (sender, target, f"rest:{target}", f" {target}"):
        forged = conversation_id("rest", attempt)
        assert forged != target
        assert split_conversation_id(forged).channel == "rest"


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="not a conversation channel"):
        conversation_id("phone", "13800138000")
