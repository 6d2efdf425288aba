"""Staff accounts: passwords (argon2id) and who may log in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from ticketing.errors import Unauthorized, ValidationFailed
from ticketing.models import Agent
from ticketing.repositories import agents as agents_repo

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong username costs as much
# time as a wrong password and does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


def hash_password(password: str) -> str:
    """An argon2id hash of a password that meets the minimum length."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"passwords need at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return _hasher.hash(password)


def authenticate(session: Session, *, username: str, password: str) -> Agent:
    """The active staff account with these credentials, or InvalidCredentials."""
    agent = agents_repo.get_by_username(session, username.strip().lower())
    stored = agent.password_hash if agent is not None else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise InvalidCredentials("Wrong username or password.") from None
    if agent is None or stored is None or not agent.active:
        raise InvalidCredentials("Wrong username or password.")
    if _hasher.check_needs_rehash(stored):
        agent.password_hash = _hasher.hash(password)
        session.flush()
    return agent


def get_active(session: Session, *, agent_id: int) -> Agent | None:
    """The staff account with this id if it may still act."""
    agent = agents_repo.get_by_id(session, agent_id)
    return agent if agent is not None and agent.active else None
