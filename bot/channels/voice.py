"""Phone calls, transcribed by the IVR gateway, as a Rasa input channel.

    POST /webhooks/voice/webhook
    {"call_id", "turn", "caller_number", "transcript", "confidence",
     "alternatives": [{"transcript", "confidence"}]}
    -> {"call_id", "turn", "replies": ["...", ...], "end_call": false}

The gateway signs each request: ``X-Desk-Timestamp`` (unix seconds) and
``X-Desk-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` with
``VOICE_GATEWAY_SECRET``; a bad or stale signature is 401 and nothing is processed.

The call id is the conversation; the caller number (the carrier's, so verified) and the
recogniser's confidence travel in the message metadata, and the message is marked as a
transcript so the NLU normalises spoken forms. When the recogniser is unsure (confidence
under ``confirm_below``) the channel first reads back what it heard and acts on the
caller's "yes"; on "no" it asks them to say it again. Replies are plain speech: no
markdown, buttons read out as choices, ticket and phone numbers read digit by digit.
A repeated turn (same call id and turn) gets the first answer, never a second one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.dedupe import Deduper, MemoryDeduper, RedisDeduper
from bot.nlu.language import detect_language

logger = logging.getLogger(__name__)

CHANNEL = "voice"
MAX_BODY_BYTES = 32 * 1024
MAX_TRANSCRIPT_CHARS = 2000

_MARKDOWN = re.compile(r"[*_`#>]+")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_URL = re.compile(r"https?://\S+")
_TICKET = re.compile(r"\bSD-?(\d{6,12})\b", re.IGNORECASE)
_PHONE = re.compile(r"(?<!\d)(1\d{10})(?!\d)")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The gateway's signature of a request."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def for_speech(text: str) -> str:
    """Text a speech synthesiser reads well: no markup, no links, numbers digit by digit."""
    spoken = _LINK.sub(r"\1", text)
    spoken = _URL.sub("", spoken)
    spoken = _MARKDOWN.sub("", spoken)
    spoken = _TICKET.sub(lambda m: "SD " + " ".join(m.group(1)), spoken)
    spoken = _PHONE.sub(lambda m: " ".join(m.group(1)), spoken)
    return re.sub(r"\s+", " ", spoken).strip()


@dataclass(frozen=True)
class VoicePhrases:
    """What the channel itself says, per language (data from credentials.yml)."""

    heard: dict[str, str] = field(
        default_factory=lambda: {
            "zh": "我听到的是：{text}。对吗？",
            "en": "I heard: {text}. Is that right?",
        }
    )
    say_again: dict[str, str] = field(
        default_factory=lambda: {
            "zh": "好的，请再说一遍您的问题。",
            "en": "All right, please say that again.",
        }
    )
    choices: dict[str, str] = field(
        default_factory=lambda: {"zh": "您可以说：{options}。", "en": "You can say: {options}."}
    )
    yes: tuple[str, ...] = (
        "是",
        "对",
        "是的",
        "对的",
        "没错",
        "嗯",
        "好",
        "yes",
        "yeah",
        "right",
        "correct",
        "yep",
    )
    no: tuple[str, ...] = ("不是", "不对", "错了", "不", "no", "nope", "wrong", "not right")

    def say(self, which: dict[str, str], language: str, **values: str) -> str:
        return which.get(language, which["en"]).format(**values)


def answer_of(text: str, phrases: VoicePhrases) -> str | None:
    """``yes``, ``no`` or None for a short spoken answer."""
    cleaned = re.sub(r"[\s，。,.!！?？]+", " ", text.lower()).strip()
    if cleaned in phrases.no or any(cleaned.startswith(n + " ") for n in phrases.no):
        return "no"
    if cleaned in phrases.yes or any(cleaned.startswith(y + " ") for y in phrases.yes):
        return "yes"
    return None


class VoiceInput(InputChannel):
    """The IVR gateway's transcripts as a Rasa input channel."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> VoiceInput:
        config = credentials or {}
        return cls(
            secret=str(config.get("secret") or os.environ.get("VOICE_GATEWAY_SECRET") or ""),
            confirm_below=float(config.get("confirm_below", 0.6)),
            timestamp_window=float(config.get("timestamp_window", 300)),
        )

    def __init__(
        self,
        *,
        secret: str,
        confirm_below: float = 0.6,
        timestamp_window: float = 300.0,
        phrases: VoicePhrases | None = None,
        deduper: Deduper | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.confirm_below = confirm_below
        self.timestamp_window = timestamp_window
        self.phrases = phrases or VoicePhrases()
        redis_url = os.environ.get("REDIS_URL")
        self.deduper: Deduper = deduper or (
            RedisDeduper(redis_url, prefix="desk:voice") if redis_url else MemoryDeduper()
        )
        self.clock = clock
        # call id -> the transcript waiting for the caller's yes (one per live call).
        self._pending: dict[str, tuple[str, str]] = {}

    def _signed(self, request: Request) -> bool:
        timestamp = request.headers.get("X-Desk-Timestamp", "")
        signature = request.headers.get("X-Desk-Signature", "")
        if not (timestamp.isdigit() and signature):
            return False
        if abs(self.clock() - int(timestamp)) > self.timestamp_window:
            return False
        return hmac.compare_digest(sign(self.secret, timestamp, request.body or b""), signature)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """POST /webhooks/voice/webhook."""
        hook = Blueprint("voice_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.secret else "not configured"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.secret:
                return _error(503, "not_configured", "the voice channel has no gateway secret")
            if len(request.body or b"") > MAX_BODY_BYTES:
                return _error(413, "payload_too_large", f"at most {MAX_BODY_BYTES} bytes")
            if not self._signed(request):
                return _error(401, "bad_signature", "missing, wrong or stale signature")
            try:
                turn = _parse_turn(request.body or b"")
            except ValueError as error:
                return _error(422, "invalid_turn", str(error))
            key = f"{turn['call_id']}:{turn['turn']}"
            if not await self.deduper.claim(key):
                earlier = await self.deduper.reply_for(key)
                if earlier is None:
                    return _error(409, "turn_in_progress", "this turn is still being answered")
                return response.json(json.loads(earlier))
            body = await self._answer(turn, on_new_message)
            await self.deduper.remember_reply(key, json.dumps(body, ensure_ascii=False))
            return response.json(body)

        return hook

    async def _answer(
        self, turn: dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> dict[str, Any]:
        call_id, transcript = turn["call_id"], turn["transcript"]
        language = detect_language(transcript) or "zh"
        pending = self._pending.pop(call_id, None)
        if pending is not None:
            heard, heard_language = pending
            verdict = answer_of(transcript, self.phrases)
            if verdict == "yes":
                transcript, language = heard, heard_language
            elif verdict == "no":
                return self._reply(turn, [self.phrases.say(self.phrases.say_again, heard_language)])
            # Anything else is a new utterance: treat it as such.
        elif turn["confidence"] < self.confirm_below:
            self._pending[call_id] = (transcript, language)
            return self._reply(
                turn, [self.phrases.say(self.phrases.heard, language, text=transcript)]
            )

        collector = CollectingOutputChannel()
        metadata = {
            "transcript": True,
            "caller_number": turn.get("caller_number"),
            "asr_confidence": turn["confidence"],
        }
        await on_new_message(
            UserMessage(transcript, collector, call_id, input_channel=CHANNEL, metadata=metadata)
        )
        return self._reply(turn, self._speech(collector.messages, language))

    def _speech(self, messages: list[dict[str, Any]], language: str) -> list[str]:
        spoken: list[str] = []
        for message in messages:
            if message.get("text"):
                spoken.append(for_speech(str(message["text"])))
            buttons = message.get("buttons") or message.get("quick_replies") or []
            if buttons:
                options = ("、" if language == "zh" else ", ").join(
                    for_speech(str(b.get("title", ""))) for b in buttons
                )
                spoken.append(self.phrases.say(self.phrases.choices, language, options=options))
        return [s for s in spoken if s]

    @staticmethod
    def _reply(turn: dict[str, Any], replies: list[str]) -> dict[str, Any]:
        return {
            "call_id": turn["call_id"],
            "turn": turn["turn"],
            "replies": replies,
            "end_call": False,
        }


def _error(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)


def _parse_turn(body: bytes) -> dict[str, Any]:
    """Validate the gateway's JSON; ValueError names the field that is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    call_id = data.get("call_id")
    if not isinstance(call_id, str) or not 1 <= len(call_id) <= 128:
        raise ValueError("call_id: a string of 1 to 128 characters")
    transcript = data.get("transcript")
    if not isinstance(transcript, str) or not transcript.strip():
        raise ValueError("transcript: a non-empty string")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise ValueError(f"transcript: at most {MAX_TRANSCRIPT_CHARS} characters")
    confidence = data.get("confidence", 1.0)
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0 <= confidence <= 1
    ):
        raise ValueError("confidence: a number from 0 to 1")
    turn = data.get("turn", 0)
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 0:
        raise ValueError("turn: a non-negative integer")
    caller = data.get("caller_number")
    if caller is not None and (not isinstance(caller, str) or len(caller) > 32):
        raise ValueError("caller_number: a phone number string")
    alternatives = data.get("alternatives") or []
    if not isinstance(alternatives, list):
        raise ValueError("alternatives: a list")
    text = transcript.strip()
    best = float(confidence)
    # A better-scored alternative wins over the first transcript.
    for alternative in alternatives[:5]:
        if (
            isinstance(alternative, dict)
            and isinstance(alternative.get("transcript"), str)
            and alternative["transcript"].strip()
            and isinstance(alternative.get("confidence"), (int, float))
            and alternative["confidence"] > best
        ):
            text, best = (
                alternative["transcript"].strip()[:MAX_TRANSCRIPT_CHARS],
                float(alternative["confidence"]),
            )
    return {
        "call_id": call_id,
        "turn": turn,
        "transcript": text,
        "confidence": best,
        "caller_number": caller,
    }
