"""Files of customer records: CSV (UTF-8 or GB18030/GBK) and XLSX, read into rows of text.

Nothing here evaluates a formula: XLSX cells are read as written (a formula stays its
text and is flagged), CSV cells are plain text. Whatever leaves the desk as CSV goes
through :func:`escape_cell`, so a spreadsheet never runs a cell it opens.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ticketing.errors import DomainError

# The template's columns: field -> (Chinese header, English header).
COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("姓名", "name"),
    "phone": ("手机", "phone"),
    "email": ("邮箱", "email"),
    "id_number": ("证件号", "id_number"),
    "channel": ("渠道", "channel"),
    "tags": ("标签", "tags"),
    "updated_at": ("更新时间", "updated_at"),
}
FIELDS = tuple(COLUMNS)
# Columns a rejection export adds in front of the record; ignored when it comes back.
EXPORT_COLUMNS = {"row": ("行号", "row"), "reasons": ("原因", "reasons")}
_IGNORED = {name for pair in EXPORT_COLUMNS.values() for name in pair}
MAX_ROWS = 200_000
ENCODINGS = ("utf-8", "gb18030", "gbk")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class FileRejected(DomainError):
    """The file as a whole cannot be read as customer records (nothing is imported)."""

    status_code = 422
    code = "import_file_rejected"


def _header_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").strip().lower()


_HEADER_NAMES: dict[str, str] = {}
for _field, (_zh, _en) in COLUMNS.items():
    for _name in (_zh, _en, f"{_zh}/{_en}", f"{_en}/{_zh}"):
        _HEADER_NAMES[_header_key(_name)] = _field
_HEADER_NAMES[_header_key("updated at")] = "updated_at"
_HEADER_NAMES[_header_key("id number")] = "id_number"


@dataclass
class RawRow:
    """One record as the file has it: cells by field, and which cells held formulas."""

    number: int
    cells: dict[str, str | None]
    formulas: set[str] = field(default_factory=set)
    problem: str | None = None  # a malformed row: why
    header_again: bool = False


@dataclass
class OpenedFile:
    """A readable file: its format, encoding, the field of each column, and its rows."""

    file_format: str
    encoding: str | None
    columns: list[str | None]
    rows: list[RawRow]
    blank_rows: int


def escape_cell(value: object) -> str:
    """A cell for an exported CSV that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def template_header(lang: str) -> list[str]:
    """The template's header row in Chinese (``zh``) or English (``en``)."""
    index = 0 if lang == "zh" else 1
    return [names[index] for names in COLUMNS.values()]


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_template(lang: str) -> bytes:
    """The import template as a workbook: the header row, and text columns for numbers
    (so a spreadsheet keeps phone and ID numbers as typed, not 1.38E+10)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "customers"
    sheet.append(template_header(lang))
    for index, name in enumerate(FIELDS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 24 if name in ("email", "id_number") else 16
        if name in ("phone", "id_number", "updated_at"):
            for row in range(2, 1002):
                sheet.cell(row=row, column=index).number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def map_header(cells: list[str | None]) -> list[str | None]:
    """The field of each header cell; 422 naming what is missing, unknown or repeated."""
    columns: list[str | None] = []
    unknown: list[str] = []
    for cell in cells:
        key = _header_key(cell or "")
        if not key or key in _IGNORED:
            columns.append(None)
            continue
        found = _HEADER_NAMES.get(key)
        if found is None:
            unknown.append((cell or "").strip()[:40])
        columns.append(found)
    repeated = sorted({c for c in columns if c is not None and columns.count(c) > 1})
    missing = [f for f in FIELDS if f not in columns]
    if unknown or repeated or missing:
        problems = []
        if missing:
            problems.append(
                "missing columns: " + ", ".join(f"{COLUMNS[f][0]}/{COLUMNS[f][1]}" for f in missing)
            )
        if unknown:
            problems.append("unknown columns: " + ", ".join(unknown))
        if repeated:
            problems.append("columns given twice: " + ", ".join(repeated))
        raise FileRejected(
            "the header row does not match the template (" + "; ".join(problems) + ")",
            code="bad_header",
            details={"missing": missing, "unknown": unknown, "repeated": repeated},
        )
    return columns


def open_file(content: bytes, *, encoding: str | None = None) -> OpenedFile:
    """Read a CSV or XLSX file of customer records; FileRejected when it cannot be."""
    if not content.strip():
        raise FileRejected("the file is empty", code="empty_file")
    if content.startswith(_XLS_MAGIC):
        raise FileRejected(
            "this is an old Excel (.xls) file; save it as .xlsx or as CSV",
            code="unsupported_format",
        )
    if content.startswith(_XLSX_MAGIC):
        return _open_xlsx(content)
    return _open_csv(content, encoding=encoding)


def _decode(content: bytes, encoding: str | None) -> tuple[str, str]:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (b"\x00" in content[:200]):
        raise FileRejected(
            "the file is in UTF-16 (or holds NUL bytes); save it as CSV in UTF-8 or GB18030/GBK",
            code="wrong_encoding",
        )
    if encoding is not None:
        if encoding not in ENCODINGS:
            raise FileRejected(
                f"encoding must be one of {list(ENCODINGS)}", code="unsupported_encoding"
            )
        candidates: tuple[str, ...] = (encoding,)
    else:
        candidates = ("utf-8", "gb18030")
    for candidate in candidates:
        try:
            text = content.decode("utf-8-sig" if candidate == "utf-8" else candidate)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, candidate
    guess = _guess_encoding(content)
    raise FileRejected(
        "the file is neither UTF-8 nor GB18030/GBK"
        + (f" (it looks like {guess})" if guess else "")
        + "; save it as CSV in UTF-8 or GB18030",
        code="wrong_encoding",
    )


def _guess_encoding(content: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(content[:65536]).best()
    except Exception:  # only for the message; the refusal stands either way
        return None
    return best.encoding if best is not None else None


def _delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";")}
    return max(counts, key=lambda sep: counts[sep]) if any(counts.values()) else ","


def _open_csv(content: bytes, *, encoding: str | None) -> OpenedFile:
    text, used = _decode(content, encoding)
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True
    )
    try:
        records = list(reader)
    except csv.Error as error:
        raise FileRejected(
            f"the CSV cannot be read near line {reader.line_num}: {error}; "
            "check quotes in that line",
            code="malformed_csv",
        ) from None
    numbered: Iterator[tuple[int, list[str | None], set[int]]] = (
        (i + 1, list[str | None](cells), set()) for i, cells in enumerate(records)
    )
    return _rows_from_cells("csv", used, numbered)


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_xlsx(content: bytes) -> OpenedFile:
    from openpyxl import load_workbook

    try:
        # data_only=False: a formula cell gives its formula text, never a computed value.
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as error:
        raise FileRejected(
            f"not a readable XLSX workbook ({type(error).__name__})", code="unreadable_xlsx"
        ) from None
    except Exception as error:  # openpyxl raises its own InvalidFileException and others
        raise FileRejected(
            f"not a readable XLSX workbook ({type(error).__name__})", code="unreadable_xlsx"
        ) from None
    try:
        sheet = book.worksheets[0]

        def rows() -> Iterator[tuple[int, list[str | None], set[int]]]:
            for number, row in enumerate(sheet.iter_rows(), start=1):
                cells: list[str | None] = []
                formulas: set[int] = set()
                for index, cell in enumerate(row):
                    value = getattr(cell, "value", None)
                    if getattr(cell, "data_type", None) == "f" or (
                        isinstance(value, str) and value.startswith("=")
                    ):
                        formulas.add(index)
                        value = str(value)
                    cells.append(_cell_text(value))
                yield number, cells, formulas

        try:
            return _rows_from_cells("xlsx", None, rows())
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
            raise FileRejected(
                f"the workbook's sheet cannot be read ({type(error).__name__})",
                code="unreadable_xlsx",
            ) from None
    finally:
        book.close()


def _rows_from_cells(
    file_format: str,
    encoding: str | None,
    records: Iterator[tuple[int, list[str | None], set[int]]],
) -> OpenedFile:
    columns: list[str | None] | None = None
    header_keys: list[str] = []
    rows: list[RawRow] = []
    blank = 0
    for number, cells, formulas in records:
        if not any((c or "").strip() for c in cells):
            if columns is not None:
                blank += 1
            continue
        if columns is None:
            columns = map_header(cells)
            header_keys = [_header_key(c or "") for c in cells]
            continue
        if len(rows) >= MAX_ROWS:
            raise FileRejected(
                f"the file has more than {MAX_ROWS} rows; split it", code="too_many_rows"
            )
        rows.append(
            _raw_row(number, cells, formulas, columns, header_keys, csv=file_format == "csv")
        )
    if columns is None:
        raise FileRejected("the file has no header row", code="bad_header")
    return OpenedFile(
        file_format=file_format, encoding=encoding, columns=columns, rows=rows, blank_rows=blank
    )


def _raw_row(
    number: int,
    cells: list[str | None],
    formulas: set[int],
    columns: list[str | None],
    header_keys: list[str],
    *,
    csv: bool,
) -> RawRow:
    values: dict[str, str | None] = {f: None for f in FIELDS}
    flagged: set[str] = set()
    for index, column in enumerate(columns):
        if column is None or index >= len(cells):
            continue
        values[column] = cells[index]
        if index in formulas:
            flagged.add(column)
    row = RawRow(number=number, cells=values, formulas=flagged)
    keys = [_header_key(c or "") for c in cells]
    if keys[: len(header_keys)] == header_keys or all(
        _HEADER_NAMES.get(k) == c for k, c in zip(keys, columns, strict=False) if c is not None
    ):
        row.header_again = True
    else:
        extra = any((c or "").strip() for c in cells[len(columns) :])
        short = csv and any(c is not None for c in columns[len(cells) :])
        if extra or short:
            row.problem = f"the row has {len(cells)} cells, the header {len(columns)}"
    return row
