"""Choosing the category model's confidence threshold (scripts/train_category.py)."""

from __future__ import annotations

from actions.categories import LabelledDescription
from scripts.train_category import WRONG_COST, choose_threshold


def example(category: str) -> LabelledDescription:
    return LabelledDescription("x", category, "en", "latin")


class TestChooseThreshold:
    def test_asking_beats_two_wrong_queues(self) -> None:
        # Two wrong guesses at 0.3 and 0.35, right ones from 0.6 up: asking below 0.4
        # costs 2 questions, routing them costs 2 x WRONG_COST.
        examples = [example("billing")] * 4
        predictions = [("general", 0.3), ("general", 0.35), ("billing", 0.6), ("billing", 0.9)]
        threshold, rows = choose_threshold(examples, predictions)
        assert 0.35 < threshold <= 0.6
        chosen = next(row for row in rows if row[0] == threshold)
        assert chosen[1:4] == [2, 0, 2]  # asked, wrong, right
        assert WRONG_COST > 1

    def test_nothing_asked_when_every_guess_is_right(self) -> None:
        examples = [example("billing")] * 3
        predictions = [("billing", 0.3), ("billing", 0.5), ("billing", 0.9)]
        threshold, rows = choose_threshold(examples, predictions)
        assert threshold == min(row[0] for row in rows)
