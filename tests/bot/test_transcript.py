"""Transcript normalisation: fillers, stutters, punctuation and spoken numbers in zh and en."""

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.transcript import ORIGINAL_TEXT, TranscriptNormaliser, is_transcript, normalise


class TestTypedTextThatMustNotChange:
    @pytest.mark.parametrize(
        "text",
        [
            "I want to return 2 items",
            "我的订单号是12345678",
            "¥299 还是 299元",
            "the price is $1,299.00",
            "2026-11-20 下午3点",
            "deliver on 20/11/2026 please",
            "我想问一下",
            "一直连不上",
            "第一次用你们的app",
            "统一开发票",
            "三四个工作日",
            "我要这个，那个不要",
            "我要这个，我不要那个",
            "那个订单还没到",
            "嗯",
            "嗯，好的",
            "um",
            "谢谢",
            "看看",
            "哈哈",
            "I had had enough",
            "I know that that is wrong",
            "I'd like to cancel",
            "like I said, it broke",
            "I like it",
            "do you know my order number",
            "我的order还没到",
            "十分感谢",
            "千万别取消",
            "万一不行怎么办",
            "一模一样的",
            "SD-100001 现在什么进度",
            "email me at um.x@example.com",
            "my e-mail is li.wei@example.com",
            "https://shop.example.com/orders/123",
            "13800138000",
            "uh-huh",
            "one of them is broken",
            "I want one",
            "余额不足",
            "我要退两件",
        ],
    )
    def test_typed_text_is_left_as_it_is(self, text: str) -> None:
        assert normalise(text) == text

    @pytest.mark.parametrize("text", ["", "   "])
    def test_empty_text_is_returned_unchanged(self, text: str) -> None:
        assert normalise(text) == text
        assert normalise(text, transcript=True) == text


class TestTypedTextThatIsTidied:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("两百", "200"),
            ("我要退两百块", "我要退200块"),
            ("二零二六年", "2026年"),
            ("一千块", "1000块"),
            ("十一月二十号", "11月20号"),
            ("双十一买的", "双11买的"),
            ("百分之五十的折扣", "50%的折扣"),
            ("九十九点九元", "99.9元"),
            ("幺三八零零一三八零零零", "13800138000"),
            ("我的电话 138 0013 8000", "我的电话 13800138000"),
            ("call 138-0013-8000", "call 13800138000"),
            ("１３８００１３８０００", "13800138000"),
            ("SD 100001", "SD-100001"),
            ("sd-100001 status", "SD-100001 status"),
            ("SD 一零零零零一", "SD-100001"),
            ("dd 2611240001", "DD2611240001"),
            ("DD-2611240001 到哪了", "DD2611240001 到哪了"),
            ("one two three four", "1234"),
            ("um I need help", "I need help"),
            ("uh, my router is broken", "my router is broken"),
            ("呃，我的订单呢", "我的订单呢"),
            ("我我我的宽带坏了", "我的宽带坏了"),
            ("你你好", "你好"),
            ("谢谢谢谢谢", "谢谢"),
            ("my my my internet", "my internet"),
            ("那个，我想问一下", "我想问一下"),
            ("那个那个我的订单", "我的订单"),
            ("我想问一下那个我的订单", "我想问一下我的订单"),
            ("请问那个我的退款到了吗", "请问我的退款到了吗"),
            ("那个呃我的订单", "我的订单"),
        ],
    )
    def test_safe_rewrites(self, text: str, expected: str) -> None:
        assert normalise(text) == expected


