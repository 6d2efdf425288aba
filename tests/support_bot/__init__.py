"""Test support for the bot's NLU components: the desk's tokenizer on plain messages."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.tokenizer import BilingualJiebaTokenizer

DICTIONARY = str(Path(__file__).resolve().parents[2] / "bot" / "nlu" / "jieba_dict")


def tokenizer(tmp_path: Path) -> BilingualJiebaTokenizer:
    """The pipeline's tokenizer with the desk's user dictionary."""
    config = {**BilingualJiebaTokenizer.get_default_config(), "dictionary_path": DICTIONARY}
    return BilingualJiebaTokenizer.create(
        config, LocalModelStorage(tmp_path), Resource("tok"), ExecutionContext({}, "tok")
    )


def tokenized(tmp_path: Path, *texts: str) -> list[Message]:
    """Messages with their text tokenized, as the featurizers receive them."""
    messages = [Message(data={TEXT: t}) for t in texts]
    tokenizer(tmp_path).process(messages)
    return messages
