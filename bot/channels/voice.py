"""Phone calls, transcribed by the IVR gateway, as a Rasa input channel.

    POST /webhooks/voice/webhook
    {"call_id", "turn", "caller_number", "transcript", "confidence",
     "alternatives": [{"transcript", "confidence"}]}
    -> {"call_id", "turn", "replies": ["...", ...], "end_call": false}

The gateway signs each request: ``X-Desk-Timestamp`` (unix seconds) and
``X-Desk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` with the
shared secret. The timestamp is inside the signed bytes, so an old request cannot be
replayed with a fresh timestamp; a bad or stale signature is 401 and nothing is processed.

The call id is the conversation. The message metadata carries ``transcript: true`` (so
the NLU normalises spoken forms), ``caller_number`` (the carrier's, hence verified; the
actions file it as the customer's phone) and ``asr_confidence``. When the recogniser is
unsure (confidence under ``confirm_below``) the channel first reads back what it heard
(domain response ``utter_confirm_transcript``) and acts on it only when the NLU hears a
yes; on a no it asks again (``utter_ask_to_repeat``). Replies are plain speech: no
markdown, links or emoji, buttons read out as choices, ticket and phone numbers digit by
digit. A repeated turn (same call id and turn) gets the first answer, never a second.

Progress notices from the desk (``POST /webhooks/voice/push``, :mod:`bot.channels.pushes`)
are kept for the caller's next turn like an agent's reply, and also go out as an SMS to
the customer's phone number, which the desk sends with the notice from its encrypted
profile (the call may be over; the channel keeps no number): through the
:class:`SmsSender` the channel has. No SMS provider is reachable from here, so the one
shipped is :class:`FileSmsOutbox` (``DESK_SMS_OUTBOX``: a JSON-lines file a test or a
demo reads); without it the SMS is skipped and logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import plain_text
from bot.channels.conversation import VOICE, conversation_id, split_conversation_id
from bot.channels.pushes import DeskPush, add_push_route
from bot.channels.responses import agent_of, conversation_language, render
from bot.channels.store import ChannelStore, conversation_tag, store_for, wait_for_reply
from bot.nlu.language import detect_language
from ticketing import jsonlog

logger = logging.getLogger(__name__)

CHANNEL = VOICE
MAX_BODY_BYTES = 32 * 1024
MAX_TRANSCRIPT_CHARS = 2000
MAX_ALTERNATIVES = 10

_CALL_ID = re.compile(r"^[\w.:@+\-]{1,128}$")
_PHONE = re.compile(r"^\+?[\d\s()\-]{3,32}$")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_URL = re.compile(r"https?://\S+")
_EMPHASIS = re.compile(r"\*\*|__|~~|`+|\*")
_LINE_MARKUP = re.compile(r"(?m)^\s*(?:#{1,6}\s+|>\s?|[-+]\s+|\d+[.)]\s+)")
_TICKET = re.compile(r"\bSD-?(\d{6,12})\b", re.IGNORECASE)
_MOBILE = re.compile(r"(?<!\d)(1\d{10})(?!\d)")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The gateway's signature of a request."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def for_speech(text: str) -> str:
    """Text a speech synthesiser reads well: no markup, links or emoji; numbers digit by digit."""
    spoken = _LINK.sub(r"\1", text)
    spoken = _URL.sub("", spoken)
    spoken = _LINE_MARKUP.sub("", spoken)
    spoken = _EMPHASIS.sub("", spoken)
    spoken = "".join(c for c in spoken if unicodedata.category(c) not in ("So", "Cs", "Co"))
    spoken = _TICKET.sub(lambda m: "SD " + " ".join(m.group(1)), spoken)
    spoken = _MOBILE.sub(lambda m: " ".join(m.group(1)), spoken)
    return re.sub(r"\s+", " ", spoken).strip()


class InvalidTurn(ValueError):
    """The gateway's JSON is not a turn; ``status`` is 400 (not JSON) or 422 (a field)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def parse_turn(body: bytes) -> dict[str, Any]:
    """Validate the gateway's JSON; InvalidTurn names the field that is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidTurn("the body is not JSON", 400) from None
    if not isinstance(data, dict):
        raise InvalidTurn("the body must be a JSON object", 400)
    call_id = data.get("call_id")
    if not isinstance(call_id, str) or not _CALL_ID.match(call_id):
        raise InvalidTurn("call_id: 1 to 128 letters, digits or . : @ + - _")
    turn = data.get("turn")
    if isinstance(turn, bool) or not (
        (isinstance(turn, int) and turn >= 0) or (isinstance(turn, str) and 1 <= len(turn) <= 64)
    ):
        raise InvalidTurn("turn: required, an integer >= 0 or a string of 1 to 64 characters")
    transcript = _transcript(data.get("transcript"), "transcript")
    confidence = _confidence(data.get("confidence"), "confidence")
    alternatives = data.get("alternatives") or []
    if not isinstance(alternatives, list) or len(alternatives) > MAX_ALTERNATIVES:
        raise InvalidTurn(f"alternatives: a list of at most {MAX_ALTERNATIVES}")
    best = (transcript, confidence)
    for index, alternative in enumerate(alternatives):
        if not isinstance(alternative, dict):
            raise InvalidTurn(f"alternatives[{index}]: an object with transcript and confidence")
        candidate = (
            _transcript(alternative.get("transcript"), f"alternatives[{index}].transcript"),
            _confidence(alternative.get("confidence"), f"alternatives[{index}].confidence"),
        )
        if candidate[1] > best[1]:  # a better-scored alternative wins over the first
            best = candidate
    return {
        "call_id": call_id,
        "turn": turn,
        "transcript": best[0],
        "confidence": best[1],
        "caller_number": _caller_number(data.get("caller_number")),
    }


def _transcript(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTurn(f"{name}: a non-empty string")
    if len(value) > MAX_TRANSCRIPT_CHARS:
        raise InvalidTurn(f"{name}: at most {MAX_TRANSCRIPT_CHARS} characters")
    return value.strip()


def _confidence(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidTurn(f"{name}: required, a number from 0 to 1")
    return float(value)


def _caller_number(value: Any) -> str | None:
    """The caller's number without spaces and dashes; None when withheld."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise InvalidTurn("caller_number: a phone number string, or null when withheld")
    if not _PHONE.match(value.strip()):
        return None  # "anonymous", "unknown", "private": the carrier withheld it
    return re.sub(r"[\s()\-]", "", value)


