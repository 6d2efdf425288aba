"""The simulated customers: their data, and how the runner reads the bot's questions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.simulate_customers import (
    FLOW_ORDER,
    SETS,
    Outcome,
    fact_given,
    language_of,
    load_scenarios,
    load_sets,
    question_kind,
    report,
    spoken_number,
    summarise,
)

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain"


def _texts(response: str) -> list[str]:
    for path in DOMAIN.glob("*.yml"):
        responses = (yaml.safe_load(path.read_text("utf-8")) or {}).get("responses") or {}
        if response in responses:
            return [variation["text"] for variation in responses[response]]
    raise AssertionError(f"{response} is not in the domain")


@pytest.mark.parametrize("name", sorted(SETS))
class TestScenarios:
    def test_every_scenario_has_a_known_flow_and_a_goal(self, name: str) -> None:
        scenarios = load_sets([name])
        assert len(scenarios) >= {"first": 50, "second": 40}[name]
        for scenario in scenarios:
            assert scenario.flow in FLOW_ORDER, scenario.id
            assert scenario.says and scenario.expect, scenario.id
            assert scenario.set == name

    def test_every_flow_is_tried_in_both_languages(self, name: str) -> None:
        seen = {(s.flow, s.persona.language) for s in load_sets([name])}
        for flow in FLOW_ORDER:
            assert {(flow, "zh"), (flow, "en")} <= seen, flow

    def test_traditional_script_and_voice_style_are_among_them(self, name: str) -> None:
        personas = [s.persona for s in load_sets([name])]
        assert {p.script for p in personas} >= {"simplified", "traditional", "latin"}
        assert {p.style for p in personas} >= {"web", "wechat", "voice"}

    def test_ticket_flows_have_answers_for_the_form(self, name: str) -> None:
        for scenario in load_sets([name]):
            if scenario.expect.get("ticket"):
                assert scenario.answer("contact", 0), scenario.id
                assert scenario.answer("problem", 0), scenario.id


class TestSets:
    def test_ids_are_unique_across_the_sets(self) -> None:
        scenarios = load_sets()
        assert len({s.id for s in scenarios}) == len(scenarios)
        assert {s.set for s in scenarios} == set(SETS)

    def test_the_nth_answer_repeats_the_last(self) -> None:
        liu = next(s for s in load_scenarios() if s.persona.id == "liu_fang")
        assert liu.answer("order_number", 0) == "DD20261120015"
        assert liu.answer("order_number", 5) == liu.answer("order_number", 1)


class TestReadingTheBot:
    @pytest.mark.parametrize(
        ("response", "kind"),
        [
            ("utter_ask_contact", "contact"),
            ("utter_invalid_contact", "contact"),
            ("utter_ask_order_number", "order_number"),
            ("utter_invalid_order_number", "order_number"),
            ("utter_ask_ticket_number", "ticket_number"),
            ("utter_invalid_ticket_number", "ticket_number"),
            ("utter_ask_problem_description", "problem"),
            ("utter_ask_ticket_info", "ticket_info"),
            ("utter_confirm_cancel", "confirm_cancel"),
            ("utter_offer_human", "offer_human"),
            ("utter_how_can_i_help", "open"),
        ],
    )
    def test_the_form_questions_in_both_languages(self, response: str, kind: str) -> None:
        for text in _texts(response):
            assert question_kind(text) == kind, text

    def test_a_statement_asks_nothing(self) -> None:
        for text in _texts("utter_ticket_status_new"):
            assert question_kind(text) is None

    def test_language(self) -> None:
        assert language_of("我的order还没到") == "zh"
        assert language_of("my order") == "en"
        assert language_of("13800138000") is None

    def test_facts_given_in_spoken_or_spaced_digits(self) -> None:
        assert fact_given("phone", "13800138866", "我的手机号是 幺三八 零零幺三 八八六六")
        assert fact_given(
            "phone", "13677778888", "one three six seven seven seven seven eight eight eight eight"
        )
        assert fact_given("order_number", "112-4837261-5573920", "it's 112 4837261 5573920")
        assert not fact_given("phone", "13800138866", "13800138000")
        assert spoken_number("SD-100042", "en").startswith("one zero zero")


class TestSummary:
    def test_a_loop_and_a_wrong_queue_are_counted(self) -> None:
        looped = Outcome("a", "report", "zh/simplified", "web", asked={"order_number": 3})
        right = Outcome(
            "b", "report", "en/latin", "web", success=True, turns_to_ticket=2, queue="billing"
        )
        wrong = Outcome(
            "c", "report", "en/latin", "web", turns_to_ticket=4, queue="general", wrong_queue=True
        )
        row = summarise([looped, right, wrong])[0]
        assert row == ["report", "1/3", "0/1", "1/2", "3.0", 1, 0, "1/2"]

    def test_each_set_gets_its_own_table_before_both_together(self) -> None:
        first = Outcome("a", "report", "zh/simplified", "web", success=True)
        second = Outcome("b", "report", "en/latin", "web", set="second")
        text = report([first, second])
        assert text.index("Set `first`") < text.index("Set `second`") < text.index("Both sets")
        assert text.count("| report") == 3
        assert "Set `" not in report([first])

    def test_the_same_reply_three_times_is_a_loop(self) -> None:
        faq_loop = Outcome("d", "faq_or_problem", "zh/simplified", "web", same_reply=3)
        twice = Outcome("e", "faq_or_problem", "en/latin", "web", same_reply=2, success=True)
        assert faq_loop.repeated and not twice.repeated
        assert summarise([faq_loop, twice])[0][5] == 1


class TestLanguageOfAReply:
    def test_the_customers_own_words_quoted_back_are_not_a_language_switch(self) -> None:
        from scripts.simulate_customers import Conversation

        scenario = next(s for s in load_scenarios() if s.id == "switch-zh-to-en")
        talk = Conversation(None, scenario, "t")  # type: ignore[arg-type]
        talk.said = "你好，我的蓝牙耳机左边没声音了"
        quoted = "What I've noted on it:\nProduct: 蓝牙耳机"
        assert language_of(talk._own_words_removed(quoted)) == "en"
        assert language_of(talk._own_words_removed("已为您创建工单 SD-100001")) == "zh"


class TestJudging:
    def _talk(self, scenario_id: str):  # type: ignore[no-untyped-def]
        from scripts.simulate_customers import Conversation

        scenario = next(s for s in load_sets() if s.id == scenario_id)
        return Conversation(None, scenario, "t")  # type: ignore[arg-type]

    def test_an_order_number_withheld_for_a_person_is_not_owed(self) -> None:
        talk = self._talk("human-zh-mid-form")
        talk.detoured.add("order_number")
        assert talk.left_for_a_person("order_number")
        # Answered once after all: then it must reach the ticket.
        talk.answered["order_number"] += 1
        assert not talk.left_for_a_person("order_number")

    def test_an_faq_detour_still_owes_the_order_number(self) -> None:
        talk = self._talk("faq-detour-en-order")
        talk.detoured.add("order_number")
        assert not talk.left_for_a_person("order_number")
