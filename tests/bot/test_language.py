"""Language detection: zh, en, mixed, and messages without a language signal."""

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.language import LanguageDetector, detect_language


class TestDetectLanguage:
    @pytest.mark.parametrize(
        "text",
        [
            "我的宽带从昨天开始就连不上了",
            "SD-100001 现在什么进度",
            "我的order还没到",
            "wifi连不上",
            "ok 好的",
        ],
    )
    def test_chinese_and_chinese_led_mixed_messages_are_zh(self, text: str) -> None:
        assert detect_language(text) == "zh"

    @pytest.mark.parametrize(
        "text",
        [
            "my internet has been down since yesterday",
            "what's the status of SD-100001",
            "I bought it in the 北京 store",
            "hi",
        ],
    )
    def test_english_messages_are_en(self, text: str) -> None:
        assert detect_language(text) == "en"

    @pytest.mark.parametrize(
        "text", ["13800138000", "SD-100001", "li.wei@example.com", "👍", "", "   ", "A12345B"]
    )
    def test_messages_without_language_signal_give_none(self, text: str) -> None:
        assert detect_language(text) is None


class TestLanguageDetectorComponent:
    def test_adds_language_entity_and_keeps_other_entities(self) -> None:
        message = Message(
            data={"text": "我的宽带坏了", "entities": [{"entity": "category", "value": "x"}]}
        )
        LanguageDetector().process([message])
        entities = message.get("entities")
        assert {"entity": "category", "value": "x"} in entities
        language = [e for e in entities if e["entity"] == "language"]
        assert len(language) == 1 and language[0]["value"] == "zh"

    def test_adds_nothing_without_language_signal(self) -> None:
        message = Message(data={"text": "13800138000"})
        LanguageDetector().process([message])
        assert not [e for e in message.get("entities", []) if e["entity"] == "language"]
