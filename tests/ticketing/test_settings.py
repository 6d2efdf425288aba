import base64
import os

import pytest
from pydantic import ValidationError

from ticketing.settings import DatabaseSettings, Settings


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "service_token": "a-long-enough-service-token",
        "data_keys": f"k1:{key()}",
        "blind_index_key": key(),
        "jwt_secret": "j" * 16 + "w" * 16 + "t" * 8,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class TestDatabaseUrl:
    @pytest.mark.parametrize(
        "raw",
        [
            "postgres://u@h:5432/db",
            "postgresql://u@h:5432/db",
            "postgresql+psycopg://u@h:5432/db",
        ],
    )
    def test_postgres_urls_use_psycopg3(self, raw: str) -> None:
        assert DatabaseSettings(database_url=raw).database_url == "postgresql+psycopg://u@h:5432/db"

    def test_sqlite_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
        assert DatabaseSettings().database_url == "sqlite:///./.run/desk.db"


class TestSecrets:
    def test_valid(self) -> None:
        loaded = settings(data_keys=f"new:{key()},old:{key()}")
        assert list(loaded.key_ring) == ["new", "old"]
        assert loaded.max_body_bytes == 64 * 1024

    def test_missing_token_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DESK_SERVICE_TOKEN", raising=False)
        with pytest.raises(ValidationError, match="service_token"):
            Settings(  # type: ignore[call-arg]
                _env_file=None, data_keys=f"k1:{key()}", blind_index_key=key(), jwt_secret="x" * 40
            )

    def test_short_token_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="at least 16"):
            settings(service_token="short")

    def test_short_jwt_secret_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="DESK_JWT_SECRET must be at least 32"):
            settings(jwt_secret="only-twenty-chars-ok")

    def test_staff_token_lifetime_is_bounded(self) -> None:
        assert settings().staff_token_minutes == 480
        with pytest.raises(ValidationError, match="staff_token_minutes"):
            settings(staff_token_minutes=0)

    def test_data_key_of_wrong_size_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="32 bytes"):
            settings(data_keys="k1:" + base64.b64encode(b"tiny").decode())

    def test_data_keys_without_id_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="keyid"):
            settings(data_keys=key())

    def test_reads_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DESK_SERVICE_TOKEN", "token-from-the-environment")
        monkeypatch.setenv("DESK_DATA_KEYS", f"env:{key()}")
        monkeypatch.setenv("DESK_BLIND_INDEX_KEY", key())
        monkeypatch.setenv("DESK_JWT_SECRET", "s" * 48)
        monkeypatch.setenv("DESK_ENV", "production")
        monkeypatch.setenv("REDIS_URL", "")
        loaded = Settings(_env_file=None)  # type: ignore[call-arg]
        assert loaded.service_token.get_secret_value() == "token-from-the-environment"
        assert loaded.env == "production"
        assert loaded.redis_url is None
        assert list(loaded.key_ring) == ["env"]
