"""Detects whether a customer wrote in Chinese or English.

The detector adds a ``language`` entity to each message whose language it can tell,
and the domain maps that entity into the ``language`` slot. A message that carries
no language signal (a bare phone number, a ticket number, an emoji) adds nothing, so
the slot keeps the language of the conversation so far.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

LANGUAGE_ENTITY = "language"

# Tokens that look like words but say nothing about the language: ticket numbers,
# e-mail addresses, URLs, order numbers with letters.
_NEUTRAL = re.compile(
    r"(?i)(?:[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})|(?:https?://\S+)|(?:\bSD-?\d+)|(?:\b[a-z]*\d[a-z0-9-]*)"
)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def detect_language(text: str) -> str | None:
    """Return ``"zh"`` or ``"en"`` for a message, or ``None`` when it has no language signal.

    Each Chinese character weighs as much as one English word, so a Chinese sentence
    with an English product name ("我的order还没到") is Chinese and an English sentence
    naming a Chinese city is English.
    """
    cleaned = _NEUTRAL.sub(" ", text)
    cjk = len(_CJK.findall(cleaned))
    latin_words = len(_LATIN_WORD.findall(cleaned))
    if cjk == 0 and latin_words == 0:
        return None
    return "zh" if cjk >= latin_words else "en"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class LanguageDetector(GraphComponent, EntityExtractorMixin):
    """Adds a ``language`` entity (``zh`` or ``en``) to every message with a language signal."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """No options."""
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        """Create the component."""
        return cls()

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Works for any pipeline language."""
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        """Add the language entity to each message."""
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect_language(text)
            if language is None:
                continue
            entity = {
                "entity": LANGUAGE_ENTITY,
                "value": language,
                "start": 0,
                "end": len(text),
                "confidence": 1.0,
                "extractor": self.__class__.__name__,
            }
            message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data is left as it is: the language is never a trained entity."""
        return training_data
