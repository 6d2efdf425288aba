"""Personal data in free text: find it, mask it, keep the full text only as ciphertext.

What customers (and agents) type into a ticket may carry phone numbers, e-mail
addresses, resident ID numbers, bank card numbers and names (:mod:`ticketing.privacy_names`,
with the customer's own name from the profile). Every text column that can hold
such text is stored twice (see :data:`SEALED_COLUMNS`):

- the column itself (``body``, ``subject`` ...) holds the **masked copy**: every value
  found here replaced by its masked form (``138****5678``, ``z***@example.com``,
  ``1101**********002X``, ``************1234``, ``李*``). Lists, search and reports read it as
  before; it never holds a full value that detection found.
- ``<column>_enc`` holds the **full text** as a vault token (AES-GCM, key id), set only
  when detection found something (otherwise the masked copy *is* the full text, and a
  ciphertext would protect nothing more). So ``_enc IS NOT NULL`` also tells a reader,
  without decrypting, that the text shown to an agent is masked.

Sealing happens in one place, a ``before_flush`` hook on every session the desk makes
(:func:`install`): whichever service writes a message, a subject or a history value, it
is sealed on its way to the database. A session without data keys refuses to flush text
with personal data in it (:class:`SealingUnavailable`) rather than store it in clear.
The one write that bypasses the flush (ticket creation's Core INSERTs, for speed) seals
its rows with :func:`seal_row`, the same rules applied to a row before it is written.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import Select, event, inspect, update
from sqlalchemy.orm import Session, sessionmaker

from ticketing.errors import ValidationFailed
from ticketing.models import Customer, SatisfactionRating, Ticket, TicketEvent, TicketMessage
from ticketing.privacy import (
    DEFAULT_REGION,
    DecryptionFailed,
    Vault,
    mask_email,
    mask_id_number,
    mask_phone,
    normalise_id_number,
)
from ticketing.privacy_names import find_names, mask_name_in_text

# Kinds of personal data found in text; all but card_number are also profile fields
# (disclosure.yml names them all).
PHONE = "phone"
EMAIL = "email"
ID_NUMBER = "id_number"
CARD = "card_number"
NAME = "name"
KINDS = (PHONE, EMAIL, ID_NUMBER, CARD, NAME)

# Model -> its text columns kept as masked copy + ``<column>_enc``.
SEALED_COLUMNS: dict[type[Any], tuple[str, ...]] = {
    TicketMessage: ("body",),
    Ticket: ("subject", "description", "escalation_reason"),
    TicketEvent: ("old_value", "new_value"),
    SatisfactionRating: ("comment",),
}
# Columns with a length limit: the masked copy is cut to fit (it is never longer than
# the original for what detection finds, but a paranoid cut costs nothing).
_LIMITS = {(Ticket, "subject"): 200}

VAULT_INFO_KEY = "desk_vault"


def column_limit(model: type[Any], column: str) -> int | None:
    """The length a sealed column's masked copy is cut to (None: no limit)."""
    return _LIMITS.get((model, column))


# An e-mail address, also inside a URL (``?u=a@b.cn``, ``mailto:``) and URL-encoded
# (``a%40b.cn``). The local part stops at characters a URL uses around it.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._+-]|%(?!40)[0-9A-Fa-f]{2}){0,63}"
    r"(?:@|%40)"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
# 18 characters (17 digits and a check digit or X) not inside a longer run of digits.
_ID_NUMBER = re.compile(r"(?<![0-9０-９])[0-9]{17}[0-9Xx](?![0-9０-９])")
# 13 to 19 digits, optionally in groups split by single spaces or hyphens.
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_DIGITS_ONLY = str.maketrans("", "", " -")
# A time of day with seconds and a fraction (the history's timestamps: 15:59:16.003717).
_CLOCK_TIME = re.compile(r"(?<![0-9])[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?(?![0-9])")
# A mainland mobile number on its own: libphonenumber skips numbers glued to letters
# ("user13812345678", a URL path), so these are also looked for by shape.
_MAINLAND_MOBILE = re.compile(r"(?<![0-9０-９])1[3-9][0-9]{9}(?![0-9０-９])")


