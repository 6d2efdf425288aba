"""NLU data for evaluation: public benchmarks to Rasa YAML, held-out overlap checks.

Pure functions on plain data (no Rasa import), tested in ``tests/scripts``.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# An annotation Rasa's YAML reader would take for an entity: [text](type) or [text]{...}.
_ENTITY_SYNTAX = re.compile(r"\]\s*([({\[])")


def clean_text(text: str) -> str:
    """One line of text, safe inside a Rasa ``examples: |`` block."""
    text = " ".join(text.split())
    # "[x](y)" would be read as an entity annotation; a space keeps the words.
    return _ENTITY_SYNTAX.sub(r"] \1", text)


def read_banking77(path: Path) -> list[tuple[str, str]]:
    """(text, intent) rows of a BANKING77 CSV (``text,category``; quoted newlines)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]


def read_clinc150(path: Path) -> dict[str, list[tuple[str, str]]]:
    """The splits of CLINC150 ``data_full.json``: train, val, test, oos_train, ..."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {split: [(text, intent) for text, intent in rows] for split, rows in data.items()}


def to_rasa_yaml(examples: Iterable[tuple[str, str]], comment: str = "") -> str:
    """Rasa 3 NLU YAML with one block per intent, in the order intents first appear."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in examples:
        cleaned = clean_text(text)
        if cleaned and cleaned not in by_intent[intent]:
            by_intent[intent].append(cleaned)
    lines = ['version: "3.1"']
    if comment:
        lines.append(f"# {comment}")
    lines.append("nlu:")
    for intent, texts in by_intent.items():
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in texts)
    return "\n".join(lines) + "\n"


def normalise_for_overlap(text: str) -> str:
    """Text compared for duplicates: NFKC, lower case, no spaces or punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def jaccard(a: str, b: str) -> float:
    """Character-bigram Jaccard similarity of two normalised texts."""
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


@dataclass(frozen=True)
class Overlap:
    """A held-out text that equals or nearly equals a training text."""

    heldout: str
    train: str
    similarity: float
    exact: bool


def find_overlaps(heldout: Sequence[str], train: Sequence[str], near: float = 0.8) -> list[Overlap]:
    """Held-out texts identical to a training text after normalisation (exact), or with a
    character-bigram Jaccard similarity of at least ``near`` to one (near duplicate)."""
    train_norm = [(t, normalise_for_overlap(t)) for t in train]
    exact_index = {n: t for t, n in train_norm}
    found = []
    for text in heldout:
        norm = normalise_for_overlap(text)
        if norm in exact_index:
            found.append(Overlap(text, exact_index[norm], 1.0, True))
            continue
        grams = _bigrams(norm)
        best, best_text = 0.0, ""
        for original, other in train_norm:
            other_grams = _bigrams(other)
            # Jaccard can't reach `near` when the sizes differ too much; skip cheaply.
            if min(len(grams), len(other_grams)) < near * max(len(grams), len(other_grams)):
                continue
            score = len(grams & other_grams) / len(grams | other_grams)
            if score > best:
                best, best_text = score, original
        if best >= near:
            found.append(Overlap(text, best_text, best, False))
    return found


def stratified_split(
    examples: Sequence[tuple[str, str]], fraction: float, seed: int = 42
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(rest, held) with about ``fraction`` of every label in ``held`` (at least one when
    a label has two or more examples), reproducible for a seed."""
    import random

    rng = random.Random(seed)
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for example in examples:
        by_label[example[1]].append(example)
    rest, held = [], []
    for label in sorted(by_label):
        items = list(by_label[label])
        rng.shuffle(items)
        n = round(len(items) * fraction)
        if len(items) >= 2:
            n = max(n, 1)
        held.extend(items[:n])
        rest.extend(items[n:])
    return rest, held
