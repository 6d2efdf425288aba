import os

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.support_service.factories import make_settings
from ticketing.settings import Settings


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
