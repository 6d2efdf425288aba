"""Regex and lookup entities that respect English word boundaries.

``RegexEntityExtractor`` must run with ``use_word_boundaries: false``: Chinese has no
spaces, and ``\\b`` would never let 退款 match inside 我要退款. Without boundaries, though,
the English lookup entries match inside other words: the product "dress" in "address",
the category word "order" in "border", "locked" in "unlocked". This extractor drops a
match whose text is Latin when it is glued to a Latin letter or digit on the left, or to
letters on the right other than an inflection (orders, ordered, charging). Chinese
matches, and matches of the number regexes, are kept as they are.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.extractors.regex_entity_extractor import RegexEntityExtractor
from rasa.shared.nlu.constants import ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, TEXT
from rasa.shared.nlu.training_data.message import Message

_LATIN = re.compile(r"[A-Za-z]")
_INFLECTIONS = frozenset({"s", "es", "d", "ed", "ing"})


def glued_to_a_word(text: str, start: int, end: int) -> bool:
    """Whether the Latin match ``text[start:end]`` is part of a longer, different word."""
    value = text[start:end]
    if not (_LATIN.match(value[:1]) and _LATIN.match(value[-1:])):
        return False  # starts or ends with a digit or a Chinese character: not a word match
    if start > 0 and (text[start - 1].isascii() and text[start - 1].isalnum()):
        return True
    tail = re.match(r"[A-Za-z]*", text[end:])
    rest = tail.group(0).lower() if tail else ""
    return bool(rest) and rest not in _INFLECTIONS


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class WordBoundedRegexEntityExtractor(RegexEntityExtractor):
    """``RegexEntityExtractor`` without English matches inside other words."""

    def _extract_entities(self, message: Message) -> list[dict[str, Any]]:
        text = message.get(TEXT) or ""
        return [
            e
            for e in super()._extract_entities(message)
            if not glued_to_a_word(text, e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END])
        ]
