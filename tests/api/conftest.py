"""Fixtures: the shared service fixtures (database per run, empty tables per test, client)."""

from tests.support_service.fixtures import (
    anonymous_client,
    clean_database,
    client,
    database,
    database_url,
    session,
    settings,
    vault,
)

__all__ = [
    "anonymous_client",
    "clean_database",
    "client",
    "database",
    "database_url",
    "session",
    "settings",
    "vault",
]
