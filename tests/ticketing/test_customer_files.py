"""Reading customer files: encodings, headers in two languages, formulas, malformed rows."""

from __future__ import annotations

import pytest

from tests.support_service.import_files import EN_HEADER, ZH_HEADER, csv_bytes, xlsx_bytes
from ticketing.customer_files import FileRejected, escape_cell, map_header, open_file


class TestEncodings:
    @pytest.mark.parametrize(
        ("encoding", "found"), [("utf-8", "utf-8"), ("gb18030", "gb18030"), ("gbk", "gb18030")]
    )
    def test_chinese_text_in_each_encoding(self, encoding: str, found: str) -> None:
        opened = open_file(
            csv_bytes([["韩梅梅", "13900000002", "", "", "天猫", "贵宾", ""]], encoding=encoding)
        )
        assert opened.encoding == found
        assert opened.rows[0].cells["name"] == "韩梅梅"
        assert opened.rows[0].cells["tags"] == "贵宾"

    def test_a_bom_is_not_part_of_the_first_header(self) -> None:
        opened = open_file(csv_bytes([], bom=True))
        assert opened.columns[0] == "name"

    def test_gbk_bytes_read_as_utf8_are_refused_when_forced(self) -> None:
        with pytest.raises(FileRejected) as refused:
            open_file(csv_bytes([["韩梅梅"] * 7], encoding="gbk"), encoding="utf-8")
        assert refused.value.code == "wrong_encoding"

    def test_utf16_is_refused_with_what_to_do(self) -> None:
        with pytest.raises(FileRejected) as refused:
            open_file(",".join(ZH_HEADER).encode("utf-16"))
        assert "UTF-16" in refused.value.message and "GB18030" in refused.value.message


class TestHeaders:
    def test_chinese_english_and_mixed(self) -> None:
        assert map_header(ZH_HEADER) == map_header(EN_HEADER)
        mixed = ["姓名/name", "Phone", "邮箱", "ID Number", "渠道", "tags", "Updated At"]
        assert map_header(mixed) == [
            "name",
            "phone",
            "email",
            "id_number",
            "channel",
            "tags",
            "updated_at",
        ]

    def test_empty_header_cells_are_ignored(self) -> None:
        assert map_header([*EN_HEADER, "", None])[-2:] == [None, None]

    def test_everything_wrong_is_named_at_once(self) -> None:
        with pytest.raises(FileRejected) as refused:
            map_header(["name", "name", "phone", "vip_level"])
        assert refused.value.details["missing"] == [
            "email",
            "id_number",
            "channel",
            "tags",
            "updated_at",
        ]
        assert refused.value.details["unknown"] == ["vip_level"]
        assert refused.value.details["repeated"] == ["name"]


class TestRows:
    def test_blank_rows_are_counted_and_skipped(self) -> None:
        opened = open_file(
            csv_bytes([["A", "1", "", "", "", "", ""], [], ["", "", "", "", "", "", ""]])
        )
        assert (len(opened.rows), opened.blank_rows) == (1, 2)

    def test_a_repeated_header_and_a_long_row_are_flagged(self) -> None:
        opened = open_file(
            csv_bytes([EN_HEADER, ["A", "1", "", "", "", "", "", "extra"], ["B", "2"]])
        )
        assert opened.rows[0].header_again
        assert opened.rows[1].problem == "the row has 8 cells, the header 7"
        assert opened.rows[2].problem == "the row has 2 cells, the header 7"

    def test_trailing_empty_cells_are_not_a_problem(self) -> None:
        opened = open_file(csv_bytes([["A", "1", "", "", "", "", "", "", ""]]))
        assert opened.rows[0].problem is None

    def test_xlsx_formulas_are_flagged_not_computed(self) -> None:
        opened = open_file(xlsx_bytes([["=1+1", 13900000001, None, None, "app", None, None]]))
        row = opened.rows[0]
        assert row.formulas == {"name"} and row.cells["name"] == "=1+1"
        assert row.cells["phone"] == "13900000001"

    def test_semicolon_separated_files_are_read(self) -> None:
        opened = open_file(";".join(EN_HEADER).encode() + b"\r\nA;13900000001;;;app;;\r\n")
        assert opened.rows[0].cells["channel"] == "app"


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("李雷", "李雷"),
        (None, ""),
    ],
)
def test_exported_cells_never_run(value: str | None, escaped: str) -> None:
    assert escape_cell(value) == escaped
