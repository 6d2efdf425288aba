import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support_service.database import create_schema, empty_database
from tests.support_service.factories import make_settings
from ticketing.db import Database
from ticketing.migrate import alembic_config
from ticketing.settings import DatabaseSettings, Settings


def health(settings: Settings) -> tuple[int, dict]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    return response.status_code, response.json()


def test_ok_without_redis(clean_database: object, database_url: str) -> None:
    status, body = health(make_settings(database_url, redis_url=None))
    assert (status, body) == (200, {"status": "ok", "database": "ok", "redis": "not_configured"})


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_ok_with_redis(clean_database: object, database_url: str) -> None:
    status, body = health(make_settings(database_url, redis_url=os.environ["REDIS_URL"]))
    assert (status, body) == (200, {"status": "ok", "database": "ok", "redis": "ok"})


def test_unreachable_redis_is_503(clean_database: object, database_url: str) -> None:
    status, body = health(make_settings(database_url, redis_url="redis://127.0.0.1:1/0"))
    assert status == 503
    assert body == {"status": "error", "database": "ok", "redis": "error"}


def test_broken_database_is_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = tmp_path_factory.mktemp("gone") / "dir" / "x.db"
    app = create_app(make_settings(f"sqlite:///{missing}", redis_url=None))
    missing.parent.rmdir()  # the engine factory created it; without it SQLite cannot open
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error"


def readiness(settings: Settings) -> tuple[int, dict]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    return response.status_code, response.json()


@contextmanager
def database_at(tmp_path: Path, revision: str | None) -> Iterator[str]:
    """A database migrated to head, then recorded at ``revision`` (None: never migrated)."""
    with empty_database(tmp_path, label="ready") as url:
        database = Database.from_settings(DatabaseSettings(database_url=url))
        try:
            if revision is not None:
                create_schema(database.engine)
                config = alembic_config()
                config.attributes["configure_logging"] = False
                with database.engine.begin() as connection:
                    config.attributes["connection"] = connection
                    command.stamp(config, revision, purge=True)
        finally:
            database.dispose()
        yield url


def test_ready_at_the_head(clean_database: object, database_url: str) -> None:
    status, body = readiness(make_settings(database_url, redis_url=None))
    assert status == 200
    assert body == {
        "status": "ready",
        "database": "ok",
        "redis": "not_configured",
        "migrations": "current",
        "not_ready": [],
    }


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL is not set")
def test_ready_with_redis(clean_database: object, database_url: str) -> None:
    status, body = readiness(make_settings(database_url, redis_url=os.environ["REDIS_URL"]))
    assert (status, body["redis"], body["not_ready"]) == (200, "ok", [])


def test_an_older_revision_is_not_ready(tmp_path: Path) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    with database_at(tmp_path, previous) as url:
        status, body = readiness(make_settings(url, redis_url=None))
        # Liveness does not depend on migrations: the process is alive, just not ready.
        alive, _ = health(make_settings(url, redis_url=None))
    assert (status, body["migrations"], body["not_ready"]) == (503, "outdated", ["migrations"])
    assert body["status"] == "not_ready"
    assert alive == 200


def test_a_database_never_migrated_is_not_ready(tmp_path: Path) -> None:
    with database_at(tmp_path, None) as url:
        status, body = readiness(make_settings(url, redis_url=None))
    assert (status, body["migrations"], body["not_ready"]) == (503, "not_applied", ["migrations"])


def test_unreachable_redis_is_not_ready(clean_database: object, database_url: str) -> None:
    status, body = readiness(make_settings(database_url, redis_url="redis://127.0.0.1:1/0"))
    assert (status, body["redis"], body["not_ready"]) == (503, "error", ["redis"])
    assert body["migrations"] == "current"


def test_broken_database_is_not_ready(tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = tmp_path_factory.mktemp("gone") / "dir" / "x.db"
    app = create_app(make_settings(f"sqlite:///{missing}", redis_url=None))
    missing.parent.rmdir()
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["database", "migrations"]
    assert response.json()["migrations"] == "unknown"
