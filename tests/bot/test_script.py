"""Traditional Chinese and HK/TW/Cantonese wording in (to mainland Simplified) and out
(replies in the customer's script): ``bot/nlu/script.py`` and its place in the normaliser."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.script import (
    HONG_KONG,
    SIMPLIFIED,
    TAIWAN,
    TRADITIONAL,
    conversation_script,
    detect_script,
    reply_in_script,
    to_mainland,
)
from bot.nlu.transcript import ORIGINAL_TEXT, SCRIPT, TranscriptNormaliser, normalise


class TestToMainland:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # Characters alone (OpenCC)
            ("我的訂單還沒到", "我的订单还没到"),
            ("發票怎麼開", "发票怎么开"),
            # Taiwan phrases: OpenCC's table and the desk's own
            ("軟體更新後網路連不上", "软件更新后网络连不上"),
            ("手機保固多久", "手机保修多久"),
            ("統一編號填錯了", "税号填错了"),
            ("購物積點怎麼用", "购物积分怎么用"),
            # Cantonese function words
            ("點樣退貨", "怎么退货"),
            ("部洗衣機壞咗", "部洗衣机坏了"),
            ("我冇收到", "我没有收到"),
            ("唔該晒", "谢谢"),
            ("你哋收唔收信用卡", "你们收不收信用卡"),
            ("你係咪機械人", "你是不是机器人"),
            ("我電話係13912345678", "我电话是13912345678"),
            # Cantonese written in Simplified characters
            ("你系咪机械人", "你是不是机器人"),
            ("点样改地址", "怎么改地址"),
            ("地址點改", "地址怎么改"),
            # Cantonese V唔到 is "cannot V"; after verbs of getting, 不到 as in Mandarin
            ("登入唔到", "登录不了"),
            ("寬頻上唔到網", "宽带上不了网"),
            ("收唔到貨", "收不到货"),
            ("搵唔到訂單", "找不到订单"),
            # Hong Kong money and cards, Taiwan terms
            ("係咪要俾按金㗎", "是不是要给押金的"),
            ("禮品咭點用", "礼品卡怎么用"),
            ("我要客訴", "我要投诉"),
            # Words with several readings, by rule: 點 before a verb, 咩/乜, 邊, 返, 傾,
            # 緊, 同 before a person, a question's last 未
            ("點申請發票", "怎么申请发票"),
            ("有咩優惠", "有什么优惠"),
            ("係咩", "是吗"),
            ("乜都冇收到", "什么都没有收到"),
            ("啲貨去到邊呀", "些货去到哪呀"),
            ("退返個差價俾我", "退回个差价给我"),
            ("我想同真人傾下", "我想跟真人聊下"),
            ("個訂單處理緊未", "个订单处理没有"),
            ("寄咗未呀", "寄了没有呀"),
            # The third round's wording: repairs, shops, money, Taiwan shopping terms
            ("洗衣機整唔好", "洗衣机修不好"),
            ("你哋間舖今日幾點閂門", "你们家店今天几点关门"),
            ("碌卡可唔可以分期", "刷卡可不可以分期"),
            ("使唔使俾運費", "需不需要给运费"),
            ("零利率分期", "免息分期"),
            ("品質有問題", "质量有问题"),
            ("開唔著", "打不开"),
        ],
    )
    def test_rewrites_to_mainland_simplified(self, text: str, expected: str) -> None:
        assert to_mainland(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "我的订单怎么还没到",
            "系统一直登录不了",  # 系 is "system", not Cantonese "is"
            "什么时候发货",
            "你们的客服一点用都没有",  # 一点: "a bit", not Cantonese "how"
            "快点退款",
            "周末客服热线上班吗",
            "哈啰单车的押金怎么退",  # a brand, not a greeting
            "唔，我想问一下",  # 唔 before a pause: a filler, left for the normaliser
            # Mandarin words that hold the rules' characters
            "店铺今天几点关门",
            "去整理一下",
            "返回上一页",
            "我们的重点是什么",
            "几点开门",
            "订单尚未发货",
            "消费满多少免运费",
            "相同的型号",
            "my parcel never arrived",
            "SD-100234",
            "",
        ],
    )
    def test_simplified_and_latin_text_is_left_alone(self, text: str) -> None:
        assert to_mainland(text) == text

    def test_relationship_is_not_read_as_is(self) -> None:
        assert to_mainland("我們的關係") == "我们的关系"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("請點選下方連結", "请点击下方链接"),  # Taiwan taps with 點
            ("旁邊那間店", "旁边那家店"),  # 邊 in "side"
            ("幾點開門", "几点开门"),  # 點 tells the time
            ("趕緊處理", "赶紧处理"),  # 緊 in a Mandarin compound
        ],
    )
    def test_taiwan_mandarin_keeps_its_readings(self, text: str, expected: str) -> None:
        assert to_mainland(text) == expected


class TestDetectScript:
    @pytest.mark.parametrize(
        ("text", "script"),
        [
            ("我的订单怎么还没到", SIMPLIFIED),
            ("我的訂單還沒到", TRADITIONAL),
            ("點樣查訂單物流", HONG_KONG),
            ("部洗衣機壞咗", HONG_KONG),
            ("唔該晒", HONG_KONG),  # 晒 is written so in Hong Kong too
            ("軟體更新後網路連不上", TAIWAN),
            ("手機保固多久", TAIWAN),
            ("你好", None),  # the same in both scripts
            ("好的", None),
            ("13800138000", None),
            ("hello", None),
        ],
    )
    def test_script_of_a_message(self, text: str, script: str | None) -> None:
        assert detect_script(text) == script


class TestReplyInScript:
    REPLY = "已为您创建工单 SD-100005，客服会在 19:05 前联系您，请留意软件消息。"

    def test_simplified_and_unknown_leave_the_reply_alone(self) -> None:
        assert reply_in_script(self.REPLY, SIMPLIFIED) == self.REPLY
        assert reply_in_script(self.REPLY, None) == self.REPLY
        assert reply_in_script(self.REPLY, "klingon") == self.REPLY

    def test_taiwan_gets_taiwan_characters_and_words(self) -> None:
        reply = reply_in_script(self.REPLY, TAIWAN)
        assert "工單 SD-100005" in reply and "19:05" in reply
        assert "軟體" in reply  # 软件 -> 軟體 (Taiwan's word)

    def test_hong_kong_and_plain_traditional(self) -> None:
        assert "工單 SD-100005" in reply_in_script(self.REPLY, HONG_KONG)
        assert "客服會在" in reply_in_script(self.REPLY, TRADITIONAL)
        assert "软" not in reply_in_script(self.REPLY, TRADITIONAL)


class TestConversationScript:
    def test_the_latest_message_that_tells_wins_and_silence_keeps_it(self) -> None:
        events = [
            UserUttered("點樣退貨", parse_data={"zh_script": HONG_KONG}),
            BotUttered("退货：…"),
            UserUttered("好的", parse_data={}),
            UserUttered("13800138000", parse_data={"zh_script": None}),
        ]
        assert conversation_script(events) == HONG_KONG
        events.append(UserUttered("我的订单", parse_data={"zh_script": SIMPLIFIED}))
        assert conversation_script(events) == SIMPLIFIED

    def test_tracker_json_and_no_chinese_at_all(self) -> None:
        taiwan = [{"event": "user", "parse_data": {"zh_script": TAIWAN}}]
        assert conversation_script(taiwan) == TAIWAN
        assert conversation_script([{"event": "user", "parse_data": {"zh_script": "x"}}]) is None
        assert conversation_script([UserUttered("hi", parse_data={})]) is None


class TestInTheNormaliser:
    def test_normalise_converts_before_the_other_rules(self) -> None:
        # 那個 as a hesitation is only recognised once it is 那个.
        assert normalise("那個我想問下點樣開發票") == "我想问下怎么开发票"

    def test_component_keeps_the_customers_words_and_reports_the_script(self) -> None:
        message = Message(data={TEXT: "我張訂單一個星期都未出貨"})
        TranscriptNormaliser.create({}, None, None, None).process([message])  # type: ignore[arg-type]
        assert message.get(TEXT) == "我张订单一个星期都未发货"
        assert message.get(ORIGINAL_TEXT) == "我張訂單一個星期都未出貨"
        assert message.get(SCRIPT) == TRADITIONAL
        assert SCRIPT in message.as_dict(only_output_properties=True)

    def test_no_script_for_a_message_that_does_not_tell(self) -> None:
        message = Message(data={TEXT: "好的"})
        TranscriptNormaliser.create({}, None, None, None).process([message])  # type: ignore[arg-type]
        assert message.get(SCRIPT) is None

    def test_training_examples_are_converted_too(self) -> None:
        example = Message(data={TEXT: "點樣退貨", "intent": "faq"})
        TranscriptNormaliser.create({}, None, None, None).process_training_data(  # type: ignore[arg-type]
            TrainingData([example])
        )
        assert example.get(TEXT) == "怎么退货"
