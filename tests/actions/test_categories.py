"""The ticket category model: its data, loading, confidence threshold and the rules on top."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from actions.categories import (
    CATEGORIES,
    MODEL_PATH_ENV,
    CategoryGuess,
    CategoryModel,
    CategoryModelError,
    category_model,
    complaint_rules,
    decide,
    load_model,
    normalise,
    parse_rules,
    read_descriptions,
    save_model,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


class TestLabelledDescriptions:
    def test_reads_categories_language_and_script(self, tmp_path: Path) -> None:
        found = read_descriptions(
            write(
                tmp_path / "x.yml",
                "language: zh\nscript: traditional\ncategories:\n"
                "  billing: |\n    - 帳單不對\n    - 多扣了錢\n",
            )
        )
        assert [(e.text, e.category, e.language, e.script) for e in found] == [
            ("帳單不對", "billing", "zh", "traditional"),
            ("多扣了錢", "billing", "zh", "traditional"),
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "language: en\ncategories:\n  shipping: |\n    - late\n",
                "unknown category 'shipping'",
            ),
            ("language: fr\ncategories:\n  billing: |\n    - x\n", "must be en or zh"),
            ("language: en\n", "expected a mapping with `categories:`"),
            ("language: en\ncategories:\n  billing: |\n    late fee\n", "expected '- description'"),
        ],
    )
    def test_malformed_files_name_the_problem(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            read_descriptions(write(tmp_path / "bad.yml", text))

    def test_every_training_and_heldout_file_reads_and_covers_every_category(self) -> None:
        root = Path(__file__).resolve().parents[2] / "nlu_data"
        for folder in ("category", "heldout_category"):
            files = sorted((root / folder).glob("*.yml"))
            assert files, folder
            for path in files:
                assert {e.category for e in read_descriptions(path)} == set(CATEGORIES), path


class TestLoading:
    def test_a_missing_model_says_to_train(self, tmp_path: Path) -> None:
        with pytest.raises(CategoryModelError, match="make train"):
            load_model(tmp_path / "nothing.pkl")

    def test_a_damaged_file_says_to_train(self, tmp_path: Path) -> None:
        damaged = tmp_path / "category.pkl"
        damaged.write_bytes(b"\x80\x04not a pickle at all")
        with pytest.raises(CategoryModelError, match="cannot read"):
            load_model(damaged)

    def test_something_else_pickled_is_refused(self, tmp_path: Path) -> None:
        import pickle

        other = tmp_path / "category.pkl"
        other.write_bytes(pickle.dumps({"not": "a model"}))
        with pytest.raises(CategoryModelError, match="not a category model"):
            load_model(other)

    def test_loaded_once_per_process(self, category_model_file: Path) -> None:
        first = category_model()
        assert first is not None and category_model() is first

    def test_without_a_model_tickets_still_route(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "missing.pkl"))
        category_model.cache_clear()
        with caplog.at_level(logging.ERROR, logger="actions.categories"):
            assert category_model() is None
        assert "make train" in caplog.text
        assert decide("my wifi keeps dropping").category == "general"
        assert decide("my wifi keeps dropping", flow_category="billing").category == "billing"
        # The rules need no model.
        assert decide("the courier was rude to me").category == "complaints"

    def test_saved_and_loaded_model_answers_the_same(
        self, category_model_file: Path, tmp_path: Path
    ) -> None:
        model = load_model(category_model_file)
        copy = tmp_path / "copy.pkl"
        save_model(model, copy)
        text = "我的宽带从早上开始一直断线"
        assert load_model(copy).guess(text) == model.guess(text)
        assert not copy.with_suffix(".pkl.partial").exists()


class TestModel:
    @pytest.mark.parametrize(
        ("text", "category"),
        [
            ("my broadband has been down all day", "technical_support"),
            ("我的宽带从早上开始一直断线", "technical_support"),
            ("parcel never arrived and tracking is stuck", "after_sales"),
            ("包裹一直沒有送到", "after_sales"),
            ("you charged my card twice for the same order", "billing"),
            ("someone logged into my account and changed the password", "account_security"),
            ("帳號被盜了", "account_security"),
            ("please delete my personal data", "general"),
        ],
    )
    def test_reads_the_whole_description(
        self, category_model_file: Path, text: str, category: str
    ) -> None:
        assert load_model(category_model_file).guess(text).category == category

    def test_probabilities_rank_every_category(self, category_model_file: Path) -> None:
        guess = load_model(category_model_file).guess("my bill is wrong")
        assert {name for name, _ in guess.ranking} == set(CATEGORIES)
        scores = [p for _, p in guess.ranking]
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 0.01

    def test_contacts_and_long_numbers_are_not_read(self) -> None:
        assert normalise("宽带断了，请打 13912345678 或发邮件到 a.b@example.com") == (
            "宽带断了，请打 或发邮件到"
        )
        assert normalise("order DD2026112001 / 112-4837261-5573920, error 503") == (
            "order / , error 503"
        )

    def test_traditional_and_simplified_read_alike(self) -> None:
        assert normalise("帳號被鎖了，帳單也不對") == normalise("账号被锁了，账单也不对")


class TestThreshold:
    def guess(self, confidence: float, threshold: float) -> CategoryGuess:
        rest = (1 - confidence) / 5
        ranking = (("billing", confidence), *((c, rest) for c in CATEGORIES if c != "billing"))
        return CategoryGuess(ranking=ranking, threshold=threshold)

    def test_confident_at_and_above_the_threshold_only(self) -> None:
        assert self.guess(0.5, 0.5).confident
        assert not self.guess(0.49, 0.5).confident

    def test_below_the_threshold_no_category_and_the_likeliest_choices(
        self, category_model_file: Path
    ) -> None:
        model = load_model(category_model_file)
        unsure = CategoryModel(model.pipeline, threshold=1.01, trained_on=model.trained_on)
        decision = decide("my router is broken and I was charged for it", model=unsure)
        assert decision.category is None and decision.source == "unsure"
        assert len(decision.choices) == 3 and set(decision.choices) <= set(CATEGORIES)
        sure = CategoryModel(model.pipeline, threshold=0.0, trained_on=model.trained_on)
        decision = decide("my router is broken and I was charged for it", model=sure)
        assert decision.category == decision_top(sure) and decision.source == "model"


def decision_top(model: CategoryModel) -> str:
    return model.guess("my router is broken and I was charged for it").category


class TestComplaintRules:
    @pytest.mark.parametrize(
        "text",
        [
            "the courier was really rude and swore at me",
            "the delivery guy threw my parcel over the fence",
            "you promised a callback and nobody ever rang",
            "I was told the replacement would be sent that day, nothing came",
            "I want to make a complaint",
            "快递员态度很差还骂人",
            "說好三天內回電，到現在都沒有人聯絡我",
            "你們的客服講話很沒禮貌",
            "我要投訴",
            "客服答应给我补偿后来不认了",
        ],
    )
    def test_always_complaints(self, text: str, category_model_file: Path) -> None:
        assert complaint_rules().reason(text) is not None
        assert decide(text).category == "complaints"

    @pytest.mark.parametrize(
        "text",
        [
            "my parcel is late",
            "the courier lost my parcel",
            "洗衣机说好今天安装的，到现在还没人预约",
            "nobody promised me anything, I just want to know why my bill is higher",
            "my internet is down",
        ],
    )
    def test_not_complaints_by_rule(self, text: str) -> None:
        assert complaint_rules().reason(text) is None

    def test_a_complaint_flow_stays_a_complaint(self) -> None:
        decision = decide("my parcel never arrived", flow_category="complaints")
        assert (decision.category, decision.source) == ("complaints", "flow")

    def test_malformed_rules_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"complaints\.people"):
            parse_rules(
                {
                    "complaints": {
                        "explicit": ["x"],
                        "treatment": ["y"],
                        "promise": ["z"],
                        "not_a_promise": ["w"],
                    }
                }
            )
        with pytest.raises(ValueError, match=r"complaints\.explicit"):
            parse_rules(
                {
                    "complaints": {
                        "explicit": ["("],
                        "people": ["a"],
                        "treatment": ["b"],
                        "promise": ["c"],
                        "not_a_promise": ["d"],
                    }
                }
            )
