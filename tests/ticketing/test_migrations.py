"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests.support_service.database import empty_database
from ticketing.db import make_engine
from ticketing.migrate import alembic_config
from ticketing.models import Base


@pytest.fixture
def empty_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with empty_database(tmp_path, label="m") as url:
        monkeypatch.setenv("DATABASE_URL", url)  # env.py reads the URL from the settings
        yield url


def upgrade(revision: str = "head") -> None:
    config = alembic_config()
    config.attributes["configure_logging"] = False
    command.upgrade(config, revision)


def downgrade(revision: str) -> None:
    config = alembic_config()
    config.attributes["configure_logging"] = False
    command.downgrade(config, revision)


def diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_models(empty_url: str) -> None:
    upgrade()
    assert table_names(empty_url) >= {t.name for t in Base.metadata.sorted_tables}
    assert diff(empty_url) == []


def test_downgrade_to_base_and_back(empty_url: str) -> None:
    upgrade()
    downgrade("base")
    assert table_names(empty_url) <= {"alembic_version"}
    upgrade()
    assert diff(empty_url) == []
