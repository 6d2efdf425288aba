"""The multilingual sentence featurizer (``bot/nlu/multilingual.py``) with the bundled USE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT

from bot.nlu.multilingual import MultilingualSentenceFeaturizer, load_encoder
from tests.support_bot import tokenized


def create(**config: object) -> MultilingualSentenceFeaturizer:
    merged = {**MultilingualSentenceFeaturizer.get_default_config(), **config}
    return MultilingualSentenceFeaturizer.create(
        merged,
        None,
        Resource("m"),
        ExecutionContext({}, "m"),  # type: ignore[arg-type]
    )


def sentence(message: object) -> np.ndarray:
    _, features = message.get_dense_features(TEXT)  # type: ignore[attr-defined]
    assert features is not None
    return features.features[0]


def test_an_unknown_encoder_is_rejected() -> None:
    with pytest.raises(ValueError, match="encoder"):
        MultilingualSentenceFeaturizer.validate_config(
            {**MultilingualSentenceFeaturizer.get_default_config(), "encoder": "bert"}
        )


def test_chinese_paraphrases_land_closer_than_other_requests() -> None:
    encoder = load_encoder("use")
    late, late_again, invoice, human = encoder.encode(
        ["我的订单一直没发货", "订单怎么还没发出来", "发票怎么开", "转人工"]
    )
    assert encoder.dim == 512
    assert np.linalg.norm(late) == pytest.approx(1.0, abs=1e-4)
    assert late @ late_again > 0.6
    assert late @ late_again > late @ invoice + 0.2
    assert late @ late_again > late @ human + 0.2


def test_chinese_only_vectors_scaled_and_zeros_for_english(tmp_path: Path) -> None:
    chinese, english, mixed = tokenized(
        tmp_path, "包裹一直没到", "my parcel never came", "我的order还没到"
    )
    create(languages=["zh"], scale=2.0).process([chinese, english, mixed])
    assert np.linalg.norm(sentence(chinese)) == pytest.approx(2.0, abs=1e-3)
    assert np.linalg.norm(sentence(mixed)) == pytest.approx(2.0, abs=1e-3)
    assert not sentence(english).any()
    sequence, _ = chinese.get_dense_features(TEXT)
    assert sequence is not None
    assert sequence.features.shape == (len(chinese.get("text_tokens")), 512)


def test_a_batch_gives_the_same_vectors_as_one_message_at_a_time(tmp_path: Path) -> None:
    texts = ["发票怎么开", "退款多久到账", "转人工"] * 30  # more than one batch
    batch = tokenized(tmp_path, *texts)
    create(languages=["zh"]).process(batch)
    alone = tokenized(tmp_path, texts[1])
    create(languages=["zh"]).process(alone)
    np.testing.assert_allclose(sentence(batch[-2]), sentence(alone[0]), atol=1e-5)
