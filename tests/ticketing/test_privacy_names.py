"""Personal names in free text: found by introductions, cues and the customer's own name."""

import os

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.models import Ticket, TicketMessage
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.privacy_text import NAME, PHONE, find_personal_data, mask_text, seal, show
from ticketing.schemas import TicketCreate
from ticketing.services import thread
from ticketing.services.tickets import create_ticket


def names_in(text: str, known: tuple[str, ...] = ()) -> list[str]:
    return [f.value for f in find_personal_data(text, names=known) if f.kind == NAME]


class TestChinese:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("我叫李雷，电话打不通", "我叫李*，电话打不通"),
            ("我叫李雷想问一下宽带", "我叫李*想问一下宽带"),
            ("你好，我是王芳。宽带坏了", "你好，我是王*。宽带坏了"),
            ("姓名：欧阳娜娜 地址不变", "姓名：欧阳** 地址不变"),
            ("联系人：陈小明", "联系人：陈**"),
            ("联系人是张伟", "联系人是张*"),
            ("收货人:赵敏", "收货人:赵*"),
            ("我的名字是張偉", "我的名字是張*"),  # Traditional script
            ("聯繫人：陳大文", "聯繫人：陳**"),
            ("我叫Sam Taylor", "我叫S*** T***"),
        ],
    )
    def test_introductions(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "我是高级会员",
            "我是来问宽带的",
            "我是新用户",
            "联系人电话13912345678",
            "明天我叫人来修",
            "我叫不出名字",
            "宽带从昨天开始就连不上了",
        ],
    )
    def test_no_name_no_mask(self, text: str) -> None:
        assert names_in(text) == []

    def test_a_name_with_a_phone_number(self) -> None:
        text = "我叫李雷，手机13912345678"
        assert [f.kind for f in find_personal_data(text)] == [NAME, PHONE]
        assert mask_text(text) == "我叫李*，手机139****5678"


class TestEnglish:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            (
                "My name is Sam Taylor and my phone is off",
                "My name is S*** T*** and my phone is off",
            ),
            ("my name is sam taylor, thanks", "my name is s*** t***, thanks"),
            ("name: Li Lei", "name: L*** L***"),
            ("Contact person: Mary Ann Smith", "Contact person: M*** A*** S***"),
            ("Hi, I'm Sam. My router is down", "Hi, I'm S***. My router is down"),
            ("This is Sam Taylor calling back", "This is S*** T*** calling back"),
            ("Regards,\nSam Taylor", "Regards,\nS*** T***"),
            ("Please ask Mr. Zhang to call", "Please ask Mr. Z*** to call"),
            ("my name is 李雷", "my name is 李*"),
        ],
    )
    def test_introductions_and_cues(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "I'm Sorry to bother you",
            "I am waiting for the engineer",
            "This is Urgent",
            "The name of the plan is Gold",
            "I'm Chinese and my English is bad",
        ],
    )
    def test_common_words_are_not_names(self, text: str) -> None:
        assert names_in(text) == []


class TestKnownName:
    def test_the_customers_own_name_is_found_anywhere(self) -> None:
        assert names_in("李小龙的宽带坏了，小龙很着急", ("李小龙",)) == ["李小龙", "小龙"]
        assert mask_text("李小龙的宽带坏了，小龙很着急", names=("李小龙",)) == (
            "李**的宽带坏了，**很着急"
        )
        assert names_in("sam called; TAYLOR again", ("Sam Taylor",)) == ["sam", "TAYLOR"]
        # Whole words only: "Samuel" is not "Sam".
        assert names_in("Samuel called", ("Sam Taylor",)) == []

    def test_short_names_and_parts_are_not_matched_alone(self) -> None:
        # A two-letter part would mask half the alphabet's words.
        assert names_in("Li is here, Lily too", ("Li Na",)) == []
        assert names_in("Li Na is here", ("Li Na",)) == ["Li Na"]
        assert names_in("li-ion battery", ("Li",)) == []


class TestSealAndShow:
    def test_names_are_sealed_and_shown_by_role(self) -> None:
        vault = Vault({"k1": os.urandom(32)}, os.urandom(32))
        sealed = seal("我叫李雷，手机13912345678", vault=vault)
        assert sealed.masked == "我叫李*，手机139****5678"
        assert sealed.token is not None
        agent = show(sealed.masked, sealed.token, clear=frozenset(), vault=vault)
        assert agent.text == "我叫李*，手机139****5678"
        boss = show(sealed.masked, sealed.token, clear=frozenset({NAME, PHONE}), vault=vault)
        assert (boss.text, boss.shown_in_clear) == (
            "我叫李雷，手机13912345678",
            frozenset({NAME, PHONE}),
        )


class TestOnFlush:
    def test_the_profile_name_is_masked_in_the_thread(self, session: Session, vault: Vault) -> None:
        bot = Principal(name="bot_service", role=Role.BOT_SERVICE, conversation=("web", "w1"))
        payload = TicketCreate.model_validate(
            ticket_payload(
                customer={"channel": "web", "external_id": "w1", "display_name": "欧阳娜娜"},
                description="娜娜的宽带坏了",
                subject="Nana: broadband down",
            )
        )
        ticket = create_ticket(session, vault=vault, principal=bot, payload=payload).ticket
        thread.post_message(
            session,
            ticket=ticket,
            principal=Principal(name="staff:wang.fang", role=Role.AGENT, agent_id=1),
            body="欧阳娜娜您好，我们马上处理",
        )
        session.flush()
        session.expire_all()
        stored = session.scalar(select(Ticket))
        assert stored is not None and stored.description == "**的宽带坏了"
        assert stored.description_enc is not None
        assert vault.decrypt(stored.description_enc) == "娜娜的宽带坏了"
        bodies = list(session.scalars(select(TicketMessage.body).order_by(TicketMessage.id)))
        assert "欧阳**您好，我们马上处理" in bodies
        assert not any("娜娜" in body for body in bodies)
