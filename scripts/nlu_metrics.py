"""Metrics for the NLU evaluation: per-label scores, confusions, entities, fallback.

Pure functions on plain data (no Rasa import), so that ``tests/scripts`` can check them
on small known examples.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class LabelScore:
    """Precision, recall and F1 of one label, and how many gold examples it has."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Report:
    """Accuracy, macro F1 over the gold labels, and the per-label scores."""

    accuracy: float
    macro_f1: float
    labels: list[LabelScore]


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def classification_report(gold: Sequence[str], predicted: Sequence[str]) -> Report:
    """Scores per gold label; predictions of labels absent from gold count as errors only.

    Macro F1 averages over the labels that occur in ``gold`` (as ``rasa test`` and
    scikit-learn do with ``labels=gold labels``), so a spurious predicted label such as
    ``nlu_fallback`` lowers the recall of the true label without adding a row of zeros.
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    if not gold:
        return Report(accuracy=0.0, macro_f1=0.0, labels=[])
    true_pos: Counter[str] = Counter()
    gold_count: Counter[str] = Counter(gold)
    pred_count: Counter[str] = Counter(predicted)
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            true_pos[g] += 1
    scores = []
    for label in sorted(gold_count):
        precision = true_pos[label] / pred_count[label] if pred_count[label] else 0.0
        recall = true_pos[label] / gold_count[label]
        scores.append(
            LabelScore(label, precision, recall, _f1(precision, recall), gold_count[label])
        )
    accuracy = sum(true_pos.values()) / len(gold)
    macro_f1 = sum(s.f1 for s in scores) / len(scores)
    return Report(accuracy=accuracy, macro_f1=macro_f1, labels=scores)


def confusion_pairs(
    gold: Sequence[str], predicted: Sequence[str], top: int = 5
) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) error pairs, most frequent first."""
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return [(g, p, n) for (g, p), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))][:top]


def normalise_value(value: object) -> str:
    """Entity values compared without case, spaces or punctuation (SD-100001 == sd100001)."""
    return re.sub(r"[\W_]+", "", str(value)).lower()


def entity_scores(
    gold: Sequence[Iterable[tuple[str, object]]],
    predicted: Sequence[Iterable[tuple[str, object]]],
) -> dict[str, LabelScore]:
    """Per entity type: a prediction is right when one gold entity of the message has the
    same type and the same normalised value (each gold entity matched at most once).

    Values, not character offsets, are compared: the transcript normaliser may rewrite
    the text (``SD 100001`` -> ``SD-100001``) before the extractors see it.
    """
    true_pos: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    pred_count: Counter[str] = Counter()
    for gold_entities, predicted_entities in zip(gold, predicted, strict=True):
        remaining = Counter((kind, normalise_value(v)) for kind, v in gold_entities)
        gold_count.update(kind for kind, _ in remaining.elements())
        for kind, value in predicted_entities:
            pred_count[kind] += 1
            key = (kind, normalise_value(value))
            if remaining[key] > 0:
                remaining[key] -= 1
                true_pos[kind] += 1
    scores = {}
    for kind in sorted(set(gold_count) | set(pred_count)):
        precision = true_pos[kind] / pred_count[kind] if pred_count[kind] else 0.0
        recall = true_pos[kind] / gold_count[kind] if gold_count[kind] else 0.0
        scores[kind] = LabelScore(kind, precision, recall, _f1(precision, recall), gold_count[kind])
    return scores


def falls_back(
    ranking: Sequence[tuple[str, float]], threshold: float, ambiguity_threshold: float
) -> bool:
    """What Rasa's FallbackClassifier decides for an intent ranking (best first)."""
    if not ranking:
        return True
    if ranking[0][1] < threshold:
        return True
    return len(ranking) >= 2 and ranking[0][1] - ranking[1][1] < ambiguity_threshold


@dataclass(frozen=True)
class Scored:
    """One parsed message: its gold intent and the classifier's ranking before fallback."""

    gold: str
    ranking: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class FallbackOutcome:
    """How a threshold treats a set of messages."""

    threshold: float
    handled: float  # share answered correctly: right intent above threshold, or OOS caught
    in_scope_accuracy: float  # in-scope messages with the right intent and no fallback
    in_scope_fallback: float  # in-scope messages that fell back
    oos_caught: float  # out-of-scope messages predicted out_of_scope or falling back
    wrong_answered: float  # messages answered above threshold with a wrong intent


def fallback_outcome(
    items: Sequence[Scored],
    threshold: float,
    ambiguity_threshold: float,
    out_of_scope: str = "out_of_scope",
) -> FallbackOutcome:
    """The end-to-end effect of one fallback threshold on scored messages."""
    in_scope = [m for m in items if m.gold != out_of_scope]
    oos = [m for m in items if m.gold == out_of_scope]
    in_right = in_fall = oos_caught = wrong = 0
    for m in items:
        fell = falls_back(m.ranking, threshold, ambiguity_threshold)
        top = m.ranking[0][0] if m.ranking else None
        if m.gold == out_of_scope:
            if fell or top == out_of_scope:
                oos_caught += 1
            else:
                wrong += 1
        elif fell:
            in_fall += 1
        elif top == m.gold:
            in_right += 1
        else:
            wrong += 1
    n = len(items) or 1
    return FallbackOutcome(
        threshold=threshold,
        handled=(in_right + oos_caught) / n,
        in_scope_accuracy=in_right / (len(in_scope) or 1),
        in_scope_fallback=in_fall / (len(in_scope) or 1),
        oos_caught=oos_caught / (len(oos) or 1),
        wrong_answered=wrong / n,
    )


def expected_cost(outcome: FallbackOutcome, wrong_cost: float) -> float:
    """Mean cost per message: 0 when handled, 1 for an in-scope message that falls back
    (the customer is asked to rephrase), ``wrong_cost`` for a wrong answer."""
    fell = 1 - outcome.handled - outcome.wrong_answered
    return fell + wrong_cost * outcome.wrong_answered


def choose_threshold(
    items: Sequence[Scored],
    candidates: Iterable[float],
    ambiguity_threshold: float,
    out_of_scope: str = "out_of_scope",
    wrong_cost: float = 1.0,
) -> tuple[FallbackOutcome, list[FallbackOutcome]]:
    """The threshold with the lowest expected cost; with ``wrong_cost`` 1 that is the one
    that handles the most messages right. On a tie, the lowest threshold (fewer customers
    sent to the fallback). Returns it and all outcomes."""
    outcomes = [fallback_outcome(items, t, ambiguity_threshold, out_of_scope) for t in candidates]
    if not outcomes:
        raise ValueError("no candidate thresholds")
    best = min(outcomes, key=lambda o: (round(expected_cost(o, wrong_cost), 9), o.threshold))
    return best, outcomes


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
