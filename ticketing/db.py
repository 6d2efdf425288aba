"""Engine and session factory, built from settings when the process asks (never at import)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from ticketing import privacy_text
from ticketing.privacy import Vault
from ticketing.settings import DatabaseSettings, Settings


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_directory(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's legacy transaction handling breaks SAVEPOINT and transactional DDL;
    # take over BEGIN ourselves (SQLAlchemy's documented recipe for Python < 3.12).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    # IMMEDIATE: take the write lock when the transaction starts. A deferred transaction
    # that read first and writes later fails at once with "database is locked" when
    # another connection wrote in between (WAL snapshot; busy_timeout cannot help), so
    # two agents claiming one ticket gave the loser a 500 instead of 409. Writers now
    # queue for up to busy_timeout; PostgreSQL is the engine for heavy concurrency.
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for SQLite (file dir created, FKs on, WAL) or PostgreSQL (psycopg 3)."""
    # Bound values may be personal data: keep them out of SQL error messages and logs.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        _ensure_sqlite_directory(url)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine, *, vault: Vault | None = None) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit, so responses can be built afterwards.

    Personal data in ticket text is sealed on every flush (:mod:`ticketing.privacy_text`)
    with ``vault``; without one, such text is refused, never stored in clear.
    """
    factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    privacy_text.install(factory, vault)
    return factory


@dataclass(frozen=True)
class Database:
    """One process's engine and session factory."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Database:
        """Build the engine for the configured URL (connections open lazily).

        Full settings (with data keys) give sessions that seal personal data in text.
        """
        engine = make_engine(settings.database_url)
        vault = Vault.from_settings(settings) if isinstance(settings, Settings) else None
        return cls(engine=engine, sessions=make_session_factory(engine, vault=vault))

    def ping(self) -> None:
        """Raise if the database does not answer ``SELECT 1``."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
