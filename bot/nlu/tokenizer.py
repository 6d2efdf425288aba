"""Jieba tokenizer for a bilingual pipeline.

Rasa's ``JiebaTokenizer`` declares only Chinese and keeps the spaces between English
words as tokens. Customers here mix both languages in one message ("我的order还没到"),
so this tokenizer accepts any pipeline language and drops whitespace tokens; it keeps
the user dictionary of domain terms that ``JiebaTokenizer`` loads.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True
)
class BilingualJiebaTokenizer(JiebaTokenizer):
    """Jieba segmentation for Chinese, English and mixed messages."""

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Chinese, English and anything mixed."""
        return None

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Segment with jieba and drop whitespace tokens."""
        return [token for token in super().tokenize(message, attribute) if token.text.strip()]
