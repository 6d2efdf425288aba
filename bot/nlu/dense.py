"""What the pretrained dense featurizers share: their settings and the language gate.

``WordEmbeddingFeaturizer`` (word vectors) and ``SentenceEncoderFeaturizer`` (a sentence
encoder) both load an English-centred model from an installed package, both multiply
their features by ``scale`` so that the classifiers can weigh them against the counts,
and both give vectors only to the message languages in ``languages``: other messages get
zeros of the same width, so every message has the same features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import detect_language

LANGUAGES = ("en", "zh")
# Up to this many messages at once (a parse is one) the matrix products are small, and
# OpenBLAS's second thread only costs: one message through the sentence encoder took
# 13-17 ms of CPU with one thread against 25-31 ms with two (busy 2-core machine).
SMALL_BATCH = 8


@lru_cache(maxsize=1)
def _thread_pools() -> object:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread(batch: int) -> AbstractContextManager[object]:
    """BLAS limited to one thread while a small batch (a parse) is computed; larger
    batches (training) keep every thread."""
    if batch > SMALL_BATCH:
        return nullcontext()
    return _thread_pools().limit(limits=1, user_api="blas")  # type: ignore[attr-defined]


#: A folder where the sentence encoders keep each training text's vectors between training
#: runs (``make train`` sets it to .run/feature-cache): a retrain after a change of the
#: data encodes only the texts it has not seen. Unset: nothing is kept.
CACHE_ENV = "DESK_FEATURE_CACHE"
CACHE_CHUNK = 512
# One text's arrays (a vector, and for the BERT encoder its word pieces and their offsets).
Arrays = tuple[np.ndarray, ...]


def encode_cached(
    namespace: str, texts: Sequence[str], compute: Callable[[list[str]], list[Arrays]]
) -> list[Arrays]:
    """``compute(texts)``, with each text's arrays read from and written to the feature
    cache when ``DESK_FEATURE_CACHE`` names a folder and the batch is a training batch
    (more than ``SMALL_BATCH`` texts: a parse never touches the disk).

    ``namespace`` names the encoder and its version: two encoders never share entries.
    An entry is one ``.npz`` file named by the hash of namespace and text, written to a
    temporary file and renamed, so runs in parallel can share the folder; an unreadable
    entry is computed again."""
    folder = os.environ.get(CACHE_ENV)
    if not folder or len(texts) <= SMALL_BATCH:
        return compute(list(texts))
    root = Path(folder) / namespace
    root.mkdir(parents=True, exist_ok=True)
    paths = [
        root / f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}.npz" for text in texts
    ]
    found: dict[int, Arrays] = {}
    for i, path in enumerate(paths):
        try:
            with np.load(path) as entry:
                found[i] = tuple(entry[f"a{n}"] for n in range(len(entry.files)))
        except (OSError, ValueError, KeyError):
            continue
    missing = [i for i in range(len(texts)) if i not in found]
    # In chunks, so that a run stopped half-way keeps what it has encoded.
    for start in range(0, len(missing), CACHE_CHUNK):
        chunk = missing[start : start + CACHE_CHUNK]
        for i, arrays in zip(chunk, compute([texts[i] for i in chunk]), strict=True):
            found[i] = arrays
            fd, tmp = tempfile.mkstemp(dir=root, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **{f"a{n}": a for n, a in enumerate(arrays)})
            os.replace(tmp, paths[i])
    return [found[i] for i in range(len(texts))]


class PretrainedModelMissing(RuntimeError):
    """A pretrained model's package, or a file of it, is not in the bot environment."""


def package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing its code (the
    model packages' own code needs libraries the bot environment leaves out)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedModelMissing(
            f"the '{package.replace('_', '-')}' package is not installed; run `make install` "
            "(requirements/bot.lock lists it)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class PretrainedDenseFeaturizer(DenseFeaturizer, GraphComponent):
    """Base of the featurizers that read a pretrained model; not a component itself."""

    @classmethod
    def required_components(cls) -> list[type]:
        """Needs tokens (for the sequence features)."""
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``scale``: multiplies every feature; ``languages``: the message languages
        (``detect_language``) that get vectors, others get zeros."""
        return {**DenseFeaturizer.get_default_config(), "scale": 1.0, "languages": list(LANGUAGES)}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """``scale`` must be a non-negative number; ``languages`` a list of codes."""
        if float(config.get("scale", 1.0)) < 0:
            raise ValueError(f"{cls.__name__}: scale must not be negative")
        languages = config.get("languages", [])
        if not isinstance(languages, list) or not all(lang in LANGUAGES for lang in languages):
            raise ValueError(f"{cls.__name__}: languages must be a list of 'en' and 'zh'")

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.validate_config(self._config)
        self._scale = float(self._config["scale"])
        self._languages = frozenset(self._config["languages"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PretrainedDenseFeaturizer:
        """Load the model (from the installed package, not the model archive)."""
        return cls(config, execution_context.node_name)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurize the training examples in place."""
        self.process(training_data.training_examples)
        return training_data

    def _wanted(self, text: str) -> bool:
        """Whether a message in this text's language gets vectors (a bare number: English)."""
        return (detect_language(text) or "en") in self._languages

    def _add(
        self, message: Message, attribute: str, sequence: np.ndarray, sentence: np.ndarray
    ) -> None:
        """Sequence (tokens x dim) and sentence (dim) features, times ``scale``."""
        self._attach(message, attribute, sequence * self._scale, sentence * self._scale)

    def _add_zeros(self, message: Message, attribute: str, tokens: int, dim: int) -> None:
        """Zeros of the same shape for a message in a language without vectors."""
        zeros = np.zeros((tokens, dim), dtype=np.float32)
        self._attach(message, attribute, zeros, np.zeros(dim, dtype=np.float32))

    def _attach(
        self, message: Message, attribute: str, sequence: np.ndarray, sentence: np.ndarray
    ) -> None:
        alias = self._config[FEATURIZER_CLASS_ALIAS]
        message.add_features(Features(sequence, FEATURE_TYPE_SEQUENCE, attribute, alias))
        message.add_features(
            Features(sentence[np.newaxis, :], FEATURE_TYPE_SENTENCE, attribute, alias)
        )
