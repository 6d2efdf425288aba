"""Pytest fixtures shared by tests/ticketing and tests/api (imported by their conftests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from tests.support_service.database import create_schema, empty_database, empty_tables
from tests.support_service.factories import SERVICE_TOKEN, make_settings
from ticketing.db import Database
from ticketing.privacy import Vault
from ticketing.settings import DatabaseSettings, Settings


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database (schema) for the whole run, built by the migrations (alembic upgrade head)."""
    with empty_database(tmp_path_factory.mktemp("db")) as url:
        database = Database.from_settings(DatabaseSettings(database_url=url))
        try:
            create_schema(database.engine)
        finally:
            database.dispose()
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    """The engine and session factory of the test database."""
    database = Database.from_settings(DatabaseSettings(database_url=database_url))
    yield database
    database.dispose()


@pytest.fixture
def clean_database(database: Database) -> Database:
    """The test database with every table emptied first."""
    empty_tables(database.engine)
    return database


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings pointing at the test database, with fresh keys."""
    return make_settings(database_url)


@pytest.fixture
def vault(settings: Settings) -> Vault:
    """A vault with the test settings' keys."""
    return Vault.from_settings(settings)


@pytest.fixture
def session(clean_database: Database) -> Iterator[Session]:
    """A session on empty tables; whatever the test leaves uncommitted is rolled back."""
    session = clean_database.sessions()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


class BotClient(TestClient):
    """The action server as a client: the service token, acting for one conversation.

    The conversation is ``conversation`` (the zh template's sender by default); a request
    whose JSON body names a customer (ticket creation) speaks for that customer's
    conversation, as the action server does.
    """

    conversation: tuple[str, str] = ("rest", "sender-123")

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        body = kwargs.get("json")
        channel, sender = self.conversation
        if isinstance(body, dict) and isinstance(body.get("customer"), dict):
            channel = str(body["customer"].get("channel", channel))
            sender = str(body["customer"].get("external_id", sender))
        headers = {"X-Desk-Channel": channel, "X-Desk-Sender": sender}
        headers.update(kwargs.pop("headers", None) or {})
        return super().request(method, url, headers=headers, **kwargs)


@pytest.fixture
def client(clean_database: Database, settings: Settings) -> Iterator[BotClient]:
    """The app over HTTP (ASGI, no network), on empty tables, authenticated as the bot."""
    app = create_app(settings)
    with BotClient(app, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as test_client:
        yield test_client


@pytest.fixture
def anonymous_client(clean_database: Database, settings: Settings) -> Iterator[TestClient]:
    """The app over HTTP without credentials."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
