"""Reports over HTTP: supervisors and admins only, filters validated, numbers from the database."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff
from tests.support_service.report_data import NOW, REPORT_FROM, build_report_dataset

PERIOD = {"from": REPORT_FROM.isoformat(), "to": NOW.isoformat()}
ROUTES = ["/api/v1/reports/now", "/api/v1/reports/trends", "/api/v1/reports/tickets.csv"]


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def numbers(session: Session) -> dict[str, str]:
    numbers = build_report_dataset(session)
    make_staff(session, "boss", role="supervisor", presence="offline")
    make_staff(session, "root", role="admin", presence="offline")
    return numbers


class TestAccess:
    @pytest.mark.parametrize("route", ROUTES)
    def test_no_token_is_401(self, anonymous_client: TestClient, route: str) -> None:
        response = anonymous_client.get(route)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"

    @pytest.mark.parametrize("route", ROUTES)
    def test_agents_and_the_bot_are_403(
        self, anonymous_client: TestClient, client: TestClient, numbers: dict[str, str], route: str
    ) -> None:
        as_agent = anonymous_client.get(route, headers=login(anonymous_client, "report.agent"))
        assert as_agent.status_code == 403
        assert client.get(route).status_code == 403  # the bot's service token

    @pytest.mark.parametrize("who", ["boss", "root"])
    def test_supervisors_and_admins_get_them(
        self, anonymous_client: TestClient, numbers: dict[str, str], who: str
    ) -> None:
        headers = login(anonymous_client, who)
        for route in ROUTES:
            assert anonymous_client.get(route, headers=headers).status_code == 200, route


class TestValidation:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"from": "yesterday"}, "from"),
            ({"from": "2026-11-20T12:00:00"}, "from"),  # no time zone
            ({"channel": "carrier-pigeon"}, "channel"),
            ({"from": NOW.isoformat(), "to": REPORT_FROM.isoformat()}, "from"),
            ({"from": "2026-01-01T00:00:00Z", "to": NOW.isoformat()}, "from"),  # > 92 days
        ],
    )
    def test_bad_filters_are_422_naming_the_field(
        self, anonymous_client: TestClient, numbers: dict[str, str], params: dict, field: str
    ) -> None:
        response = anonymous_client.get(
            "/api/v1/reports/trends", params=params, headers=login(anonymous_client, "boss")
        )
        assert response.status_code == 422, response.text
        assert [d["field"] for d in response.json()["error"]["details"]] == [field]


class TestNumbers:
    def test_trends_match_the_known_history(
        self, anonymous_client: TestClient, numbers: dict[str, str]
    ) -> None:
        body = anonymous_client.get(
            "/api/v1/reports/trends", params=PERIOD, headers=login(anonymous_client, "boss")
        ).json()
        assert body["tickets"] == 5
        assert {(h["hour"], h["channel"], h["tickets"]) for h in body["per_hour"]} == {
            ("2026-11-18T09:00", "rest", 1),
            ("2026-11-18T09:00", "wechat", 1),
            ("2026-11-19T10:00", "web", 1),
            ("2026-11-20T09:00", "rest", 1),
            ("2026-11-20T11:00", "rest", 1),
        }
        assert body["first_response"]["counts"] == [1, 0, 1, 0, 0]
        assert body["resolution"]["counts"] == [0, 1, 0, 1, 0]
        assert [(d["day"], d["mean_score"]) for d in body["csat"]] == [
            ("2026-11-18", 5.0),
            ("2026-11-19", 2.0),
        ]
        assert body["containment"]["bot_opened"] == 3
        assert body["containment"]["contained"] == 1
        assert body["top_categories"][0] == {"category": "technical_support", "tickets": 3}

    def test_filters_narrow_the_trends(
        self, anonymous_client: TestClient, numbers: dict[str, str]
    ) -> None:
        body = anonymous_client.get(
            "/api/v1/reports/trends",
            params={**PERIOD, "queue": "billing", "channel": "web"},
            headers=login(anonymous_client, "boss"),
        ).json()
        assert body["tickets"] == 1 and body["queue"] == "billing" and body["channel"] == "web"

    def test_now_lists_queues_and_breaches(
        self, anonymous_client: TestClient, numbers: dict[str, str]
    ) -> None:
        body = anonymous_client.get(
            "/api/v1/reports/now", headers=login(anonymous_client, "boss")
        ).json()
        queues = {q["key"]: q for q in body["queues"]}
        assert (
            queues["billing"]["waiting"] == 1 and queues["billing"]["names"]["zh"] == "账单与缴费"
        )
        # Long after the dataset's NOW, both waiting tickets are past their targets.
        assert {t["number"] for t in body["breached"]} == {numbers["t3"], numbers["t5"]}
        assert all(t["sla_state"] == "breached" for t in body["breached"])
        assert {a["username"] for a in body["agents"]} >= {"report.agent", "boss"}

    def test_csv_export(self, anonymous_client: TestClient, numbers: dict[str, str]) -> None:
        response = anonymous_client.get(
            "/api/v1/reports/tickets.csv", params=PERIOD, headers=login(anonymous_client, "boss")
        )
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = response.text.splitlines()
        assert len(rows) == 6 and rows[1].startswith(numbers["t1"] + ",")
