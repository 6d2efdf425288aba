"""A throw-away database per test run: a PostgreSQL schema when DATABASE_URL says so, else SQLite.

The schema is built by the migrations, as in production. Each test starts from empty
tables (truncated, identities restarted), so ticket numbers begin at SD-100001 in
every test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from alembic import command
from sqlalchemy import Engine, create_engine, make_url, text

from ticketing.db import is_sqlite
from ticketing.migrate import alembic_config
from ticketing.models import Base
from ticketing.settings import normalise_database_url


def configured_postgres_url() -> str | None:
    """The PostgreSQL server under test, if DATABASE_URL names one."""
    raw = os.environ.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    url = normalise_database_url(raw)
    return None if is_sqlite(url) else url


def url_with_search_path(url: str, schema: str) -> str:
    """The same server, with every connection's search_path set to one schema."""
    parsed = make_url(url)
    options = quote(f"-csearch_path={schema}")
    separator = "&" if parsed.query else "?"
    return f"{url}{separator}options={options}"


@contextmanager
def empty_database(tmp_dir: Path, *, label: str = "t") -> Iterator[str]:
    """A URL to an empty database: a fresh schema on PostgreSQL, a new file otherwise."""
    server = configured_postgres_url()
    if server is None:
        yield f"sqlite:///{tmp_dir / f'{label}-{uuid.uuid4().hex[:8]}.db'}"
        return
    schema = f"{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield url_with_search_path(server, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def create_schema(engine: Engine) -> None:
    """The schema as production builds it: Alembic's upgrade to head, on this engine.

    So what only the migrations make (the audit log's append-only trigger on
    PostgreSQL) is there under test too.
    """
    config = alembic_config()
    config.attributes["configure_logging"] = False
    with engine.begin() as connection:
        config.attributes["connection"] = connection  # env.py migrates through it
        command.upgrade(config, "head")


def empty_tables(engine: Engine) -> None:
    """Remove every row and restart ids, so each test starts from nothing."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())
