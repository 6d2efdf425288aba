"""The ticketing service's settings, read from the environment once per process."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 16
MIN_JWT_SECRET_LENGTH = 32
DATA_KEY_BYTES = 32
# The audit log is kept at least this long (company policy); a migration enforces it on
# PostgreSQL too (0008: the trigger refuses to delete younger entries).
MIN_AUDIT_RETENTION_YEARS = 3


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at the psycopg 3 driver, whatever scheme they were given with."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def decode_key(value: str, *, name: str) -> bytes:
    """A base64 key of exactly 32 bytes, or a ValueError naming the setting."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{name} is not valid base64") from error
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"{name} must decode to {DATA_KEY_BYTES} bytes, not {len(key)}")
    return key


def parse_data_keys(value: str) -> dict[str, bytes]:
    """Parse ``id:base64key[,id:key...]`` into an ordered key ring (the first is active)."""
    ring: dict[str, bytes] = {}
    for item in value.split(","):
        key_id, sep, encoded = item.strip().partition(":")
        if not sep or not key_id:
            raise ValueError("DESK_DATA_KEYS items must look like 'keyid:base64key'")
        if key_id in ring:
            raise ValueError(f"DESK_DATA_KEYS repeats key id {key_id!r}")
        ring[key_id] = decode_key(encoded, name=f"DESK_DATA_KEYS[{key_id}]")
    if not ring:
        raise ValueError("DESK_DATA_KEYS holds no key")
    return ring