class TestTranscripts:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # fillers, stutters and pauses
            ("嗯 那个 我我我的宽带 从昨天开始 就连不上了", "我的宽带，从昨天开始，就连不上了。"),
            ("呃 我想问一下 明天下午三点能送到吗", "我想问一下，明天下午3点能送到吗？"),
            ("嗯嗯好的", "好的"),
            ("啊 我的快递还没到", "我的快递还没到。"),
            ("额 余额不足", "余额不足"),
            ("这个这个订单还没到", "这个订单还没到。"),
            ("宽带宽带又断了", "宽带又断了"),
            ("um my my internet is uh down", "my internet is down."),
            ("you know my router keeps dropping", "my router keeps dropping."),
            ("my router you know keeps dropping", "my router keeps dropping."),
            ("do you know my order number", "do you know my order number?"),
            ("i want i want to return it", "I want to return it."),
            ("i'm calling about my bill", "I'm calling about my bill."),
            ("er I need er a refund", "I need a refund."),
            ("it was like like broken", "it was like broken."),
            # numbers read digit by digit
            ("幺三八零零一三八零零零", "13800138000"),
            ("我的手机号是 幺三八 零零一三 八零零零", "我的手机号是 13800138000。"),
            ("SD 一零零零零一 现在什么进度", "SD-100001 现在什么进度？"),
            ("s d one zero zero zero zero one", "SD-100001"),
            ("ticket s d one oh oh oh oh one please", "ticket SD-100001 please"),
            ("d d two six one one two four zero zero zero one", "DD2611240001"),
            (
                "my number is one three eight double oh one three eight triple oh",
                "my number is 13800138000",
            ),
            (
                "call me on one three eight, double oh one three, eight double oh oh",
                "call me on 13800138000",
            ),
            ("double five", "55"),
            ("the code is seven seven nine", "the code is 779"),
            # numbers as words
            ("it was a hundred and twenty dollars", "it was 120 dollars"),
            ("I want to return twelve items", "I want to return 12 items."),
            ("two hundred and fifty three yuan", "253 yuan"),
            ("二零二六年十一月二十号", "2026年11月20号"),
            ("两千零二十六年", "2026年"),
            ("三点十分", "3点10分"),
            ("下午一点", "下午1点"),
            ("三月五号下午两点半", "3月5号下午2点半。"),
            # spoken e-mail
            ("sam at example dot com", "sam@example.com"),
            ("it's li dot wei at mail dot example dot cn", "it's li dot wei@mail.example.cn."),
        ],
    )
    def test_transcript_rewrites(self, text: str, expected: str) -> None:
        assert normalise(text, transcript=True) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "嗯",
            "um",
            "uh-huh",
            "有一点慢",
            "十分感谢",
            "买了两件",
            "oh no",
            "I want one",
            "no one knows",
        ],
    )
    def test_transcript_keeps_words_that_only_look_like_fillers_or_numbers(self, text: str) -> None:
        assert normalise(text, transcript=True) == text

    def test_oh_alone_is_not_a_zero(self) -> None:
        assert normalise("oh one more thing", transcript=True) == "oh one more thing."

    def test_short_replies_get_no_final_punctuation(self) -> None:
        assert normalise("好的", transcript=True) == "好的"
        assert normalise("yes please", transcript=True) == "yes please"


class TestIsTranscript:
    @pytest.mark.parametrize(
        ("metadata", "expected"),
        [
            ({"transcript": True}, True),
            ({"transcript": "true"}, True),
            ({"transcript": 1}, True),
            ({"transcript": False}, False),
            ({"transcript": "no"}, False),
            ({}, False),
            (None, False),
            ("transcript", False),
        ],
    )
    def test_reads_the_channel_flag(self, metadata: object, expected: bool) -> None:
        assert is_transcript(Message(data={"text": "x", "metadata": metadata})) is expected


class TestTranscriptNormaliserComponent:
    def test_rewrites_transcripts_and_keeps_the_original(self) -> None:
        message = Message(
            data={
                "text": "嗯 我的手机号是 幺三八零零一三八零零零",
                "metadata": {"transcript": True},
            }
        )
        TranscriptNormaliser({}).process([message])
        assert message.get("text") == "我的手机号是 13800138000。"
        assert message.get(ORIGINAL_TEXT) == "嗯 我的手机号是 幺三八零零一三八零零零"
        assert ORIGINAL_TEXT in message.as_dict(only_output_properties=True)

    def test_typed_message_gets_only_safe_rewrites(self) -> None:
        typed = Message(data={"text": "嗯 我的手机号是 幺三八零零一三八零零零"})
        TranscriptNormaliser({}).process([typed])
        assert typed.get("text") == "嗯 我的手机号是 13800138000"

    def test_unchanged_message_has_no_original_text(self) -> None:
        message = Message(data={"text": "I want to return 2 items"})
        TranscriptNormaliser({}).process([message])
        assert message.get("text") == "I want to return 2 items"
        assert message.get(ORIGINAL_TEXT) is None

    def test_force_transcript_treats_typed_messages_as_speech(self) -> None:
        message = Message(data={"text": "um my number is one three eight double oh"})
        TranscriptNormaliser({"force_transcript": True}).process([message])
        assert message.get("text") == "my number is 13800"

    def test_message_without_text_is_skipped(self) -> None:
        message = Message(data={"intent": "greet"})
        TranscriptNormaliser({}).process([message])
        assert message.get("text") is None

    def test_training_examples_are_normalised_unless_annotated(self) -> None:
        plain = Message(data={"text": "我要退两百块", "intent": "refund"})
        annotated = Message(
            data={
                "text": "我要退两百块",
                "intent": "refund",
                "entities": [{"entity": "amount", "start": 3, "end": 5, "value": "两百"}],
            }
        )
        TranscriptNormaliser({}).process_training_data(TrainingData([plain, annotated]))
        assert plain.get("text") == "我要退200块"
        assert annotated.get("text") == "我要退两百块"
