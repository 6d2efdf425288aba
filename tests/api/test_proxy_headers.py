"""Behind a load balancer: the real client comes from X-Forwarded-For, but only when the
balancer is one of DESK_TRUSTED_PROXIES; anyone else's header is ignored."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from tests.support_service.factories import make_settings

BALANCER = ("10.0.0.2", 40000)
STRANGER = ("198.51.100.7", 40000)


@pytest.fixture
def behind_balancer(
    clean_database: object, database_url: str
) -> Iterator[Callable[..., TestClient]]:
    def client(peer: tuple[str, int], **overrides: object) -> TestClient:
        settings = make_settings(database_url, trusted_proxies="10.0.0.0/24", **overrides)
        return TestClient(create_app(settings), client=peer)

    yield client


def spray(client: TestClient, forwarded_for: str, attempts: int, first: int = 0) -> list[int]:
    """Wrong passwords for ``attempts`` different accounts; the status codes."""
    return [
        client.post(
            "/api/v1/auth/login",
            json={"username": f"user{i}", "password": "guess"},
            headers={"X-Forwarded-For": forwarded_for},
        ).status_code
        for i in range(first, first + attempts)
    ]


def test_the_throttle_counts_each_real_client_behind_the_balancer(behind_balancer) -> None:
    with behind_balancer(BALANCER) as client:
        assert spray(client, "203.0.113.5", 31)[-1] == 429
        # Another customer behind the same balancer is not locked out by the first.
        assert spray(client, "203.0.113.6", 1) == [401]


def test_a_forged_header_from_an_untrusted_peer_is_ignored(behind_balancer) -> None:
    with behind_balancer(STRANGER) as client:
        codes = [spray(client, f"203.0.113.{i}", 1, first=i)[0] for i in range(31)]
    # Thirty-one "different" clients are one address spraying: stopped.
    assert codes[:30] == [401] * 30 and codes[30] == 429


def test_metrics_scrapers_are_recognised_through_the_balancer(
    behind_balancer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_METRICS_ALLOW", "203.0.113.5")
    scraper = {"X-Forwarded-For": "203.0.113.5"}
    with behind_balancer(BALANCER) as client:
        assert client.get("/metrics", headers=scraper).status_code == 200
    with behind_balancer(STRANGER) as client:
        assert client.get("/metrics", headers=scraper).status_code == 401


@pytest.mark.parametrize("value", ["*", "balancer.internal", "10.0.0.0/33"])
def test_trusting_anyone_or_a_name_is_refused(database_url: str, value: str) -> None:
    with pytest.raises(ValidationError, match="DESK_TRUSTED_PROXIES"):
        make_settings(database_url, trusted_proxies=value)
