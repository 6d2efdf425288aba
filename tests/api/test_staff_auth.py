from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import JWT_ALGORITHM, issue_staff_token
from tests.support_service.factories import STAFF_PASSWORD, make_staff
from ticketing.models import utcnow
from ticketing.settings import Settings


def login(client: TestClient, username: str, password: str = STAFF_PASSWORD):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


class TestLogin:
    def test_login_gives_a_token_that_works(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang", queues=["technical_support"])
        response = login(anonymous_client, "wang.fang")
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["staff"] == {
            "id": body["staff"]["id"],
            "username": "wang.fang",
            "display_name": "Wang Fang",
            "role": "agent",
            "languages": ["zh", "en"],
            "queues": ["technical_support"],
            "must_change_password": False,
        }
        me = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["username"] == "wang.fang"

    def test_wrong_password_is_401_without_saying_which_part(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang")
        wrong_password = login(anonymous_client, "wang.fang", "not the password")
        unknown_user = login(anonymous_client, "nobody")
        assert wrong_password.status_code == unknown_user.status_code == 401
        assert wrong_password.json() == unknown_user.json()
        assert wrong_password.json()["error"]["code"] == "invalid_credentials"

    def test_malformed_login_is_422(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.post("/api/v1/auth/login", json={"username": "x"})
        assert response.status_code == 422
        assert response.json()["error"]["details"] == [
            {"field": "password", "message": "Field required"}
        ]

    def test_the_token_carries_no_personal_data(
        self, anonymous_client: TestClient, session: Session, settings: Settings
    ) -> None:
        make_staff(session, "wang.fang")
        token = login(anonymous_client, "wang.fang").json()["access_token"]
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[JWT_ALGORITHM],
            audience="service-desk-staff",
        )
        assert set(claims) == {"sub", "role", "iss", "aud", "iat", "exp"}


class TestStaffTokens:
    def test_expired_token_is_refused(
        self, anonymous_client: TestClient, session: Session, settings: Settings
    ) -> None:
        agent = make_staff(session, "wang.fang")
        old = issue_staff_token(agent, settings, now=utcnow() - timedelta(days=2))
        response = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {old.token}"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"

    def test_token_signed_with_another_key_is_refused(
        self, anonymous_client: TestClient, session: Session, settings: Settings
    ) -> None:
        agent = make_staff(session, "wang.fang")
        forged = jwt.encode(
            {
                "sub": str(agent.id),
                "role": "admin",
                "iss": "service-desk",
                "aud": "service-desk-staff",
                "iat": 0,
                "exp": 4102444800,
            },
            "another-secret-of-at-least-thirty-two-chars",
            algorithm="HS256",
        )
        response = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401

    def test_unsigned_token_is_refused(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        agent = make_staff(session, "wang.fang")
        unsigned = jwt.encode(
            {
                "sub": str(agent.id),
                "role": "admin",
                "iss": "service-desk",
                "aud": "service-desk-staff",
                "iat": 0,
                "exp": 4102444800,
            },
            None,
            algorithm="none",
        )
        response = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"}
        )
        assert response.status_code == 401

    def test_deactivated_account_loses_access_at_once(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        agent = make_staff(session, "wang.fang")
        token = login(anonymous_client, "wang.fang").json()["access_token"]
        agent.active = False
        session.commit()
        response = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401

    def test_role_change_invalidates_old_tokens(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        agent = make_staff(session, "wang.fang", role="supervisor")
        token = login(anonymous_client, "wang.fang").json()["access_token"]
        agent.role = "agent"
        session.commit()
        response = anonymous_client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401

    def test_service_token_is_not_a_staff_account(self, client: TestClient) -> None:
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_staff"


class TestLoginThrottle:
    def test_five_wrong_passwords_lock_the_account_for_a_while(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang")
        for _ in range(5):
            assert login(anonymous_client, "wang.fang", "wrong").status_code == 401
        locked = login(anonymous_client, "wang.fang")  # even the right password
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
        # Another account from the same address is not locked by it.
        make_staff(session, "li.na")
        assert login(anonymous_client, "li.na").status_code == 200

    def test_a_right_password_clears_the_accounts_failures(
        self, anonymous_client: TestClient, session: Session
    ) -> None:
        make_staff(session, "wang.fang")
        for _ in range(4):
            login(anonymous_client, "wang.fang", "wrong")
        assert login(anonymous_client, "wang.fang").status_code == 200
        for _ in range(4):
            assert login(anonymous_client, "wang.fang", "wrong").status_code == 401
        assert login(anonymous_client, "wang.fang").status_code == 200

    def test_spraying_many_accounts_from_one_address_is_stopped(
        self, anonymous_client: TestClient
    ) -> None:
        codes = [login(anonymous_client, f"user{i}", "guess").status_code for i in range(31)]
        assert codes[:30] == [401] * 30
        assert codes[30] == 429


def test_the_window_ends() -> None:
    from api.throttle import LoginThrottle, TooManyAttempts

    now = [0.0]
    throttle = LoginThrottle(secret=b"k", per_account=2, window_seconds=60, clock=lambda: now[0])
    throttle.failed("a", "1.2.3.4")
    throttle.failed("a", "1.2.3.4")
    with pytest.raises(TooManyAttempts) as locked:
        throttle.check("a", "1.2.3.4")
    assert locked.value.retry_after == 60
    now[0] = 61.0
    throttle.check("a", "1.2.3.4")  # a new window
