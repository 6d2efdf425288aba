"""Cleansing of imported customer records: one raw row in, a clean record or the reasons out.

Names trimmed (at most 50 characters), dates as YYYY-MM-DD, phones in E.164 through
phonenumbers, e-mails validated, resident ID numbers checksummed, channels and tags
mapped through ``ticketing/import_channels.yml``. No personal value ever goes into a
reason: reasons name the field and what is wrong with it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ticketing.customer_files import FIELDS, FORMULA_STARTS, RawRow
from ticketing.errors import ValidationFailed
from ticketing.privacy import normalise_email, normalise_id_number, normalise_phone

CHANNELS_PATH = Path(__file__).resolve().parent.parent / "import_channels.yml"
MAX_NAME = 50
MAX_TAG = 40
MAX_TAGS = 20
# A date a day ahead is a time zone; more is a typo.
FUTURE_SLACK = timedelta(days=1)
_TAG_SPLIT = re.compile(r"[,;，；、|/]+")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ChannelBook:
    """The import channels in priority order (own channels first), their aliases, tags."""

    keys: tuple[str, ...]
    kinds: dict[str, str]
    aliases: dict[str, str]
    tags: dict[str, str]

    def rank(self, key: str | None) -> int:
        """Lower is preferred; the desk's own conversations (``None``) come before all."""
        return -1 if key is None else self.keys.index(key)

    def channel(self, text: str) -> str | None:
        """The channel key a cell names, or None."""
        return self.aliases.get(_fold(text))


def _fold(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


@lru_cache(maxsize=1)
def channel_book() -> ChannelBook:
    """The packaged channel list and tag mapping."""
    with CHANNELS_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    keys = tuple(str(c["key"]) for c in data["channels"])
    aliases: dict[str, str] = {}
    for item in data["channels"]:
        for alias in [item["key"], *item.get("aliases", [])]:
            aliases[_fold(str(alias))] = str(item["key"])
    tags = {
        _fold(str(alias)): str(tag)
        for tag, names in data["tags"].items()
        for alias in [tag, *names]
    }
    return ChannelBook(
        keys=keys,
        kinds={str(c["key"]): str(c["kind"]) for c in data["channels"]},
        aliases=aliases,
        tags=tags,
    )


@dataclass
class Record:
    """A clean record, ready to merge."""

    row: int
    channel: str
    name: str | None
    phone: str | None
    email: str | None
    id_number: str | None
    tags: tuple[str, ...]
    updated_at: datetime | None
    name_truncated: bool = False


@dataclass
class Checked:
    """What cleansing found in one row: the record or the reasons, and per-field tallies."""

    row: RawRow
    channel: str | None
    record: Record | None = None
    reasons: list[dict[str, str]] = field(default_factory=list)
    filled: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)


def _reason(field_name: str, code: str, message: str) -> dict[str, str]:
    return {"field": field_name, "code": code, "message": message}


