"""The bilingual tokenizer segments Chinese with jieba and keeps English words whole."""

from pathlib import Path

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.tokenizer import BilingualJiebaTokenizer

DICTIONARY = str(Path(__file__).resolve().parents[2] / "bot" / "nlu" / "jieba_dict")


def make_tokenizer(tmp_path: Path) -> BilingualJiebaTokenizer:
    config = {**BilingualJiebaTokenizer.get_default_config(), "dictionary_path": DICTIONARY}
    return BilingualJiebaTokenizer.create(
        config, LocalModelStorage(tmp_path), Resource("tokenizer"), ExecutionContext({}, "test")
    )


def token_texts(tokenizer: BilingualJiebaTokenizer, text: str) -> list[str]:
    return [t.text for t in tokenizer.tokenize(Message(data={"text": text}), "text")]


class TestBilingualJiebaTokenizer:
    def test_english_has_no_whitespace_tokens(self, tmp_path: Path) -> None:
        tokens = token_texts(make_tokenizer(tmp_path), "my internet is down")
        assert tokens == ["my", "internet", "is", "down"]

    def test_user_dictionary_keeps_domain_terms_whole(self, tmp_path: Path) -> None:
        tokens = token_texts(make_tokenizer(tmp_path), "我的光猫一直断网")
        assert "光猫" in tokens and "断网" in tokens

    def test_mixed_message_keeps_the_english_word(self, tmp_path: Path) -> None:
        tokens = token_texts(make_tokenizer(tmp_path), "我的order还没到")
        assert "order" in tokens

    def test_supports_any_pipeline_language(self) -> None:
        assert BilingualJiebaTokenizer.supported_languages() is None
