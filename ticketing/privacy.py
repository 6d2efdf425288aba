"""Personal data: encryption at rest, blind indexes for lookup, masking and normalisation.

Phone numbers and e-mails are stored only as AES-GCM ciphertext (``keyid:base64(nonce+ct)``)
plus a keyed HMAC ("blind index") that lets us find an exact match without decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import phonenumbers
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from email_validator import EmailNotValidError, validate_email

from ticketing.errors import ValidationFailed
from ticketing.settings import Settings

NONCE_BYTES = 12
DEFAULT_REGION = "CN"


class DecryptionFailed(Exception):
    """A token could not be decrypted: unknown key id, wrong key or tampered data."""


class Vault:
    """Holds the data keys (active key first) and the blind-index key of one process."""

    def __init__(self, key_ring: dict[str, bytes], blind_index_key: bytes) -> None:
        if not key_ring:
            raise ValueError("a vault needs at least one data key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in key_ring.items()}
        self._active_key_id = next(iter(key_ring))
        self._blind_index_key = blind_index_key

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """A vault with the keys of the given settings."""
        return cls(settings.key_ring, settings.blind_index_key_bytes)

    @property
    def active_key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self._active_key_id

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the active key; the key id travels with the ciphertext."""
        nonce = os.urandom(NONCE_BYTES)
        key_id = self._active_key_id
        sealed = self._ciphers[key_id].encrypt(nonce, plaintext.encode(), key_id.encode())
        return f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        """Decrypt a token with the key it names, so values survive key rotation."""
        key_id, sep, payload = token.partition(":")
        cipher = self._ciphers.get(key_id)
        if not sep or cipher is None:
            raise DecryptionFailed(f"no data key with id {key_id!r}")
        try:
            raw = base64.b64decode(payload, validate=True)
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], key_id.encode())
        except (InvalidTag, ValueError) as error:
            raise DecryptionFailed("ciphertext does not authenticate") from error
        return plaintext.decode()

    def blind_index(self, kind: str, normalised_value: str) -> str:
        """A stable keyed hash of a normalised value, scoped by its kind (hex, 64 chars)."""
        message = f"{kind}\x00{normalised_value}".encode()
        return hmac.new(self._blind_index_key, message, hashlib.sha256).hexdigest()


def normalise_phone(value: str, *, region: str = DEFAULT_REGION, field: str = "phone") -> str:
    """E.164 form of a phone number (mainland numbers without +86 are accepted)."""
    try:
        parsed = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException as error:
        raise ValidationFailed("not a phone number", field=field, code="invalid_phone") from error
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed("not a valid phone number", field=field, code="invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str, *, field: str = "email") -> str:
    """The normalised form of an e-mail address (domain lower-cased; no DNS lookup)."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(
            "not a valid e-mail address", field=field, code="invalid_email"
        ) from error
    local, _, domain = result.normalized.rpartition("@")
    # Mailboxes are case-insensitive in practice; one customer must not become two.
    return f"{local.lower()}@{domain.lower()}"


def mask_phone(value: str) -> str:
    """``13812345678`` or ``+8613812345678`` -> ``138****5678``."""
    digits = value
    try:
        parsed = phonenumbers.parse(value, DEFAULT_REGION)
        digits = phonenumbers.national_significant_number(parsed)
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(value: str) -> str:
    """``zhang@example.com`` -> ``z***@example.com``."""
    local, sep, domain = value.rpartition("@")
    if not sep or not local:
        return "***"
    return f"{local[0]}***@{domain}"


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise_id_number(value: str, *, field: str = "id_number") -> str:
    """An 18-character mainland resident ID number with a valid check character (GB 11643)."""
    candidate = value.strip().upper().replace(" ", "")
    if len(candidate) != 18 or not candidate[:17].isdigit() or candidate[17] not in "0123456789X":
        raise ValidationFailed(
            "a resident ID number has 17 digits and a check digit or X",
            field=field,
            code="invalid_id_number",
        )
    total = sum(
        int(digit) * weight for digit, weight in zip(candidate[:17], _ID_WEIGHTS, strict=True)
    )
    if _ID_CHECK[total % 11] != candidate[17]:
        raise ValidationFailed(
            "the ID number's check digit does not match", field=field, code="invalid_id_number"
        )
    return candidate


def mask_id_number(value: str) -> str:
    """``110101199003071234`` -> ``1101**********1234``."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_name(value: str) -> str:
    """Surname only: ``李雷`` -> ``李*``; ``Sam Taylor`` -> ``S*** T***``.

    Chinese names keep the first character (the surname); Latin names keep the first
    letter of each part.
    """
    name = value.strip()
    if not name:
        return ""
    if any("\u4e00" <= ch <= "\u9fff" for ch in name):
        return name[0] + "*" * max(len(name) - 1, 1)
    return " ".join(f"{part[0]}***" for part in name.split())


MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "name": mask_name,
}
