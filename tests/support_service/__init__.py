"""Test support for the service (tests/ticketing, tests/api): databases, settings, factories."""