# How long an agent's reply waits for the caller's next turn before it is dropped.
RELAYED_TTL_SECONDS = 3600
SMS_OUTBOX_ENV = "DESK_SMS_OUTBOX"


class SmsSender(Protocol):
    """Sends a text message to a phone number (an SMS provider's API behind it)."""

    async def send(self, number: str, text: str) -> None:
        """Send, or raise."""
        ...


class FileSmsOutbox:
    """The local stand-in for an SMS provider: one JSON line per message in a file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def send(self, number: str, text: str) -> None:
        """Append the message; the file is the provider's outbox."""
        line = json.dumps({"to": number, "text": text, "at": time.time()}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")

    def sent(self) -> list[dict[str, Any]]:
        """What was sent so far."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


class SpeechForLater(OutputChannel):
    """Where messages the desk pushes between turns go (an agent's reply through Rasa's
    ``trigger_intent``): a phone call can only answer a turn, so they are kept in the
    channel store and spoken at the start of the caller's next turn."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Keep the text for the call's next turn, after what is kept already."""
        key = relayed_key(split_conversation_id(recipient_id).sender)
        kept = json.loads(await self.store.take(key) or "[]")
        kept.append(text)
        await self.store.put(
            key, json.dumps(kept, ensure_ascii=False), ttl_seconds=RELAYED_TTL_SECONDS
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """Nothing to say: a ticket card is drawn by the widget only (Rasa's default
        would read the JSON out)."""


def relayed_key(call_id: str) -> str:
    """The store key of what waits for a call's next turn."""
    return f"relayed:{call_tag(call_id)}"


def call_tag(call_id: str) -> str:
    """The call's conversation as the channel store's keys name it."""
    return conversation_tag(conversation_id(CHANNEL, call_id))


class SpeechCollector(CollectingOutputChannel):
    """Collects the bot's answer (named ``voice`` for channel variations) and notes which
    responses it used and whether one asks to end the call."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[str] = []
        self.end_call = False

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Note the response's name and an ``end_call`` custom payload, then collect it."""
        if message.get("utter_action"):
            self.responses.append(str(message["utter_action"]))
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("end_call") is True:
            self.end_call = True
        await super().send_response(recipient_id, message)


def _names(value: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _number(config: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    raw = config.get(key)
    try:
        value = float(default if raw is None or raw == "" else raw)
    except (TypeError, ValueError):
        raise ValueError(f"voice channel: {key} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"voice channel: {key} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class VoiceSettings:
    """What the channel needs, from its section of credentials.yml."""

    secret: str
    confirm_below: float = 0.6
    timestamp_window: float = 300.0
    default_language: str = "zh"
    # How long a read-back waits for the caller's yes or no.
    confirm_ttl: float = 300.0
    # How long a repeated turn waits for the first one's answer before a 409.
    repeat_wait: float = 3.0
    affirm_intents: tuple[str, ...] = ("affirm",)
    deny_intents: tuple[str, ...] = ("deny",)
    confirm_response: str = "utter_confirm_transcript"
    repeat_response: str = "utter_ask_to_repeat"
    choices_response: str = "utter_voice_choices"
    # After these responses the gateway may hang up.
    end_call_after: tuple[str, ...] = ("utter_goodbye",)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> VoiceSettings:
        """Read and check the settings; ValueError names what is wrong."""
        config = credentials or {}
        return cls(
            secret=str(config.get("secret") or ""),
            confirm_below=_number(config, "confirm_below", 0.6, 0, 1),
            timestamp_window=_number(config, "timestamp_window", 300, 1, 3600),
            default_language=str(config.get("default_language") or "zh"),
            confirm_ttl=_number(config, "confirm_ttl", 300, 10, 3600),
            repeat_wait=_number(config, "repeat_wait", 3, 0, 30),
            affirm_intents=_names(config.get("affirm_intents"), ("affirm",)),
            deny_intents=_names(config.get("deny_intents"), ("deny",)),
            confirm_response=str(config.get("confirm_response") or "utter_confirm_transcript"),
            repeat_response=str(config.get("repeat_response") or "utter_ask_to_repeat"),
            choices_response=str(config.get("choices_response") or "utter_voice_choices"),
            end_call_after=_names(config.get("end_call_after"), ("utter_goodbye",)),
        )


class VoiceInput(InputChannel):
    """The IVR gateway's transcripts as a Rasa input channel."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> VoiceInput:
        return cls(VoiceSettings.from_credentials(credentials))

    def __init__(
        self,
        settings: VoiceSettings,
        *,
        store: ChannelStore | None = None,
        clock: Callable[[], float] = time.time,
        sms: SmsSender | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or store_for(os.environ.get("REDIS_URL"), prefix="desk:voice")
        self.clock = clock
        outbox = os.environ.get(SMS_OUTBOX_ENV)
        self.sms = sms or (FileSmsOutbox(outbox) if outbox else None)
        if not settings.secret:
            logger.warning("the voice channel has no gateway secret: it answers 503 until set")

    def get_output_channel(self) -> OutputChannel:
        """Where Rasa sends what it says between turns (see SpeechForLater)."""
        return SpeechForLater(self.store)

    async def _push(self, push: DeskPush, text: str) -> str:
        """A progress notice: spoken at the caller's next turn, and an SMS when the desk
        sent the customer's number."""
        await SpeechForLater(self.store).send_text_message(push.conversation_id, text)
        if push.sms_to is None:
            return "next_turn"
        if self.sms is None:
            logger.warning("no SMS sender (%s): the notice waits for a turn only", SMS_OUTBOX_ENV)
            return "next_turn"
        await self.sms.send(push.sms_to, text)
        return "next_turn+sms"

    def _signed(self, request: Request) -> bool:
        timestamp = request.headers.get("X-Desk-Timestamp", "")
        signature = request.headers.get("X-Desk-Signature", "")
        if not (timestamp.isdigit() and signature):
            return False
        if abs(self.clock() - int(timestamp)) > self.settings.timestamp_window:
            return False
        expected = sign(self.settings.secret, timestamp, request.body or b"")
        return hmac.compare_digest(expected, signature)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """POST /webhooks/voice/webhook."""
        hook = Blueprint("voice_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.settings.secret else "not configured"})

        add_push_route(hook, channel=CHANNEL, store=self.store, deliver=self._push)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.settings.secret:
                return _error(503, "not_configured", "the voice channel has no gateway secret")
            if len(request.body or b"") > MAX_BODY_BYTES:
                return _error(413, "payload_too_large", f"at most {MAX_BODY_BYTES} bytes")
            if not self._signed(request):
                return _error(401, "bad_signature", "missing, wrong or stale signature")
            try:
                turn = parse_turn(request.body or b"")
            except InvalidTurn as error:
                code = "invalid_json" if error.status == 400 else "invalid_turn"
                return _error(error.status, code, str(error))
            key = f"{call_tag(turn['call_id'])}:{turn['turn']}"
            if not await self.store.claim(key):
                # The gateway retried: give the first answer, waiting a little if the first
                # request is still being answered.
                earlier = await wait_for_reply(self.store, key, timeout=self.settings.repeat_wait)
                if earlier is None:
                    return _error(409, "turn_in_progress", "this turn is still being answered")
                return response.json(json.loads(earlier))
            try:
                body = await self._answer(turn, request, on_new_message)
            except Exception as error:
                # Let the gateway's retry of this turn be processed afresh.
                await self.store.release(key)
                logger.error("the bot failed on a voice turn: %s", type(error).__name__)
                return _error(500, "bot_failed", "the assistant could not answer this turn")
            # What an agent said since the last turn comes first.
            relayed = await self.store.take(relayed_key(turn["call_id"]))
            if relayed:
                body["replies"] = (
                    self._speech_of([{"text": text} for text in json.loads(relayed)])
                    + body["replies"]
                )
            await self.store.remember_reply(key, json.dumps(body, ensure_ascii=False))
            return response.json(body)

        return hook

    async def _answer(
        self,
        turn: dict[str, Any],
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> dict[str, Any]:
        agent = agent_of(request)
        call_id, transcript = turn["call_id"], turn["transcript"]
        conversation = conversation_id(CHANNEL, call_id)
        pending_key = f"pending:{call_tag(call_id)}"
        pending = await self.store.take(pending_key)
        if pending is not None:
            heard = json.loads(pending)
            verdict = await self._verdict(agent, transcript)
            if verdict == "yes":
                return await self._process(
                    turn,
                    heard["transcript"],
                    heard["confidence"],
                    agent,
                    on_new_message,
                    confirmed=True,
                )
            if verdict == "no":
                message = await render(
                    agent,
                    self.settings.repeat_response,
                    sender_id=conversation,
                    language=heard["language"],
                    output_channel=CHANNEL,
                )
                return self._reply(turn, self._speech_of([message] if message else []))
            # Neither: the caller said something new; treat it as a turn of its own.
        if turn["confidence"] < self.settings.confirm_below:
            language = (
                detect_language(transcript)
                or await conversation_language(agent, conversation)
                or self.settings.default_language
            )
            message = await render(
                agent,
                self.settings.confirm_response,
                sender_id=conversation,
                language=language,
                output_channel=CHANNEL,
                heard=transcript,
            )
            if message is not None:
                await self.store.put(
                    pending_key,
                    json.dumps(
                        {
                            "transcript": transcript,
                            "confidence": turn["confidence"],
                            "language": language,
                        }
                    ),
                    ttl_seconds=self.settings.confirm_ttl,
                )
                return self._reply(turn, self._speech_of([message]))
            # A model without the read-back response: act on what was heard.
        return await self._process(
            turn, transcript, turn["confidence"], agent, on_new_message, confirmed=False
        )

    async def _verdict(self, agent: Any | None, text: str) -> str | None:
        """``yes`` or ``no`` when the NLU hears an affirmation or a denial, else None."""
        try:
            parsed = await agent.parse_message(plain_text(text)) if agent is not None else None
        except Exception as error:  # no model loaded yet, NLU failure: not a yes
            logger.warning("could not classify the caller's answer: %s", type(error).__name__)
            return None
        intent = ((parsed or {}).get("intent") or {}).get("name")
        if intent in self.settings.affirm_intents:
            return "yes"
        if intent in self.settings.deny_intents:
            return "no"
        return None

    async def _process(
        self,
        turn: dict[str, Any],
        transcript: str,
        confidence: float,
        agent: Any | None,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        *,
        confirmed: bool,
    ) -> dict[str, Any]:
        """Hand the transcript to the bot and turn its answer into speech."""
        conversation = conversation_id(CHANNEL, turn["call_id"])
        metadata: dict[str, Any] = {"transcript": True, "asr_confidence": confidence}
        metadata[jsonlog.METADATA_KEY] = jsonlog.begin(turn.get("turn"), conversation=conversation)
        if turn["caller_number"]:
            metadata["caller_number"] = turn["caller_number"]
        if confirmed:
            metadata["confirmed_by_caller"] = True
        collector = SpeechCollector()
        await on_new_message(
            UserMessage(
                plain_text(transcript),
                collector,
                conversation,
                input_channel=CHANNEL,
                metadata=metadata,
            )
        )
        replies = self._speech_of(collector.messages)
        choices = [
            str(b.get("title", ""))
            for m in collector.messages
            for b in (m.get("buttons") or m.get("quick_replies") or [])
            if b.get("title")
        ]
        if choices:
            language = await conversation_language(agent, conversation)
            message = await render(
                agent,
                self.settings.choices_response,
                sender_id=conversation,
                language=language or self.settings.default_language,
                output_channel=CHANNEL,
                choices=", ".join(for_speech(c) for c in choices),
            )
            replies += self._speech_of([message] if message else [])
        end_call = collector.end_call or any(
            name in self.settings.end_call_after for name in collector.responses
        )
        return self._reply(turn, replies, end_call=end_call)

    @staticmethod
    def _speech_of(messages: list[dict[str, Any]]) -> list[str]:
        spoken = (for_speech(str(m["text"])) for m in messages if m.get("text"))
        return [s for s in spoken if s]

    @staticmethod
    def _reply(
        turn: dict[str, Any], replies: list[str], *, end_call: bool = False
    ) -> dict[str, Any]:
        return {
            "call_id": turn["call_id"],
            "turn": turn["turn"],
            "replies": replies,
            "end_call": end_call,
        }


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)
