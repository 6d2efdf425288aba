"""Days customers name, as ISO dates."""

from datetime import date

import pytest

from actions.dates import parse_date
from actions.parsing import parse_order_number, parse_rating, read_out_digits

SATURDAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("said", "day"),
    [
        ("今天", "2026-11-28"),
        ("昨天晚上", "2026-11-27"),
        ("前天", "2026-11-26"),
        ("大前天", "2026-11-25"),
        ("上周三", "2026-11-18"),
        ("上个星期天", "2026-11-22"),
        ("yesterday", "2026-11-27"),
        ("the day before yesterday", "2026-11-26"),
        ("last Monday", "2026-11-16"),
        ("2026-11-20", "2026-11-20"),
        ("2026/11/3", "2026-11-03"),
        ("2026年11月20日", "2026-11-20"),
        ("11月20号", "2026-11-20"),
        ("12月24日", "2025-12-24"),  # not in the future: last year's
    ],
)
def test_named_days(said: str, day: str) -> None:
    found = parse_date(said, today=SATURDAY)
    assert found is not None and found.isoformat() == day


@pytest.mark.parametrize("said", ["soon", "2026-13-45", "", "13800138000"])
def test_no_day(said: str) -> None:
    assert parse_date(said, today=SATURDAY) is None


@pytest.mark.parametrize(
    ("said", "number"),
    [
        ("DD2026112001", "DD2026112001"),
        ("order dd-2026112001 please", "DD2026112001"),
        ("订单号202611180045771", "202611180045771"),
        ("13800138000", None),  # a mobile number, not an order
        ("SD-100001", None),
        ("DD20261120", None),  # too short
        ("DD20261120015", "DD20261120015"),  # a longer sequence number
        ("it's 112-4837261-5573920 on amazon", "112-4837261-5573920"),
        ("JD 48902113650027781234", "48902113650027781234"),
        ("+86 13800138000", None),
        ("010-65523344", None),  # a landline
    ],
)
def test_order_numbers(said: str, number: str | None) -> None:
    assert parse_order_number(said) == number


@pytest.mark.parametrize(
    ("said", "score"),
    [
        ("5 stars", 5),
        ("two stars", 2),
        ("3/5", 3),
        ("10 out of 10, great service", 5),
        ("五星", 5),
        ("两颗星，不太满意", 2),
        ("好滿意呀，俾五粒星你哋", 5),
        ("兩個星啦", 2),
        ("I'd say four out of five", 4),
        ("给4分", 4),
        ("非常满意", 5),
        ("满意", 4),
        ("一般", 3),
        ("不满意", 2),
        ("非常不满意", 1),
        ("very dissatisfied with how it was handled", 1),
        ("rate SD-100123 5 stars", 5),
        ("SD-100123", None),
        ("hello", None),
    ],
)
def test_ratings(said: str, score: int | None) -> None:
    assert parse_rating(said) == score


@pytest.mark.parametrize(
    ("said", "read"),
    [
        ("it's one three nine double two double eight seven seven double oh", "it's 13922887700"),
        ("uh it's D D two oh two six one one two four one two", "uh it's DD2026112412"),
        ("我電話係 一三九 二八八八 四五六一", "我電話係 13928884561"),
        ("S D one zero zero one two one", "SD100121"),
        ("my number is 139 1234 5678", "my number is 13912345678"),
        # Numbers in words that are not digits read out stay as they are.
        ("一个订单扣了三十多块", "一个订单扣了三十多块"),
    ],
)
def test_digits_read_out(said: str, read: str) -> None:
    assert read_out_digits(said) == read
