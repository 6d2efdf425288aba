"""``python -m ticketing.migrate``: wait for the database, then upgrade it to the head revision."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ticketing.db import make_engine
from ticketing.settings import DatabaseSettings

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    """The project's Alembic configuration (URL from the environment, see env.py)."""
    return Config(str(ALEMBIC_INI))


def wait_for_database(url: str, *, timeout_seconds: float, interval_seconds: float = 1.0) -> None:
    """Return once ``SELECT 1`` succeeds; raise the last error after the timeout."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except OperationalError:
                if time.monotonic() >= deadline:
                    raise
                print("[migrate] database not ready, retrying", flush=True)
                time.sleep(interval_seconds)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Wait for the database and upgrade it to head."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the DB")
    args = parser.parse_args(argv)
    url = DatabaseSettings().database_url
    wait_for_database(url, timeout_seconds=args.timeout)
    print("[migrate] upgrading the database to head", flush=True)
    command.upgrade(alembic_config(), "head")
    print("[migrate] done", flush=True)


if __name__ == "__main__":
    main()
