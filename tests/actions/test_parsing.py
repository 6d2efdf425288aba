"""Contacts and ticket numbers as customers type them."""

import pytest

from actions.parsing import is_email, parse_contact, parse_ticket_number


class TestParseContact:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("13800138000", "13800138000"),
            ("我的手机是13912345678，谢谢", "13912345678"),
            ("call me on 139 1234 5678", "13912345678"),
            ("+86 138-0013-8000", "13800138000"),
            ("email me at Li.Wei@Example.com please", "li.wei@example.com"),
            ("联系邮箱 zhang_san@163.com", "zhang_san@163.com"),
        ],
    )
    def test_finds_mobile_numbers_and_emails(self, text: str, expected: str) -> None:
        assert parse_contact(text) == expected

    @pytest.mark.parametrize(
        "text", ["12345", "12800138000", "138001380001", "my number", "foo@bar", ""]
    )
    def test_rejects_what_is_neither(self, text: str) -> None:
        assert parse_contact(text) is None

    def test_is_email(self) -> None:
        assert is_email("a@b.cn") and not is_email("13800138000")


class TestParseTicketNumber:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("SD-100001", "SD-100001"),
            ("sd100245 现在什么进度", "SD-100245"),
            ("what's the status of SD 100003?", "SD-100003"),
            ("工单SD-100004进度", "SD-100004"),
        ],
    )
    def test_canonical_form(self, text: str, expected: str) -> None:
        assert parse_ticket_number(text) == expected

    @pytest.mark.parametrize("text", ["100001", "SD-12", "ASD-100001", "my ticket", ""])
    def test_rejects_non_numbers(self, text: str) -> None:
        assert parse_ticket_number(text) is None
