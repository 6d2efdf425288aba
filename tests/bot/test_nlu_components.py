"""The desk's own NLU components: embedding features, the intent classifier's C, FAQ topics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.classifier import DeskIntentClassifier
from bot.nlu.embeddings import EmbeddingTable, WordEmbeddingFeaturizer
from bot.nlu.faq_selector import FaqTopicSelector
from tests.support_bot import tokenizer

FAQ = {
    "faq/warranty": [
        "how long is the warranty",
        "is the tv still under warranty",
        "保修多久",
        "质保期多长",
    ],
    "faq/refund_time": [
        "when will i get my refund",
        "how long does a refund take",
        "退款多久到账",
        "钱什么时候退回来",
    ],
    "faq/store_hours": [
        "when does the shop open",
        "store opening hours",
        "门店几点开门",
        "营业时间是几点",
    ],
}
OTHER = {
    "greet": ["hello", "hi there", "你好", "在吗"],
    "thanks": ["thank you", "thanks a lot", "谢谢", "多谢了"],
}


def context(name: str) -> ExecutionContext:
    return ExecutionContext({}, name)


def featurizer() -> WordEmbeddingFeaturizer:
    config = WordEmbeddingFeaturizer.get_default_config()
    return WordEmbeddingFeaturizer.create(config, None, Resource("emb"), context("emb"))  # type: ignore[arg-type]


def message(text: str, intent: str | None = None) -> Message:
    data: dict[str, str] = {TEXT: text}
    if intent:
        data["intent"] = intent.split("/")[0]
        if "/" in intent:
            data["intent_response_key"] = intent
    return Message(data=data)


def char_ngrams(tmp_path: Path) -> CountVectorsFeaturizer:
    config = {
        **CountVectorsFeaturizer.get_default_config(),
        "analyzer": "char_wb",
        "min_ngram": 1,
        "max_ngram": 3,
    }
    return CountVectorsFeaturizer.create(
        config, LocalModelStorage(tmp_path), Resource("cv"), context("cv")
    )


def training_data(tmp_path: Path) -> TrainingData:
    examples = [message(t, k) for k, texts in {**FAQ, **OTHER}.items() for t in texts]
    data = TrainingData(
        training_examples=examples,
        responses={k.replace("faq/", "utter_faq/"): [{"text": f"answer about {k}"}] for k in FAQ},
    )
    tokenizer(tmp_path).process_training_data(data)
    counts = char_ngrams(tmp_path)
    counts.train(data)
    counts.process_training_data(data)
    featurizer().process_training_data(data)
    return data


class TestEmbeddingTable:
    def test_synonyms_are_closer_than_unrelated_words(self) -> None:
        table = EmbeddingTable.named("l2_supercat_256")
        warranty = table.embed_sentence("how long is the warranty")
        guarantee = table.embed_sentence("is my laptop still under guarantee")
        shipping = table.embed_sentence("how much does delivery cost")
        assert float(warranty @ guarantee) > float(warranty @ shipping)

    def test_sentence_vectors_are_unit_length_and_empty_text_is_zero(self) -> None:
        table = EmbeddingTable.named("l2_supercat_256")
        assert np.linalg.norm(table.embed_sentence("where is my parcel")) == pytest.approx(
            1.0, abs=1e-5
        )
        assert not table.embed_sentence("").any()

    def test_unknown_table_is_a_clear_error(self) -> None:
        with pytest.raises(RuntimeError, match="missing"):
            EmbeddingTable.named("no_such_table_64")


class TestWordEmbeddingFeaturizer:
    def test_one_sequence_row_per_token_and_one_sentence_row(self, tmp_path: Path) -> None:
        msg = message("我的order还没到")
        tokenizer(tmp_path).process([msg])
        featurizer().process([msg])
        sequence, sentence = msg.get_dense_features(TEXT)
        assert sequence is not None and sentence is not None
        assert sequence.features.shape == (len(msg.get(TOKENS_NAMES[TEXT])), 256)
        assert sentence.features.shape == (1, 256)


class TestDeskIntentClassifier:
    def test_c_reaches_scikit_learn(self, tmp_path: Path) -> None:
        config = {**DeskIntentClassifier.get_default_config(), "C": 25.0}
        clf = DeskIntentClassifier.create(
            config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
        )
        assert clf.clf.C == 25.0

    def test_non_positive_c_is_rejected(self, tmp_path: Path) -> None:
        config = {**DeskIntentClassifier.get_default_config(), "C": 0}
        with pytest.raises(ValueError, match="C must be positive"):
            DeskIntentClassifier.create(
                config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
            )

    def test_log_l2_weighting_gives_unit_length_sparse_rows_and_keeps_dense(
        self, tmp_path: Path
    ) -> None:
        data = training_data(tmp_path)
        examples = data.intent_examples
        config = {**DeskIntentClassifier.get_default_config(), "sparse_weighting": "log_l2"}
        weighted = DeskIntentClassifier.create(
            config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
        )._create_X(examples)
        raw = DeskIntentClassifier.create(
            DeskIntentClassifier.get_default_config(),
            LocalModelStorage(tmp_path),
            Resource("clf"),
            context("clf"),
        )._create_X(examples)
        assert weighted.shape == raw.shape
        n_sparse = examples[0].get_sparse_features(TEXT)[1].features.shape[1]
        sparse = weighted[:, :n_sparse].toarray()
        assert np.allclose(np.linalg.norm(sparse, axis=1), 1.0)
        # a long message no longer has larger sparse values than a short one
        assert raw[:, :n_sparse].max() > 1 and sparse.max() <= 1
        assert np.allclose(weighted[:, n_sparse:].toarray(), raw[:, n_sparse:].toarray())

    def test_defaults_build_rasas_matrix_and_dense_weight_scales_the_dense_block(
        self, tmp_path: Path
    ) -> None:
        from rasa.nlu.classifiers.logistic_regression_classifier import (
            LogisticRegressionClassifier,
        )

        examples = training_data(tmp_path).intent_examples
        storage = LocalModelStorage(tmp_path)
        rasa = LogisticRegressionClassifier.create(
            LogisticRegressionClassifier.get_default_config(), storage, Resource("r"), context("r")
        )._create_X(examples)
        ours = DeskIntentClassifier.create(
            DeskIntentClassifier.get_default_config(), storage, Resource("o"), context("o")
        )
        assert np.allclose(ours._create_X(examples).toarray(), rasa.toarray())
        halved = DeskIntentClassifier.create(
            {**DeskIntentClassifier.get_default_config(), "dense_weight": 0.5},
            storage,
            Resource("h"),
            context("h"),
        )._create_X(examples)
        n_sparse = examples[0].get_sparse_features(TEXT)[1].features.shape[1]
        assert np.allclose(halved[:, n_sparse:].toarray(), 0.5 * rasa[:, n_sparse:].toarray())
        assert np.allclose(halved[:, :n_sparse].toarray(), rasa[:, :n_sparse].toarray())

    def test_two_views_average_their_probabilities_and_survive_persist_and_load(
        self, tmp_path: Path
    ) -> None:
        data = training_data(tmp_path)
        (tmp_path / "model").mkdir()
        storage = LocalModelStorage(tmp_path / "model")
        views = [
            {"sparse_weighting": "counts", "dense_weight": 1.0, "C": 30.0},
            {"sparse_weighting": "log_l2", "dense_weight": 0.5, "C": 300.0},
        ]
        config = {**DeskIntentClassifier.get_default_config(), "views": views}
        both = DeskIntentClassifier.create(config, storage, Resource("both"), context("both"))
        both.train(data)
        singles = []
        for i, view in enumerate(views):
            single = DeskIntentClassifier.create(
                {**DeskIntentClassifier.get_default_config(), **view},
                storage,
                Resource(f"single{i}"),
                context(f"single{i}"),
            )
            single.train(data)
            singles.append(single)
        examples = data.intent_examples
        expected = np.mean([s.clf.predict_proba(s._create_X(examples)) for s in singles], axis=0)
        assert np.allclose(both._predict_proba(both._create_X(examples)), expected)

        loaded = DeskIntentClassifier.load(config, storage, Resource("both"), context("both"))
        msg = message("is my laptop still under guarantee")
        tokenizer(tmp_path).process([msg])
        counts = char_ngrams(tmp_path)
        counts.train(training_data(tmp_path))
        counts.process([msg])
        featurizer().process([msg])
        loaded.process([msg])
        assert msg.get("intent")["name"] == "faq"
        assert list(loaded.clf.classes_) == list(both.clf.classes_)
        assert np.allclose(
            loaded._predict_proba(loaded._create_X(examples)),
            both._predict_proba(both._create_X(examples)),
        )

    def test_a_message_being_served_gets_the_probabilities_of_the_sparse_matrix(
        self, tmp_path: Path
    ) -> None:
        data = training_data(tmp_path)
        (tmp_path / "model").mkdir()
        views = [
            {"sparse_weighting": "counts", "dense_weight": 1.0, "C": 30.0},
            {"sparse_weighting": "log_l2", "dense_weight": 0.5, "C": 300.0},
        ]
        config = {**DeskIntentClassifier.get_default_config(), "views": views}
        storage = LocalModelStorage(tmp_path / "model")
        classifier = DeskIntentClassifier.create(config, storage, Resource("c"), context("c"))
        classifier.train(data)
        for example in data.intent_examples:
            assert np.allclose(
                classifier._predict_proba_by_block([example]),
                classifier._predict_proba(classifier._create_X([example])),
                rtol=0,
                atol=1e-12,
            )
        # Several at once, and through process() as a parse does
        batch = data.intent_examples[:5]
        assert np.allclose(
            classifier._predict_proba_by_block(batch),
            classifier._predict_proba(classifier._create_X(batch)),
            rtol=0,
            atol=1e-12,
        )
        copies = [Message(data=dict(m.data), features=m.features) for m in batch]
        served = classifier.process(copies)
        expected = classifier._predict_proba(classifier._create_X(batch))
        for message, row in zip(served, expected, strict=True):
            top = list(classifier.clf.classes_)[int(np.argmax(row))]
            assert message.get("intent")["name"] == top
            assert message.get("intent")["confidence"] == pytest.approx(float(row.max()), abs=1e-12)

    def test_two_intents_get_the_probabilities_of_the_sparse_matrix(self, tmp_path: Path) -> None:
        """A fit of two classes has one row of weights (one-vs-rest in scikit-learn)."""
        data = training_data(tmp_path)
        two = sorted({e.get("intent") for e in data.intent_examples})[:2]
        kept = [e for e in data.intent_examples if e.get("intent") in two]
        (tmp_path / "model").mkdir()
        storage = LocalModelStorage(tmp_path / "model")
        classifier = DeskIntentClassifier.create(
            DeskIntentClassifier.get_default_config(), storage, Resource("b"), context("b")
        )
        classifier.train(TrainingData(kept))
        assert classifier.clf.coef_.shape[0] == 1
        assert np.allclose(
            classifier._predict_proba_by_block(kept),
            classifier._predict_proba(classifier._create_X(kept)),
            rtol=0,
            atol=1e-12,
        )

    def test_a_model_with_another_number_of_views_loads_untrained(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        (tmp_path / "model").mkdir()
        storage = LocalModelStorage(tmp_path / "model")
        one = DeskIntentClassifier.create(
            DeskIntentClassifier.get_default_config(), storage, Resource("m"), context("m")
        )
        one.train(training_data(tmp_path))
        two_views = {
            **DeskIntentClassifier.get_default_config(),
            "views": [{"sparse_weighting": "counts"}, {"sparse_weighting": "log_l2"}],
        }
        with caplog.at_level("WARNING", logger="bot.nlu.classifier"):
            loaded = DeskIntentClassifier.load(two_views, storage, Resource("m"), context("m"))
        assert "retrain" in caplog.text
        msg = message("hello")
        assert loaded.process([msg]) == [msg] and msg.get("intent") is None

    @pytest.mark.parametrize(
        "views, match",
        [
            ([{"C": 0}], "C must be positive"),
            ([{"dense_weight": -1}], "dense_weight"),
            ([{"sparse_weighting": "tfidf"}], "sparse_weighting"),
            ([{"max_iter": 5}], "unknown view option"),
            ({"C": 1}, "list of mappings"),
        ],
    )
    def test_bad_views_are_rejected(self, tmp_path: Path, views: object, match: str) -> None:
        config = {**DeskIntentClassifier.get_default_config(), "views": views}
        with pytest.raises(ValueError, match=match):
            DeskIntentClassifier.create(
                config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
            )

    def test_unknown_weighting_is_rejected(self, tmp_path: Path) -> None:
        config = {**DeskIntentClassifier.get_default_config(), "sparse_weighting": "tfidf"}
        with pytest.raises(ValueError, match="sparse_weighting"):
            DeskIntentClassifier.create(
                config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
            )


class TestFaqTopicSelector:
    def train(self, tmp_path: Path) -> tuple[FaqTopicSelector, LocalModelStorage, Resource]:
        (tmp_path / "model").mkdir()
        storage = LocalModelStorage(tmp_path / "model")
        resource = Resource("faq")
        config = {**FaqTopicSelector.get_default_config(), "C": 10.0, "ranking_length": 2}
        selector = FaqTopicSelector.create(config, storage, resource, context("faq"))
        selector.train(training_data(tmp_path))
        return selector, storage, resource

    def parse(self, selector: FaqTopicSelector, tmp_path: Path, text: str) -> dict:
        msg = message(text)
        tokenizer(tmp_path).process([msg])
        data = training_data(tmp_path)  # refit featurizers identically: same vocabulary
        counts = char_ngrams(tmp_path)
        counts.train(data)
        counts.process([msg])
        featurizer().process([msg])
        selector.process([msg])
        return msg.get("response_selector")

    def test_fills_the_response_selector_property_like_rasa(self, tmp_path: Path) -> None:
        selector, _, _ = self.train(tmp_path)
        result = self.parse(selector, tmp_path, "保修期是多久")
        assert result["all_retrieval_intents"] == ["faq"]
        response = result["faq"]["response"]
        assert response["intent_response_key"] == "faq/warranty"
        assert response["utter_action"] == "utter_faq/warranty"
        assert response["responses"] == [{"text": "answer about faq/warranty"}]
        ranking = result["faq"]["ranking"]
        assert len(ranking) == 2 and ranking[0]["confidence"] >= ranking[1]["confidence"]

    def test_survives_persist_and_load(self, tmp_path: Path) -> None:
        _, storage, resource = self.train(tmp_path)
        loaded = FaqTopicSelector.load(
            {**FaqTopicSelector.get_default_config(), "C": 10.0}, storage, resource, context("faq")
        )
        result = self.parse(loaded, tmp_path, "when will my refund arrive")
        assert result["faq"]["response"]["intent_response_key"] == "faq/refund_time"

    def test_needs_two_topics(self, tmp_path: Path) -> None:
        storage = LocalModelStorage(tmp_path)
        selector = FaqTopicSelector.create(
            FaqTopicSelector.get_default_config(), storage, Resource("faq"), context("faq")
        )
        data = TrainingData(training_examples=[message("how long is the warranty", "faq/warranty")])
        with pytest.raises(ValueError, match="at least two topics"):
            selector.train(data)


class TestWordBoundaries:
    @pytest.mark.parametrize(
        ("text", "word", "glued"),
        [
            ("i changed the delivery address", "dress", True),
            ("shipping to the border town", "order", True),
            ("my account is unlocked now", "locked", True),
            ("i need a new dress", "dress", False),
            ("two orders never came", "order", False),
            ("i ordered a kettle", "order", False),
            ("我的order还没到", "order", False),
            ("the wifi keeps dropping", "wifi", False),
        ],
    )
    def test_latin_matches_inside_other_words_are_dropped(
        self, text: str, word: str, glued: bool
    ) -> None:
        from bot.nlu.entities import glued_to_a_word

        start = text.index(word)
        assert glued_to_a_word(text, start, start + len(word)) is glued

    def test_chinese_and_number_matches_are_kept(self) -> None:
        from bot.nlu.entities import glued_to_a_word

        text = "订单DD2026112201退款"
        assert not glued_to_a_word(text, text.index("退款"), len(text))
        assert not glued_to_a_word("callSD123456", 4, 12)


class TestEmbeddingLanguages:
    def test_messages_in_other_languages_get_zero_vectors_of_the_same_shape(
        self, tmp_path: Path
    ) -> None:
        config = {**WordEmbeddingFeaturizer.get_default_config(), "languages": ["en"]}
        only_english = WordEmbeddingFeaturizer.create(config, None, Resource("emb"), context("emb"))  # type: ignore[arg-type]
        english, chinese = message("where is my parcel"), message("我的包裹在哪里")
        tokenizer(tmp_path).process([english, chinese])
        only_english.process([english, chinese])
        _, en_sentence = english.get_dense_features(TEXT)
        _, zh_sentence = chinese.get_dense_features(TEXT)
        assert en_sentence is not None and zh_sentence is not None
        assert en_sentence.features.any() and not zh_sentence.features.any()
        assert zh_sentence.features.shape == en_sentence.features.shape


class TestIterationCap:
    def test_stopping_at_max_iter_is_logged_not_warned(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        import warnings

        config = {**DeskIntentClassifier.get_default_config(), "C": 1000.0, "max_iter": 1}
        clf = DeskIntentClassifier.create(
            config, LocalModelStorage(tmp_path), Resource("clf"), context("clf")
        )
        data = training_data(tmp_path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any warning escaping train() fails the test
            with caplog.at_level("INFO", logger="bot.nlu.classifier"):
                clf.train(data)
        assert "stopped at max_iter=1" in caplog.text


class TestSentenceFeatureMemo:
    """The intent classifier and the FAQ selector combine a message's features once."""

    def test_the_second_reader_reuses_the_first_ones_features(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from bot.nlu import classifier as module

        example = training_data(tmp_path).intent_examples[0]
        message = Message(data={TEXT: example.get(TEXT)}, features=list(example.features))
        calls: list[str] = []
        original = Message.get_sparse_features

        def counting(self: Message, *args: object, **kwargs: object) -> object:
            calls.append("sparse")
            return original(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Message, "get_sparse_features", counting)
        first = module._sentence_features(message)
        second = module._sentence_features(message)
        assert len(calls) == 1
        assert first[0] is second[0] and first[1] is second[1]
        # A feature added afterwards makes the remembered one stale
        message.add_features(example.features[0])
        module._sentence_features(message)
        assert len(calls) == 2
        # Another message with the same text is combined anew
        twin = Message(data={TEXT: example.get(TEXT)}, features=list(example.features))
        module._sentence_features(twin)
        assert len(calls) == 3
