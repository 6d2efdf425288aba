"""Cleansing one imported row: names, dates, phones, e-mails, ID numbers, channels, tags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support_service.import_files import id_number
from ticketing.customer_files import FIELDS, RawRow
from ticketing.services.cleansing import channel_book, check_row, clean_name, map_tags, parse_date

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def row(**cells: str) -> RawRow:
    values: dict[str, str | None] = {f: None for f in FIELDS}
    values.update({"phone": "13900000001", "channel": "app", **cells})
    return RawRow(number=2, cells=values)


def codes(checked) -> list[str]:
    return [r["code"] for r in checked.reasons]


class TestValues:
    def test_names_are_trimmed_folded_and_cut_at_50(self) -> None:
        assert clean_name("  王   芳 ") == ("王 芳", False)
        assert clean_name("ＡＢＣ") == ("ABC", False)
        name, cut = clean_name("x" * 60)
        assert (len(name), cut) == (50, True)

    @pytest.mark.parametrize(
        "text",
        [
            "2026-11-03",
            "2026/11/3",
            "2026.11.03",
            "2026年11月3日",
            "2026-11-03 08:30",
            "2026-11-03T08:30:15",
        ],
    )
    def test_dates_in_the_forms_spreadsheets_write(self, text: str) -> None:
        assert parse_date(text, now=NOW).date().isoformat() == "2026-11-03"

    @pytest.mark.parametrize(
        "text", ["2026-13-01", "03/11/2026", "yesterday", "2027-01-01", "1800-01-01"]
    )
    def test_what_is_not_a_date(self, text: str) -> None:
        with pytest.raises(ValueError):
            parse_date(text, now=NOW)

    def test_tags_are_mapped_to_the_desks(self) -> None:
        book = channel_book()
        assert map_tags("VIP；高价值、流失风险", book=book) == ["churn_risk", "high_value", "vip"]
        assert map_tags("贵宾, Loyal Fan", book=book) == ["loyal fan", "vip"]
        with pytest.raises(ValueError):
            map_tags("=cmd", book=book)

    def test_channels_by_alias_and_priority(self) -> None:
        book = channel_book()
        assert book.channel("天猫") == "tmall" and book.channel(" JD ") == "jd"
        assert book.rank("app") < book.rank("store") < book.rank("tmall")
        assert all(book.kinds[k] == "own" for k in book.keys[: book.keys.index("tmall")])


class TestRows:
    def test_a_clean_row_gives_a_normalised_record(self) -> None:
        checked = check_row(
            row(
                name=" 李雷 ",
                phone="+86 139 0000 0001",
                email="Li.Lei@Example.COM",
                id_number=id_number().replace("X", "x"),
                channel="门店",
                tags="vip",
                updated_at="2026/11/3",
            ),
            book=channel_book(),
            now=NOW,
        )
        record = checked.record
        assert record is not None and checked.reasons == []
        assert (record.name, record.phone, record.email) == (
            "李雷",
            "+8613900000001",
            "li.lei@example.com",
        )
        assert (record.id_number, record.channel, record.tags) == (id_number(), "store", ("vip",))

    @pytest.mark.parametrize(
        ("cells", "code"),
        [
            ({"phone": "12345"}, "invalid_phone"),
            ({"email": "a@b"}, "invalid_email"),
            (
                {"id_number": id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1")},
                "invalid_id_number",
            ),
            ({"id_number": "11010119900307"}, "invalid_id_number"),
            ({"updated_at": "2026-02-30"}, "invalid_date"),
            ({"channel": "amazon"}, "unknown_channel"),
            ({"channel": ""}, "missing_channel"),
            ({"phone": "", "email": ""}, "no_contact"),
            ({"name": '=HYPERLINK("x")'}, "formula"),
            ({"name": "@SUM(1)"}, "formula"),
            ({"phone": "=A1"}, "formula"),
        ],
    )
    def test_each_problem_has_its_reason(self, cells: dict[str, str], code: str) -> None:
        checked = check_row(row(**cells), book=channel_book(), now=NOW)
        assert checked.record is None
        assert code in codes(checked)
        assert all(r["message"] for r in checked.reasons)

    def test_reasons_never_hold_the_values(self) -> None:
        checked = check_row(row(phone="13812", email="secret@x"), book=channel_book(), now=NOW)
        assert "13812" not in str(checked.reasons) and "secret" not in str(checked.reasons)
        assert checked.invalid == {"phone", "email"}

    def test_a_paused_channel_and_a_default_channel(self) -> None:
        book = channel_book()
        paused = check_row(row(channel="jd"), book=book, paused=frozenset({"jd"}), now=NOW)
        assert codes(paused) == ["channel_paused"]
        defaulted = check_row(row(channel=""), book=book, default_channel="store", now=NOW)
        assert defaulted.record is not None and defaulted.record.channel == "store"
