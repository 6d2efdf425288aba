from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload


def headers(client: TestClient, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class TestAgents:
    def test_list_shows_presence_capacity_and_load(
        self, client: TestClient, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"], capacity=3)
        client.post("/api/v1/tickets", json=ticket_payload())
        listed = anonymous_client.get(
            "/api/v1/agents", headers=headers(anonymous_client, "wang.fang")
        )
        assert listed.status_code == 200
        assert listed.json() == [
            {
                "username": "wang.fang",
                "display_name": "Wang Fang",
                "role": "agent",
                "presence": "online",
                "capacity": 3,
                "load": 1,
                "languages": ["zh", "en"],
                "queues": ["technical_support"],
            }
        ]

    def test_coming_online_takes_waiting_tickets(
        self, client: TestClient, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
        number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
        response = anonymous_client.put(
            "/api/v1/agents/me/presence",
            json={"presence": "online"},
            headers=headers(anonymous_client, "wang.fang"),
        )
        assert response.status_code == 200
        assert response.json()["assigned"] == [number]
        assert response.json()["agent"]["load"] == 1

    def test_only_supervisors_change_capacity(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"])
        make_staff(session, "zhao.min", role="supervisor")
        as_agent = anonymous_client.patch(
            "/api/v1/agents/wang.fang",
            json={"capacity": 9},
            headers=headers(anonymous_client, "wang.fang"),
        )
        assert as_agent.status_code == 403
        boss = headers(anonymous_client, "zhao.min")
        ok = anonymous_client.patch("/api/v1/agents/wang.fang", json={"capacity": 9}, headers=boss)
        assert ok.status_code == 200 and ok.json()["agent"]["capacity"] == 9
        assert (
            anonymous_client.patch(
                "/api/v1/agents/nobody", json={"capacity": 1}, headers=boss
            ).status_code
            == 404
        )
        assert (
            anonymous_client.patch(
                "/api/v1/agents/wang.fang", json={"capacity": 99}, headers=boss
            ).status_code
            == 422
        )

    def test_the_bot_cannot_see_staff(self, client: TestClient) -> None:
        assert client.get("/api/v1/agents").status_code == 403


class TestSupervisorAssignment:
    def test_reassign_with_capacity_and_skill_checks(
        self, client: TestClient, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
        make_staff(session, "sam.taylor", queues=["billing"], presence="offline")
        make_staff(session, "zhao.min", role="supervisor", presence="offline")
        number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
        boss = headers(anonymous_client, "zhao.min")
        path = f"/api/v1/tickets/{number}/assign"
        wrong_queue = anonymous_client.post(path, json={"agent": "sam.taylor"}, headers=boss)
        assert wrong_queue.status_code == 422
        assert wrong_queue.json()["error"]["details"][0]["field"] == "agent"
        done = anonymous_client.post(path, json={"agent": "wang.fang"}, headers=boss)
        assert done.status_code == 200 and done.json()["assignee"] == "wang.fang"
        as_agent = anonymous_client.post(
            path, json={"agent": "wang.fang"}, headers=headers(anonymous_client, "wang.fang")
        )
        assert as_agent.status_code == 403
