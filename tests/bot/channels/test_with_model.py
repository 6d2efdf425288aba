"""The channels in front of the real trained model (skipped when there is none).

Looks for ``$DESK_MODEL`` or ``models/desk.tar.gz`` (what ``make train`` writes). Loading
the model takes most of the time, so one agent serves the module.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import defusedxml.ElementTree as SafeXml
import pytest
from rasa.core.agent import Agent

from bot.channels.store import MemoryStore
from bot.channels.voice import VoiceInput, VoiceSettings, sign
from bot.channels.wechat import WeChatInput, WeChatSettings, signature_of
from tests.bot.channels.conftest import ROOT, run, serve

MODEL = Path(os.environ.get("DESK_MODEL") or ROOT / "models" / "desk.tar.gz")
CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason=f"no trained model at {MODEL}")


@pytest.fixture(scope="module")
def agent() -> Agent:
    """The trained desk assistant; no action server (greetings need none)."""
    loaded = Agent.load(str(MODEL))
    run(loaded.parse_message("你好"))  # warm the graph up outside the reply budget
    return loaded


def test_a_chinese_wechat_push_gets_a_chinese_passive_reply(agent: Agent) -> None:
    token, openid = "model-test-token", f"oModel{uuid.uuid4().hex[:10]}"

    async def main() -> tuple[int, str]:
        channel = WeChatInput(WeChatSettings(token=token, reply_budget=4.8), store=MemoryStore())
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
        query = {
            "signature": signature_of(token, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        body = (
            "<xml><ToUserName><![CDATA[gh_desk]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[你好]]></Content><MsgId>20261124001</MsgId></xml>"
        ).encode()
        async with (
            serve(channel, agent) as url,
            aiohttp.ClientSession() as http,
            http.post(url, params=query, data=body) as reply,
        ):
            return reply.status, await reply.text()

    status, body = run(main())
    assert status == 200, body
    content = SafeXml.fromstring(body).findtext("Content") or ""
    assert CJK.search(content), content
    # The connector names the follower's conversation wechat:<openid>.
    tracker = run(agent.tracker_store.retrieve(f"wechat:{openid}"))
    assert tracker.get_latest_input_channel() == "wechat"
    assert tracker.get_slot("language") == "zh"


def test_a_caller_confirms_an_unsure_transcript_with_a_spoken_yes(agent: Agent) -> None:
    if "utter_confirm_transcript" not in agent.domain.responses:
        pytest.skip("the model predates the voice responses: run `make train`")
    secret, call_id = "model-test-secret", f"call-{uuid.uuid4().hex[:10]}"

    async def main() -> list[dict[str, Any]]:
        channel = VoiceInput(VoiceSettings(secret=secret), store=MemoryStore())
        answers = []
        async with serve(channel, agent) as url, aiohttp.ClientSession() as http:
            for number, (said, confidence) in enumerate([("你好", 0.3), ("对的", 0.9)], 1):
                body = json.dumps(
                    {
                        "call_id": call_id,
                        "turn": number,
                        "caller_number": "+8613912345678",
                        "transcript": said,
                        "confidence": confidence,
                    },
                    ensure_ascii=False,
                ).encode()
                timestamp = str(int(time.time()))
                headers = {
                    "X-Desk-Timestamp": timestamp,
                    "X-Desk-Signature": sign(secret, timestamp, body),
                }
                async with http.post(url, data=body, headers=headers) as reply:
                    assert reply.status == 200, await reply.text()
                    answers.append(await reply.json())
        return answers

    heard, after_yes = run(main())
    assert heard["replies"] == ["我听到的是：你好。对吗？"]
    assert after_yes["replies"] and all(CJK.search(r) for r in after_yes["replies"])
    tracker = run(agent.tracker_store.retrieve(f"voice:{call_id}"))
    user_texts = [e.text for e in tracker.events if e.type_name == "user"]
    assert user_texts == ["你好"]  # the read-back and the yes stay out of the conversation
