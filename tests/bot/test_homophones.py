"""Homophones of the desk's words in voice transcripts: ``bot/nlu/homophones.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.homophones import DomainVocabulary, HomophoneNormaliser, english_key
from bot.nlu.transcript import ORIGINAL_TEXT

DICTIONARY = str(Path(__file__).resolve().parents[2] / "bot" / "nlu" / "jieba_dict")

# Typed training examples, each domain word at least three times.
TRAINING = [
    "我要一张发票",
    "发票怎么开",
    "没收到发票",
    "我的工单怎么样了",
    "工单进度查一下",
    "帮我撤销工单",
    "找客服",
    "转客服",
    "客服在吗",
    "我要退款",
    "退款多久到",
    "申请退款",
    "我想报修",
    "报修电话多少",
    "怎么报修",
    "保修多久",
    "还在保修期吗",
    "保修包括什么",
    "I need an invoice",
    "where is my invoice",
    "invoice for my order please",
    "cancel my order",
    "how do I cancel",
    "can I cancel it",
    "how do I log in",
    "I can't log in",
    "log in fails",
    "login page is blank",
    "my password is wrong",
    "reset my password",
    "forgot password",
    "my internet is not working",
    "the app is not working",
    "wifi not working",
    "the network is down",
    "network problems again",
    "no network at all",
]


@pytest.fixture(scope="module")
def vocabulary() -> DomainVocabulary:
    return DomainVocabulary.learn(TRAINING, min_count=3, dictionary_path=DICTIONARY)


class TestChinese:
    @pytest.mark.parametrize(
        ("heard", "meant"),
        [
            ("我想开一张发飘", "我想开一张发票"),
            ("那个公单什么时候处理", "那个工单什么时候处理"),
            ("我要找刻服", "我要找客服"),
            ("我要推款", "我要退款"),
            ("我要退宽", "我要退款"),  # kuan/kuan: same sound, another character
        ],
    )
    def test_homophones_of_training_words_are_put_back(
        self, vocabulary: DomainVocabulary, heard: str, meant: str
    ) -> None:
        assert vocabulary.restore(heard) == meant

    @pytest.mark.parametrize(
        "text",
        [
            "我想报修",  # 报修 and 保修 sound alike; both are training words
            "以后再说",  # an everyday word is never a mishearing
            "这是件好事",
            "耳机不响了",
            "下单时忘了选发票",
        ],
    )
    def test_words_the_training_data_or_everyday_chinese_uses_stay(
        self, vocabulary: DomainVocabulary, text: str
    ) -> None:
        assert vocabulary.restore(text) == text

    def test_everyday_words_are_not_learned_as_domain_words(self) -> None:
        vocabulary = DomainVocabulary.learn(["时间到了"] * 5, 3, DICTIONARY)
        assert "时间" not in vocabulary.chinese.values()
        assert vocabulary.restore("这是件好事") == "这是件好事"


class TestEnglish:
    def test_the_consonant_key_hears_cancel_in_can_sell(self) -> None:
        assert english_key("cancel") == english_key("cansell") == "knsl"
        assert english_key("invoice") == english_key("in" + "voice")

    @pytest.mark.parametrize(
        ("heard", "meant"),
        [
            ("I need an in voice for my order", "I need an invoice for my order"),
            ("I want to can sell my order", "I want to cancel my order"),
            ("my pass word does not work", "my password does not work"),
        ],
    )
    def test_two_words_heard_for_one_are_joined(
        self, vocabulary: DomainVocabulary, heard: str, meant: str
    ) -> None:
        assert vocabulary.restore(heard) == meant

    @pytest.mark.parametrize(
        "text",
        [
            "how do I log in",  # the training data says "log in" itself
            "it does not work",  # "not working" in training: "not work" is a phrase
            "is it done with it",  # two function words are grammar
        ],
    )
    def test_pairs_the_training_data_says_stay(
        self, vocabulary: DomainVocabulary, text: str
    ) -> None:
        assert vocabulary.restore(text) == text


def transcript(text: str) -> Message:
    return Message(data={TEXT: text, METADATA: {"transcript": True}})


class TestComponent:
    def component(self, tmp_path: Path, **config: object) -> HomophoneNormaliser:
        settings = {
            **HomophoneNormaliser.get_default_config(),
            "dictionary_path": DICTIONARY,
            **config,
        }
        return HomophoneNormaliser.create(
            settings,
            LocalModelStorage(tmp_path),
            Resource("homophones"),
            ExecutionContext({}, "homophones"),
        )

    def test_trained_component_survives_persist_and_load_and_rewrites_transcripts_only(
        self, tmp_path: Path
    ) -> None:
        component = self.component(tmp_path)
        resource = component.train(TrainingData([Message(data={TEXT: t}) for t in TRAINING]))
        loaded = HomophoneNormaliser.load(
            {**HomophoneNormaliser.get_default_config(), "dictionary_path": DICTIONARY},
            LocalModelStorage(tmp_path),
            resource,
            ExecutionContext({}, "homophones"),
        )
        spoken, typed = transcript("我想开一张发飘"), Message(data={TEXT: "我想开一张发飘"})
        loaded.process([spoken, typed])
        assert spoken.get(TEXT) == "我想开一张发票"
        assert spoken.get(ORIGINAL_TEXT) == "我想开一张发飘"
        assert typed.get(TEXT) == "我想开一张发飘"
        assert typed.get(ORIGINAL_TEXT) is None

    def test_force_transcript_rewrites_typed_messages_too(self, tmp_path: Path) -> None:
        component = self.component(tmp_path, force_transcript=True)
        component.train(TrainingData([Message(data={TEXT: t}) for t in TRAINING]))
        typed = Message(data={TEXT: "I want to can sell my order"})
        component.process([typed])
        assert typed.get(TEXT) == "I want to cancel my order"

    def test_an_untrained_component_changes_nothing(self, tmp_path: Path) -> None:
        loaded = HomophoneNormaliser.load(
            HomophoneNormaliser.get_default_config(),
            LocalModelStorage(tmp_path),
            Resource("missing"),
            ExecutionContext({}, "homophones"),
        )
        message = transcript("我想开一张发飘")
        loaded.process([message])
        assert message.get(TEXT) == "我想开一张发飘"

    def test_min_count_below_one_is_rejected(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="min_count"):
            self.component(tmp_path, min_count=0)
