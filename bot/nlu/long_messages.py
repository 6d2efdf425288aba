"""Long messages in training: a story first, the request at the end.

Customers who write long messages tell the desk who they are, what they bought and what
they already tried before they say what they want; the training examples are mostly one
sentence. A model trained only on those weighs every word of the story, and the request
at the end is outvoted. This component, at training time only, copies a share of the
training examples (``fraction``, chosen with a fixed seed) and puts in front of each copy
an opener and one or two story sentences that ask for nothing and name no fault
(``story_context.yml``, per language), with the original label. The classifiers so
learn that such sentences decide nothing, and the request still does.

Entities keep their place (their offsets move by the length of the story). Messages at
run time pass through unchanged. Short replies (greet, affirm, thanks ...) are not
copied: nobody tells a story before "yes".
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    INTENT,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import detect_language

CONTEXT_FILE = Path(__file__).with_name("story_context.yml")
SHORT_REPLIES = (
    "greet", "goodbye", "thanks", "affirm", "deny", "rate_service", "restart",
)


def load_context(path: Path = CONTEXT_FILE) -> dict[str, dict[str, list[str]]]:
    """Openers and story sentences per language, checked for shape."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for language, parts in data.items():
        if not isinstance(parts, dict) or not parts.get("sentences"):
            raise ValueError(f"{path}: '{language}' needs a list of sentences")
        lines = parts.get("sentences", []) + parts.get("openers", [])
        if not all(isinstance(line, str) and line.strip() for line in lines):
            raise ValueError(f"{path}: '{language}' has an empty or non-text line")
    return data


def with_story(example: Message, story: str) -> Message:
    """A copy of ``example`` with ``story`` in front, its entities moved along."""
    data = copy.deepcopy(example.data)
    data[TEXT] = story + example.get(TEXT)
    for entity in data.get(ENTITIES) or []:
        entity[ENTITY_ATTRIBUTE_START] += len(story)
        entity[ENTITY_ATTRIBUTE_END] += len(story)
    return Message(data=data, output_properties=set(example.output_properties))


def story_for(language: str, context: dict[str, dict[str, list[str]]], rng: random.Random) -> str:
    """An opener (half the time) and one or two story sentences, in the message's language."""
    parts = context[language]
    sentences = rng.sample(parts["sentences"], k=rng.choice((1, 1, 2)))
    openers = parts.get("openers") or []
    pieces = ([rng.choice(openers)] if openers and rng.random() < 0.5 else []) + sentences
    separator = " " if language == "en" else ""
    return separator.join(pieces) + separator


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class LongMessageAugmenter(GraphComponent):
    """Adds story-first copies of training examples; changes nothing at run time."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``fraction`` of the eligible examples copied; ``seed`` for the choice;
        ``skip_intents``: labels never copied."""
        return {"fraction": 0.25, "seed": 42, "skip_intents": list(SHORT_REPLIES)}

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Chinese and English (the context file's languages)."""
        return None

    def __init__(self, config: dict[str, Any]) -> None:
        """Check the settings and read the story sentences."""
        self._fraction = float(config.get("fraction", 0.25))
        if not 0.0 <= self._fraction <= 1.0:
            raise ValueError("LongMessageAugmenter: fraction must be between 0 and 1")
        self._seed = int(config.get("seed", 42))
        self._skip = frozenset(config.get("skip_intents", SHORT_REPLIES))
        self._context = load_context()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LongMessageAugmenter:
        """Create the component."""
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        """Messages at run time are left alone."""
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """The training data with the story-first copies added."""
        rng = random.Random(self._seed)
        added: list[Message] = []
        for example in training_data.training_examples:
            text, intent = example.get(TEXT), example.get(INTENT)
            if not text or not intent or intent in self._skip:
                continue
            language = detect_language(text)
            if language not in self._context or rng.random() >= self._fraction:
                continue
            added.append(with_story(example, story_for(language, self._context, rng)))
        if not added:
            return training_data
        return training_data.merge(TrainingData(training_examples=added))
