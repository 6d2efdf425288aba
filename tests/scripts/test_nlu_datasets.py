"""Benchmark conversion to Rasa YAML, the overlap checker, the split, report sections."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from scripts.nlu_datasets import (
    clean_text,
    find_overlaps,
    read_banking77,
    read_clinc150,
    stratified_split,
    to_rasa_yaml,
)
from scripts.nlu_report import replace_section, table


class TestConversion:
    def test_banking77_csv_with_quoted_newlines(self, tmp_path: Path) -> None:
        path = tmp_path / "train.csv"
        path.write_text('text,category\r\n"  where is my card?\n",card_arrival\r\nhi,greet\r\n')
        assert read_banking77(path) == [("where is my card?", "card_arrival"), ("hi", "greet")]

    def test_clinc150_splits(self, tmp_path: Path) -> None:
        path = tmp_path / "data_full.json"
        path.write_text(
            json.dumps({"train": [["what time is it", "time"]], "oos_train": [["x", "oos"]]})
        )
        assert read_clinc150(path) == {
            "train": [("what time is it", "time")],
            "oos_train": [("x", "oos")],
        }

    def test_yaml_is_read_back_by_a_yaml_parser_with_the_same_texts(self) -> None:
        rows = [
            ("hello there", "greet"),
            ("hi", "greet"),
            ("refund [pending](now)", "refund"),
            ("hi", "greet"),
        ]
        text = to_rasa_yaml(rows, "converted")
        data = yaml.safe_load(text)
        assert data["version"] == "3.1"
        blocks = {b["intent"]: b["examples"] for b in data["nlu"]}
        assert blocks["greet"] == "- hello there\n- hi\n"  # the duplicate "hi" is written once
        # an accidental entity annotation is broken up, the words are kept
        assert blocks["refund"] == "- refund [pending] (now)\n"

    def test_clean_text_flattens_whitespace(self) -> None:
        assert clean_text("  two\nlines\t here ") == "two lines here"


class TestOverlaps:
    def test_exact_after_normalisation_and_near_duplicates(self) -> None:
        train = ["Where is my order?", "我的订单到哪了", "cancel my subscription today please"]
        held = [
            "where is my ORDER",
            "我的订单到哪了？",
            "cancel my subscription today",
            "tell me a joke",
        ]
        found = {o.heldout: o for o in find_overlaps(held, train, near=0.8)}
        assert found["where is my ORDER"].exact
        assert found["我的订单到哪了？"].exact
        assert not found["cancel my subscription today"].exact
        assert found["cancel my subscription today"].similarity >= 0.8
        assert "tell me a joke" not in found

    def test_different_texts_are_not_flagged(self) -> None:
        assert find_overlaps(["how long is the warranty"], ["what time do you close"]) == []


def test_stratified_split_keeps_every_label_and_is_reproducible() -> None:
    rows = [(f"a{i}", "a") for i in range(10)] + [(f"b{i}", "b") for i in range(3)]
    rest, held = stratified_split(rows, 0.2, seed=1)
    assert sorted(rest + held) == sorted(rows)
    assert sum(1 for _, label in held if label == "a") == 2
    assert sum(1 for _, label in held if label == "b") == 1
    assert stratified_split(rows, 0.2, seed=1) == (rest, held)


class TestReportSections:
    def test_a_marked_section_is_replaced_and_the_rest_kept(self) -> None:
        doc = "# B\n\nintro\n<!-- x:start -->\nold\n<!-- x:end -->\n\nafter\n"
        assert (
            replace_section(doc, "x", "new")
            == "# B\n\nintro\n<!-- x:start -->\nnew\n<!-- x:end -->\n\nafter\n"
        )

    def test_a_missing_section_is_appended(self) -> None:
        assert (
            replace_section("# B\n", "y", "body")
            == "# B\n\n<!-- y:start -->\nbody\n<!-- y:end -->\n"
        )

    def test_table(self) -> None:
        assert table(["a", "b"], [[1, 2]]) == "| a | b |\n| --- | ---: |\n| 1 | 2 |"
