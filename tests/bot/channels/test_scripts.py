"""Replies in the customer's Chinese script, on the channels that answer in text.

The bot's Chinese responses are Simplified; a customer who writes Traditional (Hong Kong,
Taiwan) reads them in their own characters. Driven over the real connectors with the
channel tests' FakeAgent (a real Agent whose answers are scripted).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import UserUttered

from bot.channels.responses import in_script, script_for_turn
from bot.channels.rest import DeskRestInput
from bot.nlu.script import HONG_KONG, SIMPLIFIED, TAIWAN, TRADITIONAL, reply_in_script
from tests.bot.channels.conftest import FakeAgent, run, serve

REPLY = "已为您创建工单 SD-100042，客服会尽快联系您。"
CHOICE = {"title": "查询工单", "payload": "/ticket_status"}


def ticket_reply(message: UserMessage) -> list[dict[str, Any]]:
    return [{"text": REPLY, "buttons": [dict(CHOICE)]}]


def ask_rest(agent: FakeAgent, *texts: str) -> list[list[dict[str, Any]]]:
    async def main() -> list[list[dict[str, Any]]]:
        answers = []
        async with serve(DeskRestInput(), agent) as url, aiohttp.ClientSession() as http:
            for text in texts:
                async with http.post(url, json={"sender": "mei", "message": text}) as reply:
                    answers.append(await reply.json())
        return answers

    return run(main())


class TestConversion:
    @pytest.mark.parametrize("script", [TRADITIONAL, HONG_KONG, TAIWAN])
    def test_text_and_button_titles_change_script_payloads_do_not(self, script: str) -> None:
        converted = in_script({"text": REPLY, "buttons": [dict(CHOICE)]}, script)
        assert converted["text"] == reply_in_script(REPLY, script) != REPLY
        assert "SD-100042" in converted["text"]
        [button] = converted["buttons"]
        assert button["payload"] == "/ticket_status" and button["title"] != "查询工单"

    @pytest.mark.parametrize("script", [None, SIMPLIFIED])
    def test_simplified_or_unknown_leaves_the_reply_alone(self, script: str | None) -> None:
        assert in_script({"text": REPLY}, script) == {"text": REPLY}


class TestTheTurnsScript:
    def test_the_message_tells_without_reading_the_conversation(self) -> None:
        assert run(script_for_turn(None, "x", "我的寬頻連不上了")) == TAIWAN  # 寬頻: Taiwan's word
        assert run(script_for_turn(None, "x", "請問發票怎麼開")) == TRADITIONAL
        assert run(script_for_turn(None, "x", "我部電腦唔開得")) == HONG_KONG

    def test_english_reads_nothing(self) -> None:
        class NoStore:
            @property
            def tracker_store(self) -> Any:
                raise AssertionError("an English message must not cost a tracker read")

        assert run(script_for_turn(NoStore(), "x", "my internet is down")) is None

    @pytest.mark.parametrize(
        "answer", ["13912345678", "DD2026111806", "SD-100042", "meiling.chen@gmail.com"]
    )
    def test_a_number_or_an_address_keeps_the_conversations_script(self, answer: str) -> None:
        agent = FakeAgent()

        async def main() -> str | None:
            tracker = await agent.tracker_store.get_or_create_tracker("mei")
            tracker.update(UserUttered("我的寬頻連不上了", parse_data={"zh_script": TRADITIONAL}))
            await agent.tracker_store.save(tracker)
            return await script_for_turn(agent, "mei", answer)

        assert asyncio.run(main()) == TRADITIONAL


class TestRest:
    def test_a_traditional_customer_reads_traditional(self) -> None:
        [answer] = ask_rest(FakeAgent(ticket_reply), "我的寬頻從昨天開始就連不上了")
        # Taiwan's characters and words (寬頻 tells Taiwan): 建立工單, 聯絡.
        assert (
            answer[0]["text"]
            == reply_in_script(REPLY, TAIWAN)
            == ("已為您建立工單 SD-100042，客服會盡快聯絡您。")
        )
        assert answer[0]["buttons"][0]["payload"] == "/ticket_status"

    def test_a_simplified_or_english_customer_reads_the_reply_as_written(self) -> None:
        simplified, english = ask_rest(
            FakeAgent(ticket_reply), "我的宽带从昨天开始就连不上了", "my internet is down"
        )
        assert simplified[0]["text"] == REPLY and english[0]["text"] == REPLY


class TestWeChat:
    def test_a_hong_kong_follower_reads_hong_kong_characters_and_can_pick_by_title(
        self,
    ) -> None:
        from tests.bot.channels.test_wechat import content_of, post, push_xml, run_channel

        agent = FakeAgent(ticket_reply)

        async def scenario(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
            _, first = await post(http, url, push_xml(Content="我部電腦唔開得，點算好"))
            title = reply_in_script("查询工单", HONG_KONG)
            await post(http, url, push_xml(Content=title))
            return content_of(first), agent.received[-1].text

        shown, picked = run_channel(scenario, agent=agent)
        assert shown.startswith(reply_in_script(REPLY, HONG_KONG))
        assert reply_in_script("查询工单", HONG_KONG) in shown
        assert picked == "/ticket_status"  # the title as the customer saw it picks the choice


class TestWidget:
    def test_a_traditional_customer_reads_traditional_in_the_chat(self) -> None:
        from tests.bot.channels.test_widget import Customer, new_session, widget_server

        agent = FakeAgent(ticket_reply)

        async def main() -> dict[str, Any]:
            async with widget_server(agent) as (url, _):
                customer = Customer()
                session = new_session()
                await customer.connect(url, session)
                await customer.say("請問發票怎麼開", session_id=session)
                reply = await customer.next_message()
                await customer.client.disconnect()
                return reply

        reply = run(main())
        assert reply["text"] == reply_in_script(REPLY, TRADITIONAL)
        assert reply["quick_replies"][0]["payload"] == "/ticket_status"
