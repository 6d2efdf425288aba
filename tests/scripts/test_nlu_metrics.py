"""The pure parts of the NLU evaluation: scores, entity matching, fallback, thresholds."""

from __future__ import annotations

import pytest

from scripts.nlu_metrics import (
    Scored,
    choose_threshold,
    classification_report,
    confusion_pairs,
    entity_scores,
    expected_cost,
    fallback_outcome,
    falls_back,
    percentile,
)


class TestClassificationReport:
    def test_scores_a_small_known_example(self) -> None:
        gold = ["a", "a", "a", "b", "b", "c"]
        pred = ["a", "a", "b", "b", "a", "nlu_fallback"]
        report = classification_report(gold, pred)
        scores = {s.label: s for s in report.labels}
        assert report.accuracy == pytest.approx(3 / 6)
        # a: 2 right of 3 predicted, 2 of 3 gold
        assert scores["a"].precision == pytest.approx(2 / 3)
        assert scores["a"].recall == pytest.approx(2 / 3)
        # b: 1 right of 2 predicted, 1 of 2 gold
        assert scores["b"].precision == pytest.approx(1 / 2)
        assert scores["b"].recall == pytest.approx(1 / 2)
        assert scores["c"].support == 1
        assert scores["c"].f1 == 0.0
        # macro over the gold labels only; the spurious nlu_fallback adds no row
        assert set(scores) == {"a", "b", "c"}
        assert report.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)

    def test_refuses_lists_of_different_length(self) -> None:
        with pytest.raises(ValueError):
            classification_report(["a"], ["a", "b"])

    def test_confusions_are_counted_and_ordered(self) -> None:
        gold = ["a", "a", "a", "b", "b"]
        pred = ["b", "b", "a", "c", "b"]
        assert confusion_pairs(gold, pred) == [("a", "b", 2), ("b", "c", 1)]


class TestEntities:
    def test_values_match_without_case_or_punctuation(self) -> None:
        gold = [
            [("ticket_number", "SD-100001")],
            [("email", "a@b.cn"), ("phone_number", "13800138000")],
        ]
        pred = [
            [("ticket_number", "sd100001")],
            [("email", "a@b.cn"), ("phone_number", "13800138001")],
        ]
        scores = entity_scores(gold, pred)
        assert scores["ticket_number"].f1 == 1.0
        assert scores["email"].precision == 1.0
        assert scores["phone_number"].precision == 0.0
        assert scores["phone_number"].recall == 0.0

    def test_a_gold_entity_is_matched_once(self) -> None:
        scores = entity_scores(
            [[("category", "billing")]], [[("category", "billing"), ("category", "billing")]]
        )
        assert scores["category"].precision == pytest.approx(0.5)
        assert scores["category"].recall == 1.0

    def test_predicted_types_absent_from_gold_are_reported(self) -> None:
        scores = entity_scores([[]], [[("email", "x@y.com")]])
        assert scores["email"].precision == 0.0
        assert scores["email"].support == 0


class TestFallback:
    def test_low_confidence_and_ambiguity_fall_back(self) -> None:
        assert falls_back([("a", 0.3), ("b", 0.1)], threshold=0.4, ambiguity_threshold=0.1)
        assert falls_back([("a", 0.5), ("b", 0.45)], threshold=0.4, ambiguity_threshold=0.1)
        assert not falls_back([("a", 0.5), ("b", 0.2)], threshold=0.4, ambiguity_threshold=0.1)
        assert falls_back([], threshold=0.0, ambiguity_threshold=0.0)

    def test_outcome_counts_caught_out_of_scope_as_handled(self) -> None:
        items = [
            Scored("a", (("a", 0.9), ("b", 0.1))),  # right
            Scored("a", (("b", 0.35), ("a", 0.3))),  # wrong, but falls back at 0.4
            Scored("out_of_scope", (("a", 0.3), ("b", 0.2))),  # caught by the fallback at 0.4
            Scored("out_of_scope", (("out_of_scope", 0.9), ("a", 0.1))),  # caught as an intent
        ]
        at_zero = fallback_outcome(items, 0.0, 0.0)
        assert at_zero.handled == pytest.approx(2 / 4)
        assert at_zero.wrong_answered == pytest.approx(2 / 4)
        at_04 = fallback_outcome(items, 0.4, 0.0)
        # the in-scope message that falls back is not answered wrongly, but not handled either
        assert at_04.handled == pytest.approx(3 / 4)
        assert at_04.wrong_answered == 0.0
        assert at_04.in_scope_fallback == pytest.approx(1 / 2)
        assert at_04.oos_caught == 1.0

    def test_choose_threshold_prefers_the_lowest_of_equals(self) -> None:
        items = [
            Scored("a", (("a", 0.9),)),
            Scored("out_of_scope", (("a", 0.3),)),
        ]
        best, outcomes = choose_threshold(items, [0.0, 0.35, 0.5, 0.95], 0.0)
        assert best.threshold == 0.35
        assert [o.threshold for o in outcomes] == [0.0, 0.35, 0.5, 0.95]


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([5], 99) == 5
    assert percentile(list(range(101)), 99) == pytest.approx(99)


def test_a_costly_wrong_answer_raises_the_threshold() -> None:
    items = [
        Scored("a", (("a", 0.9),)),
        Scored("a", (("a", 0.5),)),  # right, but unsure
        Scored("b", (("a", 0.45),)),  # wrong and unsure
        Scored("b", (("a", 0.4),)),  # wrong and unsure
    ]
    # counting a fallback as bad as a wrong answer, the fallback gains nothing here
    assert choose_threshold(items, [0.0, 0.55], 0.0, wrong_cost=1.0)[0].threshold == 0.0
    # when a wrong answer costs twice a fallback, falling back on the unsure three pays
    best, _ = choose_threshold(items, [0.0, 0.55], 0.0, wrong_cost=2.0)
    assert best.threshold == 0.55
    assert expected_cost(best, 2.0) == pytest.approx(3 / 4)
