"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url, empty_database
from ticketing.db import make_engine
from ticketing.migrate import alembic_config
from ticketing.models import AuditEntry, Base


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


needs_postgres = pytest.mark.skipif(
    configured_postgres_url() is None, reason="the trigger is PostgreSQL's (DATABASE_URL)"
)


def check_audit_log_refuses_rewrites(session: Session) -> None:
    """An audit row can be added, then neither updated nor deleted, even in raw SQL."""
    entry = AuditEntry(actor="staff:li.na", role="supervisor", action="reveal", reason="call")
    session.add(entry)
    session.flush()
    attempts = [
        update(AuditEntry).values(reason="nothing to see"),
        delete(AuditEntry),
        text("UPDATE audit_log SET actor = 'someone else'"),
        text("DELETE FROM audit_log"),
    ]
    for statement in attempts:
        # The savepoint is rolled back by the refusal; the test's transaction goes on.
        with (
            pytest.raises(DBAPIError, match="the audit log is append-only"),
            session.begin_nested(),
        ):
            session.execute(statement)
    rows = session.execute(select(AuditEntry.actor, AuditEntry.reason)).all()
    assert rows == [("staff:li.na", "call")]


@needs_postgres
def test_the_audit_log_refuses_update_and_delete(session: Session) -> None:
    # The shared test database is built by the migrations, so the trigger is there.
    check_audit_log_refuses_rewrites(session)


@needs_postgres
def test_without_the_trigger_the_audit_check_fails(session: Session) -> None:
    # Dropped inside the test's transaction, which is rolled back afterwards (DDL is
    # transactional on PostgreSQL), so the trigger is back for the next test.
    session.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        check_audit_log_refuses_rewrites(session)


@needs_postgres
def test_the_trigger_is_still_there_after_the_proof(session: Session) -> None:
    check_audit_log_refuses_rewrites(session)
