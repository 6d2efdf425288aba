"""Dense word features from a pretrained static embedding table (WordLlama).

Count vectors only know the words of the training data: "is my laptop still under
guarantee" shares no useful n-gram with the warranty examples. Pretrained embeddings
place "guarantee" next to "warranty" and "reimbursement" next to "refund", so a message
worded unlike any training example still lands near its intent.

The table is WordLlama's ``l2_supercat`` (MIT licence, 32,000 Llama-2 sub-word tokens x
256 dimensions, 16 MB), trained as a sentence-embedding model by average pooling. It comes
from the ``wordllama`` package on PyPI, which carries the weights and tokenizer as data
files; requirements/bot.lock installs it without its Python dependencies, and this module
reads only those two files (``safetensors`` and ``tokenizers``), never the package code.
Nothing is downloaded at run time.

For each Rasa token (jieba words and English words from the tokenizer before this one)
the sequence feature is the mean of its sub-word vectors; the sentence feature is the
mean over the whole message, L2-normalised. Chinese falls back to byte pieces in the
Llama-2 vocabulary and gained nothing on the validation split, so ``languages`` can limit
the vectors to English messages; character n-grams carry Chinese.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES, TOKENS_NAMES
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.dense import PretrainedDenseFeaturizer, PretrainedModelMissing, package_dir

PACKAGE = "wordllama"


class EmbeddingTable:
    """A sub-word tokenizer and its token vectors; embeds words and sentences."""

    def __init__(self, tokenizer_file: Path, weights_file: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer as SubwordTokenizer

        self._tokenizer = SubwordTokenizer.from_file(str(tokenizer_file))
        tensors = load_file(str(weights_file))
        (matrix,) = tensors.values()
        self.vectors = matrix.astype(np.float32)
        self.dim = int(self.vectors.shape[1])

    @classmethod
    @lru_cache(maxsize=4)
    def named(cls, name: str) -> EmbeddingTable:
        """Load a table shipped in the package, e.g. ``l2_supercat_256``; cached per process."""
        base = package_dir(PACKAGE)
        model = name.rsplit("_", 1)[0]
        tokenizer = base / "tokenizers" / f"{model}_tokenizer_config.json"
        weights = base / "weights" / f"{name}.safetensors"
        for path in (tokenizer, weights):
            if not path.is_file():
                raise PretrainedModelMissing(f"{path} is missing from the '{PACKAGE}' package")
        return cls(tokenizer, weights)

    def piece_ids(self, texts: list[str]) -> list[list[int]]:
        """Sub-word ids of each text, without the begin-of-sentence marker."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [[i for i in e.ids if i > 2] for e in encodings]

    def embed_words(self, words: list[str]) -> np.ndarray:
        """One vector per word: the mean of its sub-word vectors (zeros when it has none)."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        for row, ids in enumerate(self.piece_ids(words)):
            if ids:
                out[row] = self.vectors[ids].mean(axis=0)
        return out

    def embed_sentence(self, text: str) -> np.ndarray:
        """The L2-normalised mean of every sub-word vector of ``text``."""
        (ids,) = self.piece_ids([text])
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        v = self.vectors[ids].mean(axis=0)
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class WordEmbeddingFeaturizer(PretrainedDenseFeaturizer):
    """Adds pretrained word vectors as dense sequence and sentence features."""

    @staticmethod
    def required_packages() -> list[str]:
        """The table's readers (its own package is checked on loading: importing it fails)."""
        return ["tokenizers", "safetensors"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``table``: the embedding file; ``scale`` and ``languages`` as in ``dense.py``."""
        return {**PretrainedDenseFeaturizer.get_default_config(), "table": "l2_supercat_256"}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(config, name)
        self._table = EmbeddingTable.named(self._config["table"])

    def process(self, messages: list[Message]) -> list[Message]:
        """Add features to every featurizable attribute that has tokens."""
        for message in messages:
            for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
                self._featurize(message, attribute)
        return messages

    def _featurize(self, message: Message, attribute: str) -> None:
        tokens = message.get(TOKENS_NAMES[attribute])
        if not tokens:
            return
        words = [t.text for t in tokens]
        text = message.get(attribute) or " ".join(words)
        if self._wanted(text):
            self._add(
                message, attribute, self._table.embed_words(words), self._table.embed_sentence(text)
            )
        else:
            self._add_zeros(message, attribute, len(words), self._table.dim)
