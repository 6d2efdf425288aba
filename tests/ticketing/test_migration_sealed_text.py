"""Migration 0007 seals the ticket text already stored, and its downgrade gives it back."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from tests.support_service.database import empty_database
from ticketing.db import make_engine
from ticketing.migrate import alembic_config
from ticketing.privacy import Vault

TEXTS = {
    ("ticket_messages", "body"): "我的电话 13812345678，邮箱 zhang@example.com",
    ("tickets", "subject"): "call +86 139 8765 4321",
    ("tickets", "description"): "卡号 4111 1111 1111 1111",
    ("tickets", "escalation_reason"): "customer: ID 11010519491231002X",
    ("ticket_events", "new_value"): "ring 13812345678",
    ("satisfaction_ratings", "comment"): "great, call me at 13812345678",
}
PLAIN = {("ticket_events", "old_value"): "宽带连不上了"}


@pytest.fixture
def empty_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with empty_database(tmp_path, label="s") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("DESK_DATA_KEYS", raising=False)
        yield url


def migrate(direction: str, revision: str, vault: Vault | None = None) -> None:
    config = alembic_config()
    config.attributes["configure_logging"] = False
    if vault is not None:
        config.attributes["vault"] = vault
    getattr(command, direction)(config, revision)


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 12, 1, tzinfo=UTC)
    if isinstance(kind, sa.JSON):
        return {}
    return "x"


def seed_0006(url: str) -> None:
    """One row per table the migration touches, holding the texts above (as 0006 stored them)."""
    engine = make_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    values: dict[str, dict[str, Any]] = {}
    for (table, column), text in {**TEXTS, **PLAIN}.items():
        values.setdefault(table, {})[column] = text
    with engine.begin() as connection:
        for name in (
            "queues",
            "customers",
            "tickets",
            "ticket_messages",
            "ticket_events",
            "satisfaction_ratings",
        ):
            table = metadata.tables[name]
            row = {c.name: _filler(c) for c in table.columns if not c.nullable or c.name == "id"}
            row.update(values.get(name, {}))
            connection.execute(table.insert().values(row))
    engine.dispose()


def read(url: str) -> dict[tuple[str, str], Any]:
    engine = make_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    result = {}
    with engine.connect() as connection:
        for table, column in {**TEXTS, **PLAIN}:
            t = metadata.tables[table]
            row = connection.execute(sa.select(t)).mappings().one()
            result[(table, column)] = row[column]
            if f"{column}_enc" in row:
                result[(table, f"{column}_enc")] = row[f"{column}_enc"]
    engine.dispose()
    return result


def test_upgrade_seals_existing_text_and_downgrade_restores_it(empty_url: str) -> None:
    vault = Vault({"m1": os.urandom(32)}, os.urandom(32))
    migrate("upgrade", "0006")
    seed_0006(empty_url)
    migrate("upgrade", "head", vault)
    stored = read(empty_url)
    assert stored[("ticket_messages", "body")] == "我的电话 138****5678，邮箱 z***@example.com"
    assert stored[("tickets", "subject")] == "call 139****4321"
    assert stored[("tickets", "description")] == "卡号 **** **** **** 1111"
    assert stored[("tickets", "escalation_reason")] == "customer: ID 1101**********002X"
    for (table, column), text in TEXTS.items():
        token = stored[(table, f"{column}_enc")]
        assert token.startswith("m1:")
        assert vault.decrypt(token) == text
    assert stored[("ticket_events", "old_value")] == "宽带连不上了"
    assert stored[("ticket_events", "old_value_enc")] is None

    migrate("downgrade", "0006", vault)
    assert read(empty_url) == {**TEXTS, **PLAIN}
    migrate("upgrade", "head", vault)
    assert read(empty_url)[("ticket_messages", "body")].startswith("我的电话 138****5678")


def test_personal_text_without_keys_stops_with_a_clear_error(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate("upgrade", "0006")
    seed_0006(empty_url)
    with pytest.raises(RuntimeError, match="DESK_DATA_KEYS"):
        migrate("upgrade", "head")
    assert read(empty_url)[("ticket_messages", "body")] == TEXTS[("ticket_messages", "body")]
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("DESK_DATA_KEYS", f"env1:{key}")
    migrate("upgrade", "head")
    assert read(empty_url)[("ticket_messages", "body_enc")].startswith("env1:")