class DatabaseSettings(BaseSettings):
    """What migrations need: only where the database is (no secrets)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="sqlite:///./.run/desk.db",
        validation_alias=AliasChoices("database_url", "DATABASE_URL"),
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        return normalise_database_url(value.strip())


class Settings(DatabaseSettings):
    """Everything the API and the seed need. Secrets have no defaults on purpose."""

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("redis_url", "REDIS_URL")
    )
    env: Environment = Field(
        default=Environment.DEVELOPMENT, validation_alias=AliasChoices("env", "DESK_ENV")
    )
    service_token: SecretStr = Field(
        validation_alias=AliasChoices("service_token", "DESK_SERVICE_TOKEN")
    )
    data_keys: SecretStr = Field(validation_alias=AliasChoices("data_keys", "DESK_DATA_KEYS"))
    blind_index_key: SecretStr = Field(
        validation_alias=AliasChoices("blind_index_key", "DESK_BLIND_INDEX_KEY")
    )
    jwt_secret: SecretStr = Field(validation_alias=AliasChoices("jwt_secret", "DESK_JWT_SECRET"))
    staff_token_minutes: int = Field(
        default=8 * 60,
        gt=0,
        le=7 * 24 * 60,
        validation_alias=AliasChoices("staff_token_minutes", "DESK_STAFF_TOKEN_MINUTES"),
    )
    sla_scheduler: bool = Field(
        default=True, validation_alias=AliasChoices("sla_scheduler", "DESK_SLA_SCHEDULER")
    )
    sla_scan_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("sla_scan_seconds", "DESK_SLA_SCAN_SECONDS"),
    )
    rasa_url: str | None = Field(
        default=None,
        description="Rasa's HTTP API, where the handoff relay delivers agents' replies",
        validation_alias=AliasChoices("rasa_url", "DESK_RASA_URL"),
    )
    rasa_jwt_secret: SecretStr | None = Field(
        default=None,
        description="Signs the relay's JWTs for Rasa's HTTP API (bot/serve.py checks them)",
        validation_alias=AliasChoices("rasa_jwt_secret", "DESK_RASA_JWT_SECRET"),
    )
    relay: bool = Field(
        default=True,
        description="Run the handoff relay in the API process (when rasa_url is set)",
        validation_alias=AliasChoices("relay", "DESK_RELAY"),
    )
    relay_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        validation_alias=AliasChoices("relay_poll_seconds", "DESK_RELAY_POLL_SECONDS"),
    )
    # A live-event stream ends after this long; the page reconnects with a fresh stream
    # ticket (so a deactivated account or a changed role stops receiving events).
    event_stream_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        validation_alias=AliasChoices("event_stream_seconds", "DESK_EVENT_STREAM_SECONDS"),
    )
    # The retention schedule (ticketing/retention.py; README, "Retention"). Periods in days
    # unless named otherwise; the audit log is never kept less than 3 years.
    retention_scheduler: bool = Field(
        default=True,
        description="Run the retention check in this process (one instance runs each purge)",
        validation_alias=AliasChoices("retention_scheduler", "DESK_RETENTION_SCHEDULER"),
    )
    retention_run_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 31,
        description="Hours between two purges, across all instances",
        validation_alias=AliasChoices("retention_run_hours", "DESK_RETENTION_RUN_HOURS"),
    )
    retention_check_seconds: float = Field(
        default=300.0,
        gt=0,
        le=24 * 3600,
        description="Seconds between two checks whether a purge is due",
        validation_alias=AliasChoices("retention_check_seconds", "DESK_RETENTION_CHECK_SECONDS"),
    )
    backup_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 31,
        description="Hours between two scheduled backups across instances (0: none)",
        validation_alias=AliasChoices("backup_hours", "DESK_BACKUP_HOURS"),
    )
    backup_dir: str = Field(
        default=".run/backups",
        min_length=1,
        description="Where scheduled backups go (scripts/backup.py --dir)",
        validation_alias=AliasChoices("backup_dir", "DESK_BACKUP_DIR"),
    )
    closed_ticket_retention_days: int = Field(
        default=365,
        ge=1,
        le=36500,
        validation_alias=AliasChoices(
            "closed_ticket_retention_days", "DESK_CLOSED_TICKET_RETENTION_DAYS"
        ),
    )
    idempotency_key_retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        validation_alias=AliasChoices(
            "idempotency_key_retention_days", "DESK_IDEMPOTENCY_KEY_RETENTION_DAYS"
        ),
    )
    relay_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        validation_alias=AliasChoices("relay_retention_days", "DESK_RELAY_RETENTION_DAYS"),
    )
    # The same variable the bot's tracker stores read (bot/tracker_store.py).
    conversation_retention_days: float = Field(
        default=30.0,
        gt=0,
        le=36500,
        validation_alias=AliasChoices(
            "conversation_retention_days", "DESK_CONVERSATION_RETENTION_DAYS"
        ),
    )
    conversation_store: str | None = Field(
        default=None,
        description=(
            "Where Rasa keeps conversations: a redis:// URL or an SQLAlchemy URL of the SQL "
            "tracker store; unset: the Redis of REDIS_URL, else none"
        ),
        validation_alias=AliasChoices("conversation_store", "DESK_CONVERSATION_STORE"),
    )
    conversation_key_prefix: str = Field(
        default="desk",
        min_length=1,
        max_length=100,
        description="The Redis tracker store's key_prefix (endpoints.yml)",
        validation_alias=AliasChoices("conversation_key_prefix", "DESK_CONVERSATION_KEY_PREFIX"),
    )
    audit_retention_years: int = Field(
        default=3,
        ge=MIN_AUDIT_RETENTION_YEARS,
        le=100,
        validation_alias=AliasChoices("audit_retention_years", "DESK_AUDIT_RETENTION_YEARS"),
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        gt=0,
        validation_alias=AliasChoices("max_body_bytes", "DESK_MAX_BODY_BYTES"),
    )
    # Customer imports (POST /api/v1/customers/imports) take files up to this size; a
    # larger upload is refused with 413 before it is read.
    import_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        validation_alias=AliasChoices("import_max_bytes", "DESK_IMPORT_MAX_BYTES"),
    )
    # The load balancers whose X-Forwarded-For names the real client (addresses or
    # networks, comma-separated; "*" trusts anyone and is refused). The log-in throttle,
    # /metrics' scraper list and the logs see that client; from anyone else the header
    # is ignored. Default: a load balancer on this machine.
    trusted_proxies: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("trusted_proxies", "DESK_TRUSTED_PROXIES"),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"DESK_TRUSTED_PROXIES: {item!r} is not an address or a network"
                ) from None
        return value

    @field_validator(
        "redis_url", "rasa_url", "rasa_jwt_secret", "conversation_store", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("service_token")
    @classmethod
    def _strong_token(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"DESK_SERVICE_TOKEN must be at least {MIN_SECRET_LENGTH} characters")
        if len(set(secret)) < 4:
            raise ValueError("DESK_SERVICE_TOKEN is too weak (too few distinct characters)")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _strong_jwt_secret(cls, value: SecretStr) -> SecretStr:
        # HS256 keys shorter than the hash are brute-forceable offline from any issued token.
        if len(value.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(f"DESK_JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters")
        return value

    @field_validator("data_keys")
    @classmethod
    def _valid_data_keys(cls, value: SecretStr) -> SecretStr:
        parse_data_keys(value.get_secret_value())
        return value

    @field_validator("blind_index_key")
    @classmethod
    def _valid_blind_index_key(cls, value: SecretStr) -> SecretStr:
        decode_key(value.get_secret_value(), name="DESK_BLIND_INDEX_KEY")
        return value

    @property
    def key_ring(self) -> dict[str, bytes]:
        """The data keys by id, the active one first."""
        return parse_data_keys(self.data_keys.get_secret_value())

    @property
    def blind_index_key_bytes(self) -> bytes:
        """The raw HMAC key for blind indexes."""
        return decode_key(self.blind_index_key.get_secret_value(), name="DESK_BLIND_INDEX_KEY")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