class SealingUnavailable(RuntimeError):
    """Text with personal data was about to be stored, but the session has no data keys."""


@dataclass(frozen=True)
class Finding:
    """One value of personal data in a text: where it is and what kind it is."""

    kind: str
    start: int
    end: int
    value: str


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn check (bank card numbers do)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _id_numbers(text: str) -> Iterable[Finding]:
    for match in _ID_NUMBER.finditer(text):
        try:
            normalise_id_number(match.group())
        except ValidationFailed:
            continue
        yield Finding(ID_NUMBER, match.start(), match.end(), match.group())


def _cards(text: str) -> Iterable[Finding]:
    for match in _CARD.finditer(text):
        raw = match.group()
        # A grouped card number followed by more digit groups ("6222 0212 3456 7890 123"):
        # try the whole run, then shorter runs that end where a group ends.
        ends = [len(raw)] + [i for i in range(len(raw) - 1, 0, -1) if raw[i] in " -"]
        for end in ends:
            digits = raw[:end].translate(_DIGITS_ONLY)
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                yield Finding(CARD, match.start(), match.start() + end, raw[:end])
                break


def _phones(text: str) -> Iterable[Finding]:
    # max_tries: libphonenumber gives up after 65535 candidates by default, which a long
    # paste full of numbers reaches; then the rest would stay in clear.
    matcher = phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION, max_tries=sys.maxsize)
    # Clock times are not phone numbers: "15:59:16.003717" would give "16.003717".
    times = [(m.start(), m.end()) for m in _CLOCK_TIME.finditer(text)]
    for match in matcher:
        if any(start < match.end and match.start < end for start, end in times):
            continue
        yield Finding(PHONE, match.start, match.end, match.raw_string)
    for bare in _MAINLAND_MOBILE.finditer(text):
        yield Finding(PHONE, bare.start(), bare.end(), bare.group())


def _emails(text: str) -> Iterable[Finding]:
    for match in _EMAIL.finditer(text):
        yield Finding(EMAIL, match.start(), match.end(), match.group())


def _names(text: str, known: Iterable[str]) -> Iterable[Finding]:
    for start, end in find_names(text, known):
        yield Finding(NAME, start, end, text[start:end])


# When two findings overlap, the one that starts first wins, then the longer one, then
# this order (an ID number is also a run of digits a phone matcher may like).
_PRECEDENCE = {EMAIL: 0, ID_NUMBER: 1, CARD: 2, PHONE: 3, NAME: 4}


def find_personal_data(text: str, *, names: Iterable[str] = ()) -> list[Finding]:
    """Every phone number, e-mail address, resident ID number, card number and personal
    name (:mod:`ticketing.privacy_names`; ``names``: the customer's own, from the
    profile), in order."""
    if not text:
        return []
    candidates = list(_names(text, names))
    if any(ch.isdigit() or ch == "@" or ch == "%" for ch in text):
        candidates += [*_emails(text), *_id_numbers(text), *_cards(text), *_phones(text)]
    candidates.sort(key=lambda f: (f.start, -(f.end - f.start), _PRECEDENCE[f.kind]))
    chosen: list[Finding] = []
    reach = -1
    for finding in candidates:
        if finding.start >= reach:
            chosen.append(finding)
            reach = finding.end
    return chosen


def mask_card(value: str) -> str:
    """``6222 0212 3456 7890`` -> ``**** **** **** 7890`` (only the last four digits)."""
    digits = sum(ch.isdigit() for ch in value)
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_phone_in_text(value: str) -> str:
    """Mobile-length numbers as the profile shows them (``138****5678``); shorter ones
    (landlines, other countries) keep only their last four digits, never most of them."""
    masked = mask_phone(value)
    digits = sum(ch.isdigit() for ch in masked) + masked.count("*")
    if digits >= 11:
        return masked
    return "*" * (digits - 4) + masked[-4:] if digits >= 8 else "*" * digits


