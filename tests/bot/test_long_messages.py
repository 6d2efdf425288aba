"""Story-first copies of training examples: ``bot/nlu/long_messages.py``."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.language import detect_language
from bot.nlu.long_messages import LongMessageAugmenter, load_context, story_for, with_story


def example(text: str, intent: str, **data: object) -> Message:
    return Message(data={TEXT: text, INTENT: intent, **data})


def augmenter(**config: object) -> LongMessageAugmenter:
    return LongMessageAugmenter({**LongMessageAugmenter.get_default_config(), **config})


class TestContextFile:
    def test_both_languages_have_stories_in_their_language(self) -> None:
        context = load_context()
        assert set(context) == {"en", "zh"}
        for language, parts in context.items():
            assert len(parts["sentences"]) >= 20
            assert all(detect_language(s) == language for s in parts["sentences"])

    def test_a_language_without_sentences_is_a_clear_error(self, tmp_path: Path) -> None:
        bad = tmp_path / "context.yml"
        bad.write_text("en:\n  openers: [Hi,]\n", encoding="utf-8")
        with pytest.raises(ValueError, match="needs a list of sentences"):
            load_context(bad)


class TestAugmentation:
    def test_copies_keep_the_label_and_end_with_the_request(self) -> None:
        examples = [
            example(f"how do I return item {i}", "faq", intent_response_key="faq/returns")
            for i in range(40)
        ]
        result = augmenter(fraction=0.5).process_training_data(TrainingData(examples))
        copies = result.training_examples[40:]
        assert 5 < len(copies) < 35
        for copy_ in copies:
            assert copy_.get(INTENT) == "faq"
            assert copy_.get("intent_response_key") == "faq/returns"
            assert copy_.get(TEXT).endswith(tuple(e.get(TEXT) for e in examples))
            assert len(copy_.get(TEXT)) > len("how do I return item 10") + 10
        assert len(result.intent_examples) == len(result.training_examples)

    def test_short_replies_are_never_copied_and_fraction_zero_copies_nothing(self) -> None:
        examples = [example(f"yes please {i}", "affirm") for i in range(10)] + [
            example(f"谢谢{i}", "thanks") for i in range(10)
        ]

        def count(fraction: float, messages: list[Message]) -> int:
            augmented = augmenter(fraction=fraction).process_training_data(TrainingData(messages))
            return len(augmented.training_examples)

        assert count(1.0, examples) == 20
        faults = [example(f"my parcel {i} never came", "report_problem") for i in range(10)]
        assert count(0.0, faults) == 10
        assert count(1.0, faults) == 20

    def test_entities_move_with_the_story(self) -> None:
        original = example(
            "any news on SD-100042",
            "ticket_status",
            entities=[{"start": 12, "end": 21, "value": "SD-100042", "entity": "ticket_number"}],
        )
        copy_ = with_story(original, "Hello, I wrote last week. ")
        entity = copy_.get(ENTITIES)[0]
        assert copy_.get(TEXT)[entity["start"] : entity["end"]] == "SD-100042"
        assert original.get(ENTITIES)[0]["start"] == 12  # the original is untouched

    def test_chinese_stories_join_without_spaces(self) -> None:
        story = story_for("zh", load_context(), random.Random(3))
        assert " " not in story and story.endswith(("。", "，"))

    def test_run_time_messages_pass_unchanged(self) -> None:
        message = Message(data={TEXT: "my parcel never came"})
        augmenter().process([message])
        assert message.get(TEXT) == "my parcel never came"

    def test_fraction_outside_zero_to_one_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="fraction"):
            augmenter(fraction=1.5)
