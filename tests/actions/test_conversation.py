"""What the actions believe about a conversation: only what its id and connector say."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.conversation import (
    UntrustedTracker,
    caller_number,
    check_channel_facts,
    conversation_channel,
    conversation_sender,
)


def tracker(sender_id: str, *messages: tuple[str, dict[str, Any]]) -> Tracker:
    events = [
        {"event": "user", "text": "hi", "input_channel": channel, "metadata": metadata}
        for channel, metadata in messages
    ]
    return Tracker(sender_id, {}, {}, events, False, None, {}, "action_listen")


CALLER = {"caller_number": "13912345678"}


class TestChannelAndSender:
    @pytest.mark.parametrize(
        ("sender_id", "channel", "sender"),
        [
            ("li", "rest", "li"),
            ("rest:wechat:oX", "rest", "wechat:oX"),
            ("web:0123456789abcdef", "web", "0123456789abcdef"),
            ("wechat:oX", "wechat", "oX"),
            ("voice:call-1", "voice", "call-1"),
        ],
    )
    def test_come_from_the_conversation_id(self, sender_id: str, channel: str, sender: str) -> None:
        # Whatever the latest message claimed as its input channel.
        t = tracker(sender_id, ("rest", {}))
        assert (conversation_channel(t), conversation_sender(t)) == (channel, sender)


class TestCallerNumber:
    def test_is_believed_on_a_call_from_the_voice_connector(self) -> None:
        assert caller_number(tracker("voice:call-1", ("voice", CALLER))) == "13912345678"

    @pytest.mark.parametrize(
        ("sender_id", "channel"),
        [("x", "voice"), ("x", "rest"), ("rest:voice:call-1", "rest"), ("voice:call-1", "rest")],
    )
    def test_is_never_believed_anywhere_else(self, sender_id: str, channel: str) -> None:
        assert caller_number(tracker(sender_id, (channel, CALLER))) is None


class TestChannelFacts:
    @pytest.mark.parametrize(
        ("sender_id", "channel"),
        [("li", "rest"), ("web:abc", "socketio"), ("wechat:oX", "wechat"), ("voice:c", "voice")],
    )
    def test_messages_from_the_ids_own_connector_are_trusted(
        self, sender_id: str, channel: str
    ) -> None:
        check_channel_facts(tracker(sender_id, (channel, {}), (None, {})))

    @pytest.mark.parametrize(
        ("sender_id", "channel"),
        [("voice:c", "rest"), ("li", "voice"), ("oX", "wechat"), ("wechat:oX", "socketio")],
    )
    def test_a_message_from_another_channel_is_refused(self, sender_id: str, channel: str) -> None:
        with pytest.raises(UntrustedTracker):
            check_channel_facts(tracker(sender_id, (channel, {})))
