"""Rasa's responses, with FAQ answers as the desk's supervisors wrote them last.

Configured as Rasa's NLG in endpoints.yml (``scripts/desk.py`` writes it)::

    nlg:
      type: bot.nlg.DeskNaturalLanguageGenerator
      url: ${DESK_API_URL}

Every response comes from the trained domain, as with Rasa's default generator, except
the FAQ answers (``utter_faq/<topic>``): for those the ticketing API is asked for the
current text (``GET /api/v1/faq/<topic>``, the bot's service token acting for the
conversation), so a supervisor's edit is what the next customer hears, with no
retraining. When the API does not answer within ``timeout`` seconds (1 by default) the
trained answer is given and the API is left alone for ``retry_after`` seconds (30), so
an outage costs one slow answer, not one per customer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import aiohttp
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.channels.conversation import split_conversation_id

logger = logging.getLogger(__name__)

FAQ_PREFIX = "utter_faq/"


class DeskNaturalLanguageGenerator(TemplatedNaturalLanguageGenerator):
    """The domain's responses; FAQ answers as currently edited in the desk."""

    def __init__(self, endpoint_config: EndpointConfig, domain: Domain) -> None:
        super().__init__(domain.responses)
        url = endpoint_config.url or os.environ.get("DESK_API_URL", "")
        self.base_url = url.rstrip("/")
        self.token = os.environ.get("DESK_SERVICE_TOKEN", "")
        settings = endpoint_config.kwargs
        self.timeout = float(settings.get("timeout", 1.0))
        self.retry_after = float(settings.get("retry_after", 30.0))
        self._quiet_until = 0.0

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        response = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if response is None or not utter_action.startswith(FAQ_PREFIX):
            return response
        language = "zh" if tracker.get_slot("language") == "zh" else "en"
        text = await self.current_answer(
            utter_action[len(FAQ_PREFIX) :], language, tracker.sender_id
        )
        if text:
            response["text"] = text
        return response

    async def current_answer(self, topic: str, language: str, conversation: str) -> str | None:
        """The desk's current text for this topic, or None (then the trained one is used)."""
        if not self.base_url or not self.token or time.monotonic() < self._quiet_until:
            return None
        channel, sender = split_conversation_id(conversation)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "X-Desk-Channel": channel,
            "X-Desk-Sender": sender,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.get(f"{self.base_url}/api/v1/faq/{topic}", headers=headers) as reply,
            ):
                if reply.status == 404:
                    return None  # a topic the desk does not know: the trained answer
                if reply.status != 200:
                    raise aiohttp.ClientResponseError(reply.request_info, (), status=reply.status)
                texts = (await reply.json()).get("texts") or {}
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            self._quiet_until = time.monotonic() + self.retry_after
            logger.warning(
                "FAQ answers unavailable (%s); trained answers for %.0f s",
                type(error).__name__,
                self.retry_after,
            )
            return None
        text = texts.get(language)
        return text if isinstance(text, str) and text.strip() else None
