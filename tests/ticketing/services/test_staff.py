import pytest
from sqlalchemy.orm import Session

from tests.support_service.factories import STAFF_PASSWORD, make_staff
from ticketing.errors import ValidationFailed
from ticketing.services import staff as staff_service


class TestHashPassword:
    def test_hash_is_argon2id_and_salted(self) -> None:
        first = staff_service.hash_password("a long enough password")
        second = staff_service.hash_password("a long enough password")
        assert first.startswith("$argon2id$")
        assert first != second

    def test_short_password_is_refused(self) -> None:
        with pytest.raises(ValidationFailed) as error:
            staff_service.hash_password("short")
        assert error.value.field == "password"


class TestAuthenticate:
    def test_right_password(self, session: Session) -> None:
        make_staff(session, "li.na")
        agent = staff_service.authenticate(session, username="li.na", password=STAFF_PASSWORD)
        assert agent.username == "li.na"

    def test_username_is_case_insensitive(self, session: Session) -> None:
        make_staff(session, "li.na")
        agent = staff_service.authenticate(session, username=" Li.Na ", password=STAFF_PASSWORD)
        assert agent.username == "li.na"

    @pytest.mark.parametrize(
        ("username", "password"),
        [("li.na", "wrong password!"), ("nobody", STAFF_PASSWORD), ("li.na", "")],
    )
    def test_wrong_credentials(self, session: Session, username: str, password: str) -> None:
        make_staff(session, "li.na")
        with pytest.raises(staff_service.InvalidCredentials):
            staff_service.authenticate(session, username=username, password=password)

    def test_inactive_account_cannot_log_in(self, session: Session) -> None:
        make_staff(session, "li.na", active=False)
        with pytest.raises(staff_service.InvalidCredentials):
            staff_service.authenticate(session, username="li.na", password=STAFF_PASSWORD)

    def test_account_without_password_cannot_log_in(self, session: Session) -> None:
        make_staff(session, "li.na", password=None)
        with pytest.raises(staff_service.InvalidCredentials):
            staff_service.authenticate(session, username="li.na", password=STAFF_PASSWORD)