def _mask_email_in_text(value: str) -> str:
    if "@" in value:
        return mask_email(value)
    local, _, domain = value.partition("%40")
    return f"{local[0]}***%40{domain}"


_MASKERS = {
    PHONE: _mask_phone_in_text,
    EMAIL: _mask_email_in_text,
    ID_NUMBER: lambda value: mask_id_number(value.upper()),
    CARD: mask_card,
    NAME: mask_name_in_text,
}


def mask_findings(
    text: str, findings: list[Finding], *, clear: frozenset[str] = frozenset()
) -> str:
    """The text with every finding masked, except the kinds named in ``clear``."""
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(
            finding.value if finding.kind in clear else _MASKERS[finding.kind](finding.value)
        )
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def mask_text(text: str, *, clear: frozenset[str] = frozenset(), names: Iterable[str] = ()) -> str:
    """The text with its personal data masked (except the kinds in ``clear``)."""
    return mask_findings(text, find_personal_data(text, names=names), clear=clear)


@dataclass(frozen=True)
class SealedText:
    """What is stored for one text: the masked copy, and the full text's token (or None)."""

    masked: str
    token: str | None


def seal(text: str, *, vault: Vault | None, names: Iterable[str] = ()) -> SealedText:
    """Mask a text for storage and encrypt the full text when it carried personal data
    (``names``: the customer's own, masked wherever they appear)."""
    findings = find_personal_data(text, names=names)
    if not findings:
        return SealedText(text, None)
    if vault is None:
        raise SealingUnavailable(
            "ticket text with personal data cannot be stored: this session has no data keys"
        )
    return SealedText(mask_findings(text, findings), vault.encrypt(text))


def full_text(masked: str | None, token: str | None, *, vault: Vault) -> str | None:
    """The full text of a sealed column (raises DecryptionFailed naming a missing key id)."""
    if token is None:
        return masked
    return vault.decrypt(token)


@dataclass(frozen=True)
class ShownText:
    """A text as one caller may see it."""

    text: str | None
    # Something in it is masked for this caller (a reveal shows it).
    masked: bool
    # Kinds of personal data shown in clear (a view that the audit log must record).
    shown_in_clear: frozenset[str]


def show(
    masked: str | None, token: str | None, *, clear: frozenset[str], vault: Vault
) -> ShownText:
    """A sealed text for a caller who sees the kinds in ``clear`` in clear, the rest masked.

    Callers with nothing in clear read the stored masked copy (no decryption at all).
    """
    if token is None:
        return ShownText(masked, False, frozenset())
    if not clear:
        return ShownText(masked, True, frozenset())
    text = vault.decrypt(token)
    findings = find_personal_data(text)
    kinds = {f.kind for f in findings}
    return ShownText(
        mask_findings(text, findings, clear=clear),
        bool(kinds - clear),
        frozenset(kinds & clear),
    )


def _customer(session: Session, obj: object) -> Customer | None:
    """The customer whose ticket a text belongs to (None when not known yet).

    A ticket created in this very flush, with its first message and a customer who is
    new too, has no ids yet: the objects linked in memory are followed instead (read
    from the instance's state, never loaded: the relationships are lazy="raise")."""
    ticket: object | None = obj
    if not isinstance(obj, Ticket | SatisfactionRating):
        ticket = obj.__dict__.get("ticket")
        if ticket is None:
            ticket_id = getattr(obj, "ticket_id", None)
            ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is None:
        return None
    customer = ticket.__dict__.get("customer")
    if isinstance(customer, Customer):
        return customer
    customer_id = getattr(ticket, "customer_id", None)
    return session.get(Customer, customer_id) if customer_id is not None else None


