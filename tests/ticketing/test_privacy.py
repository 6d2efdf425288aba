import os

import pytest

from ticketing.errors import ValidationFailed
from ticketing.privacy import (
    DecryptionFailed,
    Vault,
    mask_email,
    mask_phone,
    normalise_email,
    normalise_phone,
)


def key() -> bytes:
    return os.urandom(32)


class TestVault:
    def test_roundtrip(self) -> None:
        vault = Vault({"k1": key()}, key())
        token = vault.encrypt("13812345678")
        assert token.startswith("k1:")
        assert "13812345678" not in token
        assert vault.decrypt(token) == "13812345678"

    def test_same_plaintext_encrypts_differently(self) -> None:
        vault = Vault({"k1": key()}, key())
        assert vault.encrypt("x") != vault.encrypt("x")

    def test_old_key_still_decrypts_after_rotation(self) -> None:
        old, new = key(), key()
        token = Vault({"k1": old}, key()).encrypt("zhang@example.com")
        rotated = Vault({"k2": new, "k1": old}, key())
        assert rotated.decrypt(token) == "zhang@example.com"
        assert rotated.encrypt("x").startswith("k2:")

    def test_unknown_key_id_fails(self) -> None:
        token = Vault({"k1": key()}, key()).encrypt("secret")
        with pytest.raises(DecryptionFailed):
            Vault({"k2": key()}, key()).decrypt(token)

    def test_tampered_ciphertext_fails(self) -> None:
        vault = Vault({"k1": key()}, key())
        token = vault.encrypt("secret")
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        with pytest.raises(DecryptionFailed):
            vault.decrypt(tampered)

    def test_wrong_key_with_same_id_fails(self) -> None:
        token = Vault({"k1": key()}, key()).encrypt("secret")
        with pytest.raises(DecryptionFailed):
            Vault({"k1": key()}, key()).decrypt(token)

    def test_blind_index_is_stable_and_keyed(self) -> None:
        index_key = key()
        a = Vault({"k1": key()}, index_key)
        b = Vault({"k9": key()}, index_key)
        assert a.blind_index("phone", "+8613812345678") == b.blind_index("phone", "+8613812345678")
        assert len(a.blind_index("phone", "+8613812345678")) == 64
        other = Vault({"k1": key()}, key())
        assert a.blind_index("phone", "+86138") != other.blind_index("phone", "+86138")

    def test_blind_index_separates_kinds(self) -> None:
        vault = Vault({"k1": key()}, key())
        assert vault.blind_index("rest", "abc") != vault.blind_index("web_session", "abc")


class TestMasks:
    def test_phone(self) -> None:
        assert mask_phone("13812345678") == "138****5678"

    def test_phone_in_e164(self) -> None:
        assert mask_phone("+8613812345678") == "138****5678"

    def test_email(self) -> None:
        assert mask_email("zhang@example.com") == "z***@example.com"


class TestNormalisation:
    @pytest.mark.parametrize(
        "raw", ["13812345678", "+86 138 1234 5678", "138-1234-5678", "+8613812345678"]
    )
    def test_mainland_mobile_to_e164(self, raw: str) -> None:
        assert normalise_phone(raw) == "+8613812345678"

    @pytest.mark.parametrize("raw", ["12345", "not a phone", "1381234567"])
    def test_invalid_phone(self, raw: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            normalise_phone(raw, field="customer.phone")
        assert caught.value.field == "customer.phone"
        assert caught.value.status_code == 422

    def test_email(self) -> None:
        assert normalise_email(" Zhang@Example.COM ") == "zhang@example.com"

    def test_invalid_email(self) -> None:
        with pytest.raises(ValidationFailed):
            normalise_email("zhang@")


class TestIdNumbers:
    @pytest.mark.parametrize(
        "value", ["11010519491231002X", " 11010519491231002x ", "1101051949 1231002X"]
    )
    def test_valid_numbers_normalise(self, value: str) -> None:
        from ticketing.privacy import normalise_id_number

        assert normalise_id_number(value) == "11010519491231002X"

    @pytest.mark.parametrize(
        "value", ["110105194912310021", "1101051949123100", "11010519491231002Y", "abc"]
    )
    def test_bad_check_digit_or_shape_is_refused(self, value: str) -> None:
        from ticketing.privacy import normalise_id_number

        with pytest.raises(ValidationFailed) as error:
            normalise_id_number(value)
        assert error.value.field == "id_number"


class TestMoreMasks:
    def test_id_number(self) -> None:
        from ticketing.privacy import mask_id_number

        assert mask_id_number("11010519491231002X") == "1101**********002X"
        assert mask_id_number("1234") == "****"

    @pytest.mark.parametrize(
        ("name", "masked"),
        [("李雷", "李*"), ("欧阳娜娜", "欧***"), ("Sam Taylor", "S*** T***"), ("  ", "")],
    )
    def test_names_keep_only_the_surname(self, name: str, masked: str) -> None:
        from ticketing.privacy import mask_name

        assert mask_name(name) == masked
