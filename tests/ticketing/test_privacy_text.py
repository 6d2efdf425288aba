"""Finding and masking personal data in free text; sealing it on flush."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.orm import Session

from ticketing.privacy import DecryptionFailed, Vault
from ticketing.privacy_text import (
    CARD,
    EMAIL,
    ID_NUMBER,
    PHONE,
    SealingUnavailable,
    find_personal_data,
    luhn_valid,
    mask_text,
    seal,
    seal_row,
    show,
)


@pytest.fixture
def vault() -> Vault:
    return Vault({"k1": os.urandom(32)}, os.urandom(32))


class TestFind:
    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("13812345678", "138****5678"),
            ("电话是13812345678，谢谢", "电话是138****5678，谢谢"),
            ("+86 139 8765 4321", "139****4321"),
            ("138-1234-5678 或 (010) 6552 9988", "138****5678 或 ******9988"),
            ("call +44 20 7946 0958", "call ******0958"),
            ("电话：+852 9123 4567", "电话：****4567"),
            ("user13812345678 or /u/13812345678x", "user138****5678 or /u/138****5678x"),
            ("１３８１２３４５６７８", "138****5678"),
            ("tel:+8613812345678", "tel:138****5678"),
        ],
    )
    def test_phone_numbers_as_libphonenumber_finds_them(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked

    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-07T15:59:16.003717+00:00",
            "2026-12-07 15:59:16.003717",
            "first response at 08:05:09,123456",
        ],
    )
    def test_timestamps_are_not_phone_numbers(self, text: str) -> None:
        # The history records times like these; "16.003717" once read as a phone number.
        assert find_personal_data(text) == []
        assert find_personal_data(f"{text} 13812345678")[0].value == "13812345678"

    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("mail Zhang.San@Example.com now", "mail Z***@Example.com now"),
            (
                "https://example.com/reset?u=li.si@corp.example.cn&x=1",
                "https://example.com/reset?u=l***@corp.example.cn&x=1",
            ),
            ("mailto:li%40qq.com", "mailto:l***%40qq.com"),
            ("13812345678@qq.com", "1***@qq.com"),
        ],
    )
    def test_email_addresses_also_in_urls(self, text: str, masked: str) -> None:
        assert mask_text(text) == masked
        assert [f.kind for f in find_personal_data(text)] == [EMAIL]

    def test_id_numbers_need_their_check_digit(self) -> None:
        assert mask_text("身份证11010519491231002X") == "身份证1101**********002X"
        assert mask_text("身份证11010519491231002x。") == "身份证1101**********002X。"
        assert find_personal_data("110105194912310021") == []  # wrong check digit

    def test_card_numbers_need_luhn(self) -> None:
        assert luhn_valid("4111111111111111")
        assert not luhn_valid("4111111111111112")
        assert mask_text("card 4111 1111 1111 1111.") == "card **** **** **** 1111."
        assert mask_text("卡号6222021234567890128") == "卡号***************0128"
        assert [f.kind for f in find_personal_data("4111-1111-1111-1111")] == [CARD]
        assert find_personal_data("order 20261207123456 / SD-100001") == []
        assert mask_text("4111 1111 1111 1111 123") == "**** **** **** 1111 123"

    def test_several_kinds_in_one_text_in_order(self) -> None:
        text = "我 13812345678, a@b.cn, 11010519491231002X, 4111111111111111"
        assert [f.kind for f in find_personal_data(text)] == [PHONE, EMAIL, ID_NUMBER, CARD]
        assert mask_text(text) == "我 138****5678, a***@b.cn, 1101**********002X, ************1111"
        assert mask_text(text, clear=frozenset({PHONE, EMAIL})) == (
            "我 13812345678, a@b.cn, 1101**********002X, ************1111"
        )

    def test_text_without_personal_data_is_unchanged(self) -> None:
        for text in ("", "宽带连不上了", "SD-100042 was opened at 10:30 on 2026-12-07", "50% off"):
            assert mask_text(text) == text

    def test_a_500_kb_paste_full_of_numbers_is_masked_throughout(self) -> None:
        # More candidates than libphonenumber's default max_tries would look at.
        text = "".join(
            f"line {i}: call 138{i % 10000:04d}5678 or mail u{i}@x.cn\n" for i in range(14000)
        )
        assert len(text.encode()) > 500 * 1024
        masked = mask_text(text)
        assert "5678 or" in masked and "@x.cn" in masked
        assert not any(f"138{i:04d}5678" in masked for i in (0, 9999))
        assert "u13999@x.cn" not in masked


class TestSeal:
    def test_only_text_with_personal_data_is_encrypted(self, vault: Vault) -> None:
        plain = seal("宽带连不上了", vault=vault)
        assert (plain.masked, plain.token) == ("宽带连不上了", None)
        sealed = seal("call 13812345678", vault=vault)
        assert sealed.masked == "call 138****5678"
        assert sealed.token is not None and sealed.token.startswith("k1:")
        assert vault.decrypt(sealed.token) == "call 13812345678"

    def test_without_keys_personal_data_is_refused_not_stored(self) -> None:
        assert seal("no numbers here", vault=None).token is None
        with pytest.raises(SealingUnavailable):
            seal("call 13812345678", vault=None)

    def test_show_by_kinds_in_clear(self, vault: Vault) -> None:
        sealed = seal("13812345678 / 11010519491231002X", vault=vault)
        agent = show(sealed.masked, sealed.token, clear=frozenset(), vault=vault)
        assert (agent.text, agent.masked, agent.shown_in_clear) == (
            "138****5678 / 1101**********002X",
            True,
            frozenset(),
        )
        boss = show(sealed.masked, sealed.token, clear=frozenset({PHONE, EMAIL}), vault=vault)
        assert (boss.text, boss.masked, boss.shown_in_clear) == (
            "13812345678 / 1101**********002X",
            True,
            frozenset({PHONE}),
        )

    def test_a_missing_key_is_named_never_garbage(self, vault: Vault) -> None:
        sealed = seal("call 13812345678", vault=vault)
        assert sealed.token is not None
        other = Vault({"k2": os.urandom(32)}, os.urandom(32))
        with pytest.raises(DecryptionFailed, match="'k1'"):
            show(sealed.masked, sealed.token, clear=frozenset({PHONE}), vault=other)
        wrong = Vault({"k1": os.urandom(32)}, os.urandom(32))
        with pytest.raises(DecryptionFailed, match="does not authenticate"):
            wrong.decrypt(sealed.token)


class TestSealRow:
    """Rows written without the ORM (ticket creation) are sealed as a flush seals them."""

    def test_each_text_column_gets_its_masked_copy_and_token(self, vault: Vault) -> None:
        from ticketing.models import Ticket

        row = seal_row(
            Ticket,
            {
                "subject": "call 13812345678 " + "x" * 300,
                "description": "宽带连不上了",
                "escalation_reason": None,
                "priority": "normal",
            },
            vault=vault,
        )
        assert row["subject"] == ("call 138****5678 " + "x" * 300)[:200]
        assert vault.decrypt(row["subject_enc"]).startswith("call 13812345678 ")
        assert (row["description"], row["description_enc"]) == ("宽带连不上了", None)
        assert (row["escalation_reason"], row["escalation_reason_enc"]) == (None, None)
        assert row["priority"] == "normal"

    def test_the_customers_own_name_and_no_keys(self, vault: Vault) -> None:
        from ticketing.models import TicketMessage

        row = seal_row(TicketMessage, {"body": "王小明 here"}, vault=vault, names=("王小明",))
        assert "王小明" not in row["body"]
        assert vault.decrypt(row["body_enc"]) == "王小明 here"
        with pytest.raises(SealingUnavailable):
            seal_row(TicketMessage, {"body": "call 13812345678"}, vault=None)


class TestOnFlush:
    def test_a_session_without_keys_refuses_personal_text(self, session: Session) -> None:
        from ticketing.models import TicketEvent

        session.add(TicketEvent(ticket_id=1, actor="x", field="subject", new_value="13812345678"))
        with pytest.raises(SealingUnavailable):
            session.flush()