def names_of(customer: Customer, vault: Vault | None) -> tuple[str, ...]:
    """The customer's own name (decrypted from the profile), masked wherever it appears."""
    if vault is None or not customer.display_name_enc:
        return ()
    try:
        return (vault.decrypt(customer.display_name_enc),)
    except DecryptionFailed:
        return ()


def seal_row(
    model: type[Any], row: dict[str, Any], *, vault: Vault | None, names: Iterable[str] = ()
) -> dict[str, Any]:
    """A row about to be inserted without the ORM, its text columns sealed as a flush
    would seal them (masked copy in the column, full text in ``<column>_enc``)."""
    sealed = dict(row)
    for column in SEALED_COLUMNS.get(model, ()):
        value = row.get(column)
        if value is None:
            sealed[f"{column}_enc"] = None
            continue
        result = seal(str(value), vault=vault, names=names)
        limit = _LIMITS.get((model, column))
        sealed[column] = result.masked[:limit] if limit else result.masked
        sealed[f"{column}_enc"] = result.token
    return sealed


class _KnownNames:
    """The customers' own names (decrypted from their profiles) for one flush."""

    def __init__(self, session: Session, vault: Vault | None) -> None:
        self._session = session
        self._vault = vault
        self._by_customer: dict[int, tuple[str, ...]] = {}

    def of(self, obj: object) -> tuple[str, ...]:
        if self._vault is None:
            return ()
        with self._session.no_autoflush:
            customer = _customer(self._session, obj)
            if customer is None:
                return ()
            key = id(customer)
            if key not in self._by_customer:
                self._by_customer[key] = names_of(customer, self._vault)
        return self._by_customer[key]


def seal_pending(session: Session, vault: Vault | None) -> int:
    """Seal every new or changed text column of the session's objects; how many were."""
    sealed = 0
    known = _KnownNames(session, vault)
    for obj in (*session.new, *session.dirty):
        columns = SEALED_COLUMNS.get(type(obj))
        if not columns:
            continue
        state = inspect(obj)
        for column in columns:
            if obj not in session.new and not state.attrs[column].history.has_changes():
                continue
            value = getattr(obj, column)
            if value is None:
                setattr(obj, f"{column}_enc", None)
                continue
            result = seal(str(value), vault=vault, names=known.of(obj))
            limit = _LIMITS.get((type(obj), column))
            masked = result.masked[:limit] if limit else result.masked
            if masked != value:
                setattr(obj, column, masked)
            setattr(obj, f"{column}_enc", result.token)
            sealed += result.token is not None
    return sealed


def forget_full_text(session: Session, *, ticket_ids: Select[Any]) -> None:
    """Drop the sealed full text of these tickets (erasure): every message, history value
    and escalation reason keeps only its masked copy, whoever wrote it."""
    for model, columns in SEALED_COLUMNS.items():
        if model is SatisfactionRating:
            continue
        key = model.id if model is Ticket else model.ticket_id
        session.execute(
            update(model)
            .where(key.in_(ticket_ids))
            .values({f"{column}_enc": None for column in columns})
            .execution_options(synchronize_session=False)
        )


def session_vault(session: Session) -> Vault | None:
    """The data keys this session seals with (None: it refuses personal data)."""
    vault: Vault | None = session.info.get(VAULT_INFO_KEY)
    return vault


def bind_vault(session: Session, vault: Vault) -> None:
    """Let a session that has no data keys seal with these (a service handed the vault).

    Sessions from :class:`ticketing.db.Database` built from full settings have their own.
    """
    session.info.setdefault(VAULT_INFO_KEY, vault)


def install(factory: sessionmaker[Session], vault: Vault | None) -> None:
    """Seal personal data in ticket text on every flush of the factory's sessions."""
    if vault is not None:
        factory.kw.setdefault("info", {})[VAULT_INFO_KEY] = vault

    @event.listens_for(factory, "before_flush")
    def _seal(session: Session, _context: Any, _instances: Any) -> None:
        seal_pending(session, session.info.get(VAULT_INFO_KEY))