def parse_date(text: str, *, now: datetime) -> datetime:
    """A date (optionally with a time) as UTC midnight of that day; ValueError otherwise."""
    match = _DATE.match(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        raise ValueError("not a date")
    year, month, day = (int(match.group(i)) for i in (1, 2, 3))
    moment = datetime(year, month, day, tzinfo=UTC)
    if moment > now + FUTURE_SLACK:
        raise ValueError("in the future")
    if year < 1900:
        raise ValueError("before 1900")
    return moment


def clean_name(text: str) -> tuple[str, bool]:
    """Trimmed, inner spaces collapsed, full-width folded; at most 50 characters."""
    name = _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return name[:MAX_NAME], len(name) > MAX_NAME


def map_tags(text: str, *, book: ChannelBook) -> list[str]:
    """The desk's tags for a cell of tags ("VIP；高价值" -> ["high_value", "vip"])."""
    found: set[str] = set()
    for part in _TAG_SPLIT.split(text):
        folded = _fold(part)
        if not folded:
            continue
        if folded.startswith(FORMULA_STARTS):
            raise ValueError("formula")
        tag = book.tags.get(folded, folded)
        if len(tag) > MAX_TAG:
            raise ValueError("too long")
        found.add(tag)
    if len(found) > MAX_TAGS:
        raise ValueError("too many")
    return sorted(found)


def check_row(
    row: RawRow,
    *,
    book: ChannelBook,
    default_channel: str | None = None,
    paused: frozenset[str] = frozenset(),
    now: datetime,
) -> Checked:
    """Cleanse one row: a Record when every given value is valid, else the reasons."""
    cells = {f: (row.cells.get(f) or "").strip() for f in FIELDS}
    channel_text = cells["channel"]
    channel = book.channel(channel_text) if channel_text else default_channel
    checked = Checked(row=row, channel=channel)
    checked.filled = {f for f in FIELDS if cells[f]}
    reasons = checked.reasons
    if row.header_again:
        reasons.append(_reason("", "header_row", "a header row repeated inside the data"))
        return checked
    if row.problem:
        reasons.append(_reason("", "malformed_row", row.problem))
        return checked
    # Never evaluated, never stored: a formula (or, in a text field, what a spreadsheet
    # would run as one) rejects the row.
    formulas = set(row.formulas) | {f for f in FIELDS if cells[f].startswith("=")}
    formulas |= {f for f in ("name", "channel", "tags") if cells[f].startswith(FORMULA_STARTS)}
    for flagged in sorted(formulas):
        reasons.append(_reason(flagged, "formula", "cells holding formulas are not imported"))
    if "channel" in formulas:
        channel_text = ""
        checked.channel = channel = default_channel
    if channel_text and channel is None:
        reasons.append(_reason("channel", "unknown_channel", "not a known channel"))
    elif channel is None:
        reasons.append(_reason("channel", "missing_channel", "every record names its channel"))
    elif channel in paused:
        reasons.append(_reason("channel", "channel_paused", "imports from this channel are paused"))
    if not cells["phone"] and not cells["email"]:
        reasons.append(
            _reason("phone", "no_contact", "a record needs a phone number or an e-mail address")
        )

    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    updated_at: datetime | None = None
    tags: list[str] = []
    name: str | None = None
    truncated = False
    if cells["name"]:
        name, truncated = clean_name(cells["name"])
    if cells["phone"] and "phone" not in formulas:
        try:
            phone = normalise_phone(cells["phone"])
        except ValidationFailed:
            reasons.append(_reason("phone", "invalid_phone", "not a valid phone number"))
    if cells["email"] and "email" not in formulas:
        try:
            email = normalise_email(cells["email"])
        except ValidationFailed:
            reasons.append(_reason("email", "invalid_email", "not a valid e-mail address"))
    if cells["id_number"] and "id_number" not in formulas:
        try:
            id_number = normalise_id_number(cells["id_number"])
        except ValidationFailed as error:
            reasons.append(_reason("id_number", "invalid_id_number", error.message))
    if cells["updated_at"] and "updated_at" not in formulas:
        try:
            updated_at = parse_date(cells["updated_at"], now=now)
        except ValueError as error:
            reasons.append(
                _reason("updated_at", "invalid_date", f"not a date as YYYY-MM-DD ({error})")
            )
    if cells["tags"] and "tags" not in formulas:
        try:
            tags = map_tags(cells["tags"], book=book)
        except ValueError as error:
            reasons.append(_reason("tags", "invalid_tags", f"tags not usable ({error})"))
    checked.invalid = {r["field"] for r in reasons if r["field"] in checked.filled}
    if reasons or channel is None:
        return checked
    checked.record = Record(
        row=row.number,
        channel=channel,
        name=name,
        phone=phone,
        email=email,
        id_number=id_number,
        tags=tuple(tags),
        updated_at=updated_at,
        name_truncated=truncated,
    )
    return checked
