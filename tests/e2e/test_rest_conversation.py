"""End to end: `scripts/desk.py run` starts API, action server and Rasa on the trained
model; customers talk through Rasa's REST channel; tickets land in the database.

Runs on PostgreSQL (a throw-away schema) when DATABASE_URL points at one, otherwise on
a SQLite file; Rasa keeps conversations in Redis when REDIS_URL is set.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from tests.support_desk import Desk, DeskDidNotStart, running_desk

TICKET = re.compile(r"SD-\d{6,}")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    running: Desk | None = None
    try:
        with running_desk(tmp_path_factory.mktemp("desk")) as running:
            yield running
    except DeskDidNotStart as problem:
        pytest.fail(str(problem))
    assert running is not None
    tail = "\n".join(running.output[-40:])
    assert running.exit_code == 0, "Ctrl-C did not stop the desk cleanly:\n" + tail
    assert running.output[-1] == "[desk] stopped", tail


def open_ticket(
    desk: Desk, sender: str, problem: str, contact: str
) -> tuple[str, list[str], list[str]]:
    asked = desk.say(sender, problem)
    answered = desk.say(sender, contact)
    numbers = TICKET.findall(" ".join(answered))
    assert numbers, f"no ticket number in {answered!r} (after {asked!r})"
    return numbers[0], asked, answered


def _yesterday() -> str:
    """Yesterday where the desk is (the action server's DESK_TIMEZONE default)."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date().isoformat()


def _yesterdays(before: str) -> set[str]:
    """The day "yesterday" meant while the bot spoke: from before the conversation to now
    (two days when it ran across midnight in Shanghai)."""
    return {before, _yesterday()}


class TestRestConversation:
    def test_services_are_healthy(self, desk: Desk) -> None:
        health = httpx.get(f"{desk.api_url}/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["database"] == "ok"

    def test_english_customer_opens_a_ticket_and_asks_its_status(self, desk: Desk) -> None:
        sender = f"en-{uuid.uuid4().hex[:8]}"
        problem = "my internet has been down since yesterday"
        before = _yesterday()
        number, asked, _answered = open_ticket(desk, sender, problem, "13800138000")

        assert any("phone" in text or "e-mail" in text for text in asked), asked
        row = desk.ticket_row(number)
        assert row is not None, f"{number} is not in the database"
        # The customer's words, then the day they named as an ISO date.
        assert row.description in {f"{problem}\n\nDate: {day}" for day in _yesterdays(before)}
        # No English-speaking technical-support agent is online in the demo: it waits.
        assert (row.channel, row.language, row.status) == ("rest", "en", "new")
        assert row.queue == "technical_support"

        status = " ".join(desk.say(sender, f"what's the status of {number}"))
        assert number in status and "waiting for an agent" in status

    def test_chinese_customer_opens_a_ticket_and_asks_its_status(self, desk: Desk) -> None:
        sender = f"zh-{uuid.uuid4().hex[:8]}"
        problem = "我的宽带从昨天开始就连不上了"
        before = _yesterday()
        number, asked, answered = open_ticket(desk, sender, problem, "我的手机是13912345678")

        assert any("手机号" in text for text in asked), asked
        assert "工单" in " ".join(answered)
        row = desk.ticket_row(number)
        assert row is not None
        assert row.description in {f"{problem}\n\n发生日期: {day}" for day in _yesterdays(before)}
        # 王芳 works technical support in Chinese and is online: it is assigned at once.
        assert (row.channel, row.language, row.status) == ("rest", "zh", "open")

        status = " ".join(desk.say(sender, f"{number} 现在什么进度"))
        assert number in status and "客服已经接手" in status

    def test_a_customer_lists_then_cancels_their_ticket(self, desk: Desk) -> None:
        sender = f"zh-{uuid.uuid4().hex[:8]}"
        number, _asked, _answered = open_ticket(
            desk, sender, "路由器一直闪红灯，上不了网", "13912345670"
        )

        listed = " ".join(desk.say(sender, "我的工单"))
        assert number in listed, listed

        asked = " ".join(desk.say(sender, f"帮我取消工单{number}，已经好了"))
        assert number in asked and "确认" in asked, asked
        assert desk.ticket_row(number).status != "closed"  # not before the yes
        done = " ".join(desk.say(sender, "确认"))
        assert number in done and "已取消" in done, done
        assert desk.ticket_row(number).status == "closed"

        again = " ".join(desk.say(sender, f"取消{number}"))
        assert number in again and "不能再取消" in again, again

    def test_seeded_ticket_status_comes_from_the_database(self, desk: Desk) -> None:
        row = desk.ticket_row("SD-100001")
        assert row is not None
        # The seeded customer 李雷 talks on the REST channel as "demo-li".
        reply = " ".join(desk.say("demo-li", "SD-100001 现在什么进度"))
        assert "SD-100001" in reply
        expected = {"new": "等待客服接手", "open": "正在处理中", "pending": "等待您的回复"}
        assert expected.get(row.status, row.status) in reply

    def test_someone_elses_ticket_is_not_found(self, desk: Desk) -> None:
        # The bot acts only for the customer of the conversation: another customer's
        # ticket number gets the same answer as a number that does not exist.
        reply = " ".join(desk.say(f"zh-{uuid.uuid4().hex[:8]}", "SD-100001 现在什么进度"))
        assert "没有找到工单 SD-100001" in reply

    def test_unknown_ticket_gets_no_such_ticket_in_the_customers_language(self, desk: Desk) -> None:
        zh = " ".join(desk.say(f"zh-{uuid.uuid4().hex[:8]}", "SD-999999 现在什么进度"))
        en = " ".join(desk.say(f"en-{uuid.uuid4().hex[:8]}", "what's the status of SD-999999"))
        assert "没有找到工单 SD-999999" in zh
        assert "couldn't find a ticket SD-999999" in en


class TestHumanHandover:
    def test_asking_for_a_human_escalates_with_the_conversation(self, desk: Desk) -> None:
        sender = f"zh-{uuid.uuid4().hex[:8]}"
        desk.say(sender, "我的宽带从昨天开始就连不上了")
        reply = " ".join(desk.say(sender, "我要找人工客服"))
        numbers = TICKET.findall(reply)
        assert numbers and "人工客服" in reply, reply
        row = desk.ticket_row(numbers[0])
        assert row is not None and row.status in ("escalated", "open")
        with desk.engine.connect() as connection:
            level, transcript_lines = connection.execute(
                sa.text(
                    "SELECT t.escalation_level, (SELECT count(*) FROM ticket_messages m"
                    " WHERE m.ticket_id = t.id AND m.public = false)"
                    " FROM tickets t WHERE t.number = :n"
                ),
                {"n": numbers[0]},
            ).one()
        assert level == 1 and transcript_lines >= 2


class TestWeChatChannel:
    """Last in the module, so Rasa has warmed up (the passive reply has 4.5 s)."""

    def test_a_signed_push_gets_a_chinese_passive_reply(self, desk: Desk) -> None:
        import hashlib
        import xml.etree.ElementTree as ElementTree

        secrets_file = (desk.run_dir / "desk.env").read_text()
        token = next(
            line.split("=", 1)[1]
            for line in secrets_file.splitlines()
            if line.startswith("WECHAT_TOKEN=")
        )
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
        signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
        openid = f"oE2e{uuid.uuid4().hex[:12]}"
        body = (
            "<xml><ToUserName><![CDATA[gh_desk]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[我的宽带从昨天开始就连不上了]]></Content>"
            f"<MsgId>{uuid.uuid4().int % 10**15}</MsgId></xml>"
        )
        url = f"{desk.rasa_url}/webhooks/wechat/webhook"
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
        reply = httpx.post(url, params=params, content=body.encode(), timeout=10)
        assert reply.status_code == 200
        content = ElementTree.fromstring(reply.text).findtext("Content") or ""
        assert "手机号" in content, content  # the ticket form asks how to reach them
        forged = httpx.post(url, params={**params, "signature": "0" * 40}, content=body.encode())
        assert forged.status_code == 403


class TestVoiceChannel:
    """After the WeChat test, so Rasa has warmed up."""

    def test_a_caller_opens_a_ticket_without_being_asked_for_a_number(self, desk: Desk) -> None:
        import hashlib
        import hmac
        import json

        secrets_file = (desk.run_dir / "desk.env").read_text()
        secret = next(
            line.split("=", 1)[1]
            for line in secrets_file.splitlines()
            if line.startswith("VOICE_GATEWAY_SECRET=")
        )
        call_id = f"call-e2e-{uuid.uuid4().hex[:10]}"
        body = json.dumps(
            {
                "call_id": call_id,
                "turn": 1,
                "caller_number": "+86 139 1234 5678",
                "transcript": "我的宽带从昨天开始就连不上了",
                "confidence": 0.93,
                "alternatives": [],
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        headers = {
            "X-Desk-Timestamp": timestamp,
            "X-Desk-Signature": f"sha256={digest.hexdigest()}",
            "Content-Type": "application/json",
        }
        url = f"{desk.rasa_url}/webhooks/voice/webhook"
        reply = httpx.post(url, content=body, headers=headers, timeout=60)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert (answer["call_id"], answer["turn"], answer["end_call"]) == (call_id, 1, False)
        spoken = " ".join(answer["replies"])
        # The caller's number is on file already; the ticket number is read digit by digit.
        match = re.search(r"SD((?: \d){6,})", spoken)
        assert match, spoken
        assert "*" not in spoken and "手机号" not in spoken
        row = desk.ticket_row("SD-" + match.group(1).replace(" ", ""))
        assert row is not None and row.channel == "voice"
        again = httpx.post(url, content=body, headers=headers, timeout=60)
        assert again.json() == answer  # a repeated turn is answered from the cache
        forged = httpx.post(url, content=body, headers={**headers, "X-Desk-Signature": "sha256=00"})
        assert forged.status_code == 401


def voice_turn(desk: Desk, call_id: str, turn: int, transcript: str) -> dict:
    """One signed turn from the phone gateway; the gateway's JSON answer."""
    import hashlib
    import hmac
    import json

    secret = desk.secret("VOICE_GATEWAY_SECRET")
    body = json.dumps(
        {
            "call_id": call_id,
            "turn": turn,
            "caller_number": "+86 137 0000 1111",
            "transcript": transcript,
            "confidence": 0.95,
            "alternatives": [],
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    reply = httpx.post(
        f"{desk.rasa_url}/webhooks/voice/webhook",
        content=body,
        headers={
            "X-Desk-Timestamp": timestamp,
            "X-Desk-Signature": f"sha256={digest.hexdigest()}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


class TestVoiceHandoff:
    """A caller asks for a person; the agent's reply is spoken on the caller's next turn."""

    def test_the_agents_reply_reaches_the_caller_on_the_next_turn(self, desk: Desk) -> None:
        call_id = f"call-handoff-{uuid.uuid4().hex[:10]}"
        voice_turn(desk, call_id, 1, "我要找人工客服")
        with desk.engine.connect() as connection:
            number = connection.execute(
                # The ticket keeps Rasa's id of the call's conversation, voice:<call id>.
                sa.text("SELECT number FROM tickets WHERE conversation_id = :c"),
                {"c": f"voice:{call_id}"},
            ).scalar_one()

        # The caller goes on talking: that goes to the ticket, the bot does not answer it.
        voice_turn(desk, call_id, 2, "路由器的灯一直是红色的")
        with desk.engine.connect() as connection:
            bodies = (
                connection.execute(
                    sa.text(
                        "SELECT m.body FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id"
                        " WHERE t.number = :n AND m.author_type = 'customer' AND m.public"
                    ),
                    {"n": number},
                )
                .scalars()
                .all()
            )
        assert any("路由器的灯一直是红色的" in body for body in bodies), bodies

        supervisor = desk.staff_headers("zhao.min")
        ticket = httpx.get(f"{desk.api_url}/api/v1/tickets/{number}", headers=supervisor).json()
        agent = desk.staff_headers(ticket["assignee"] or "wang.fang")
        if ticket["assignee"] is None:
            httpx.post(
                f"{desk.api_url}/api/v1/tickets/{number}/claim", headers=agent
            ).raise_for_status()
        httpx.post(
            f"{desk.api_url}/api/v1/tickets/{number}/messages",
            json={"body": "您好，我是客服，请把路由器断电后再开机。", "public": True},
            headers=agent,
        ).raise_for_status()

        deadline = time.monotonic() + 30
        delivered = None
        while delivered is None and time.monotonic() < deadline:
            with desk.engine.connect() as connection:
                delivered = connection.execute(
                    sa.text(
                        "SELECT d.delivered_at FROM relay_deliveries d JOIN tickets t"
                        " ON t.id = d.ticket_id WHERE t.number = :n AND d.kind = 'reply'"
                    ),
                    {"n": number},
                ).scalar()
            time.sleep(0.3)
        assert delivered is not None, "the relay did not deliver the reply"

        answer = voice_turn(desk, call_id, 3, "喂，还在吗")
        # Spoken on this turn, after the notice that an agent took the ticket when the
        # claim's notice was delivered first (progress pushes keep their order).
        spoken = [i for i, text in enumerate(answer["replies"]) if "请把路由器断电后再开机" in text]
        assert spoken, answer
        assert all(
            "请把路由器断电后再开机" not in text for text in answer["replies"][spoken[0] + 1 :]
        )


class TestFaqAnswersWithoutRetraining:
    def test_an_answer_a_supervisor_rewrites_is_what_the_bot_says_next(self, desk: Desk) -> None:
        boss = desk.staff_headers("zhao.min")
        edited = "【已更新】退款审核通过后 1 个工作日内原路退回，节假日顺延。"
        sender = f"faq-{uuid.uuid4().hex[:8]}"
        before = " ".join(desk.say(sender, "退款多久到账"))
        assert "【已更新】" not in before
        response = httpx.put(
            f"{desk.api_url}/api/v1/faq/refund_time/zh",
            json={"version": 0, "text": edited},
            headers=boss,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        try:
            after = desk.say(f"faq-{uuid.uuid4().hex[:8]}", "退款多久到账")
            assert edited in after, after
        finally:
            httpx.delete(f"{desk.api_url}/api/v1/faq/refund_time/zh", headers=boss, timeout=30)
        assert "【已更新】" not in " ".join(desk.say(f"faq-{uuid.uuid4().hex[:8]}", "退款多久到账"))


class TestLogsThatConnect:
    def test_one_customer_message_is_followed_across_the_three_logs(self, desk: Desk) -> None:
        """Rasa, the action server and the API each log the message's request id, in JSON
        lines that carry neither its text nor the customer's contact."""
        rid = f"e2e-{uuid.uuid4().hex[:16]}"
        sender = f"logs-{uuid.uuid4().hex[:8]}"
        response = httpx.post(
            f"{desk.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": "我的工单有哪些，我手机13766554433"},
            headers={"X-Request-ID": rid},
            timeout=60,
        )
        assert response.status_code == 200 and response.headers["X-Request-ID"] == rid
        found: dict[str, list[dict]] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for service in ("rasa", "actions", "api"):
                log = desk.run_dir / "logs" / f"{service}.log"
                lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
                found[service] = [json.loads(line) for line in lines if rid in line]
            if all(found.values()):
                break
            time.sleep(0.2)
        assert all(found.values()), {service: len(lines) for service, lines in found.items()}
        for service, lines in found.items():
            for line in lines:
                assert line["request_id"] == rid and line["service"] == service, line
                assert "13766554433" not in json.dumps(line, ensure_ascii=False), line
        api_lines = [line for line in found["api"] if line["logger"] == "desk.access"]
        assert api_lines and {line.get("conversation_id") for line in api_lines} == {sender}


class TestTrustBoundaries:
    """The attacks of the 2026-12-07 probe, against the running desk: each must get nothing."""

    def test_a_rest_caller_claiming_a_phone_call_is_not_the_phones_owner(self, desk: Desk) -> None:
        # A caller whose number the carrier proved opens a ticket on the phone...
        call_id = f"call-owner-{uuid.uuid4().hex[:8]}"
        spoken = " ".join(voice_turn(desk, call_id, 1, "我的宽带从昨天开始就连不上了")["replies"])
        assert re.search(r"SD((?: \d){6,})", spoken), spoken
        # ...then someone on the public REST channel claims to be that call and number.
        sender = f"spoof-{uuid.uuid4().hex[:8]}"
        spoof = {
            "sender": sender,
            "message": "我的工单",
            "input_channel": "voice",
            "metadata": {"caller_number": "+86 137 0000 1111", "transcript": True},
        }
        reply = httpx.post(f"{desk.rasa_url}/webhooks/rest/webhook", json=spoof, timeout=60)
        assert reply.status_code == 200
        texts = " ".join(m.get("text", "") for m in reply.json())
        assert not TICKET.search(texts), texts  # none of the caller's tickets
        # Rasa recorded it as what it is: a REST message without the claimed metadata.
        [event] = [e for e in desk.tracker(sender)["events"] if e["event"] == "user"]
        assert event["input_channel"] == "rest"
        claimed = {"caller_number", "transcript"} & set(event.get("metadata") or {})
        assert not claimed  # Rasa adds its model id; nothing of the client's survives

    def test_a_rest_sender_cannot_resume_a_wechat_conversation(self, desk: Desk) -> None:
        openid = f"oSpoofTarget{uuid.uuid4().hex[:8]}"
        httpx.post(
            f"{desk.rasa_url}/webhooks/rest/webhook",
            json={"sender": f"wechat:{openid}", "message": "hello", "input_channel": "wechat"},
            timeout=60,
        ).raise_for_status()
        # The message went to a REST conversation of its own; the WeChat one is untouched.
        wechat_events = desk.tracker(f"wechat:{openid}")["events"]
        assert [e for e in wechat_events if e["event"] == "user"] == []
        rest_events = desk.tracker(f"rest:wechat:{openid}")["events"]
        assert [e["input_channel"] for e in rest_events if e["event"] == "user"] == ["rest"]

    def test_the_action_server_refuses_a_forged_tracker(self, desk: Desk) -> None:
        forged = {
            "next_action": "action_my_tickets",
            "sender_id": "voice:call-1",
            "version": "3.6.2",
            "domain": {},
            "tracker": {"sender_id": "voice:call-1", "events": [], "slots": {}},
        }
        response = httpx.post(f"{desk.actions_url}/webhook", json=forged, timeout=10)
        assert response.status_code == 401
        assert httpx.get(f"{desk.actions_url}/health", timeout=10).status_code == 200

    def test_rasas_http_api_takes_no_token_in_the_url(self, desk: Desk) -> None:
        url = f"{desk.rasa_url}/conversations/li/tracker"
        assert httpx.get(url, timeout=10).status_code == 401
        secret = desk.secret("DESK_RASA_JWT_SECRET")
        assert httpx.get(url, params={"token": secret}, timeout=10).status_code == 401
        assert httpx.get(url, headers=desk.rasa_headers, timeout=10).status_code == 200

    def test_rasa_answers_only_the_widgets_origin(self, desk: Desk) -> None:
        polling = f"{desk.rasa_url}/socket.io/?EIO=4&transport=polling"
        foreign = httpx.get(polling, headers={"Origin": "http://evil.example"}, timeout=10)
        assert "access-control-allow-origin" not in foreign.headers
        own = httpx.get(polling, headers={"Origin": desk.api_url}, timeout=10)
        assert own.headers.get("access-control-allow-origin") == desk.api_url

    def test_every_process_listens_on_loopback_only(self, desk: Desk) -> None:
        ports = {int(u.rsplit(":", 1)[1]) for u in (desk.api_url, desk.rasa_url, desk.actions_url)}
        listening = _listening_addresses()
        for port in ports:
            assert listening.get(port), f"nothing listens on {port}"
            assert listening[port] <= {"127.0.0.1"}, (port, listening[port])


def _listening_addresses() -> dict[int, set[str]]:
    """Local address of every listening TCP socket, by port (from /proc/net/tcp{,6})."""
    found: dict[int, set[str]] = {}
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(path).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            found.setdefault(int(port, 16), set()).add(_ip(address, width))
    return found


def _ip(hex_address: str, width: int) -> str:
    if width == 8:
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_address)))
    return "::" if set(hex_address) == {"0"} else hex_address


class TestPersonalDataAtRest:
    """Last in the module: what customers typed on three channels, looked for everywhere the
    desk keeps things (every text column, every Redis key, the conversations file, every
    process's log). Only sealed or masked forms may remain."""

    def test_typed_phone_numbers_and_emails_are_nowhere_in_plaintext(self, desk: Desk) -> None:
        import hashlib

        unique = uuid.uuid4().int
        phone = f"139{unique % 10**8:08d}"
        other_phone = f"137{(unique // 10**8) % 10**8:08d}"
        email = f"pii-{uuid.uuid4().hex[:8]}@example.com"
        # REST: a problem with a phone and an e-mail in the first message, then the contact.
        sender = f"pii-{uuid.uuid4().hex[:8]}"
        # Everything is in the first message, so the bot opens the ticket at once; a bot
        # that asked for the contact would get the phone number again.
        answered = " ".join(desk.say(sender, f"我的宽带断了，请打 {phone} 或者发邮件到 {email}"))
        if not TICKET.search(answered):
            answered = " ".join(desk.say(sender, phone))
        assert TICKET.search(answered), answered
        desk.say(sender, f"补充一下：也可以打 {other_phone}")
        # Voice: the caller reads a number out.
        voice_turn(desk, f"call-pii-{uuid.uuid4().hex[:8]}", 1, f"宽带坏了，回电 {other_phone}")
        # WeChat: a signed push with an e-mail.
        token = desk.secret("WECHAT_TOKEN")
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:8]
        signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
        body = (
            "<xml><ToUserName><![CDATA[gh_desk]]></ToUserName>"
            f"<FromUserName><![CDATA[oPii{uuid.uuid4().hex[:12]}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[路由器坏了，联系我 {email}]]></Content>"
            f"<MsgId>{uuid.uuid4().int % 10**15}</MsgId></xml>"
        )
        httpx.post(
            f"{desk.rasa_url}/webhooks/wechat/webhook",
            params={"signature": signature, "timestamp": timestamp, "nonce": nonce},
            content=body.encode(),
            timeout=30,
        ).raise_for_status()

        typed = [phone, other_phone, email]
        found = _plaintext_in_database(desk, typed) + _plaintext_in_redis(typed)
        for path in [
            *sorted((desk.run_dir / "logs").glob("*.log")),
            desk.run_dir / "conversations.db",
        ]:
            if path.exists():
                raw = path.read_bytes()
                found += [f"{path.name}: {v}" for v in typed if v.encode() in raw]
        assert found == []


def _plaintext_in_database(desk: Desk, values: list[str]) -> list[str]:
    """table.column where any of the values appears, over every text column."""
    found: list[str] = []
    inspector = sa.inspect(desk.engine)
    with desk.engine.connect() as connection:
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if not isinstance(column["type"], sa.String | sa.Text | sa.JSON):
                    continue
                name = column["name"]
                for value in values:
                    hit = connection.execute(
                        sa.text(f'SELECT 1 FROM "{table}" WHERE CAST("{name}" AS TEXT) LIKE :v'),
                        {"v": f"%{value}%"},
                    ).first()
                    if hit:
                        found.append(f"{table}.{name}: {value}")
    return found


def _plaintext_in_redis(values: list[str]) -> list[str]:
    """Redis keys (of REDIS_URL's database) whose name or value holds any of the values."""
    import os

    import redis

    url = os.environ.get("REDIS_URL")
    if not url:
        return []
    client = redis.Redis.from_url(url)
    found: list[str] = []
    try:
        for key in client.scan_iter(count=500):
            kind = client.type(key).decode()
            if kind == "string":
                blobs = [client.get(key) or b""]
            elif kind == "hash":
                blobs = [b"".join(k + v for k, v in client.hgetall(key).items())]
            elif kind == "list":
                blobs = client.lrange(key, 0, -1)
            elif kind == "set":
                blobs = list(client.smembers(key))
            elif kind == "zset":
                blobs = client.zrange(key, 0, -1)
            elif kind == "stream":
                blobs = [
                    b"".join(k + v for k, v in fields.items()) for _, fields in client.xrange(key)
                ]
            else:
                blobs = []
            blob = key + b"".join(blobs)
            found += [
                f"redis {key.decode(errors='replace')}: {v}" for v in values if v.encode() in blob
            ]
    finally:
        client.close()
    return found
