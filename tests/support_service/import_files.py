"""Customer files as stores and marketplaces export them: CSV in UTF-8 or GB18030, XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

ZH_HEADER = ["姓名", "手机", "邮箱", "证件号", "渠道", "标签", "更新时间"]
EN_HEADER = ["name", "phone", "email", "id_number", "channel", "tags", "updated_at"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(birth: str = "19900307", sequence: int = 123, region: str = "110101") -> str:
    """A resident ID number with a valid check character."""
    body = f"{region}{birth}{sequence:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def phone(n: int) -> str:
    """A valid mainland mobile number, distinct for each n < 10**8."""
    return f"139{n:08d}"


def csv_bytes(
    rows: Sequence[Sequence[object]],
    *,
    header: Sequence[str] = ZH_HEADER,
    encoding: str = "utf-8",
    bom: bool = False,
) -> bytes:
    """A CSV file as spreadsheet software writes it (CRLF lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    text = out.getvalue()
    return ("\ufeff" if bom else "").encode(encoding) + text.encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[object]], *, header: Sequence[str] = EN_HEADER) -> bytes:
    """An XLSX workbook with the header and rows on its first sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def store_export() -> list[list[object]]:
    """A realistic store export: Chinese names, duplicates, a few bad rows (10 rows)."""
    return [
        [
            "李雷",
            "13800138001",
            "lilei@example.com",
            id_number(),
            "门店",
            "VIP；高价值",
            "2026-11-02",
        ],
        ["韩梅梅", "+86 139 0000 0002", "", "", "天猫", "", "2026/10/15"],
        [
            "  王  芳 ",
            "13900000003",
            "Wang.Fang@Example.COM",
            "",
            "京东",
            "流失风险",
            "2026年9月1日",
        ],
        # the same person as row 2 (same phone), newer and from an own channel
        ["韩梅", "13900000002", "meimei@example.com", "", "App", "vip", "2026-11-20"],
        ["张伟", "12345", "", "", "门店", "", "2026-11-01"],  # bad phone
        ["赵敏", "", "not-an-email", "", "天猫", "", "2026-11-01"],  # bad e-mail
        ["孙丽", "13900000007", "", "110101199003071235", "京东", "", "2026-11-01"],  # checksum
        ["周杰", "13900000008", "", "", "亚马逊", "", "2026-11-01"],  # unknown channel
        ['=HYPERLINK("http://x")', "13900000009", "", "", "门店", "", "2026-11-01"],  # formula
        ["吴昊", "13900000010", "", "", "门店", "", "2026-13-45"],  # bad date
    ]
