"""The part of the API's OpenAPI document the action server relies on, as plain JSON Schema.

The action tests run against a fake of the ticketing API (tests/actions/fake_api.py)
because they live in the bot's Python environment, where the API cannot be imported.
So that the fake cannot drift from the real API, the fake checks every request it gets
and every response it gives against ``tests/data/bot_api_contract.json``, and
``tests/api/test_bot_contract.py`` checks that file against the live app's OpenAPI
document. When the API changes, regenerate it:

    PYTHONPATH=. .venv/bin/python -m tests.support_service.bot_contract --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "bot_api_contract.json"

# Every call actions/desk_api.py makes (method, OpenAPI path).
BOT_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{number}"),
    ("post", "/api/v1/tickets/{number}/escalate"),
    ("post", "/api/v1/tickets/{number}/cancel"),
    ("post", "/api/v1/tickets/{number}/messages"),
    ("post", "/api/v1/tickets/{number}/rating"),
    ("get", "/api/v1/tickets/{number}/queue-position"),
    ("get", "/api/v1/customers/by-identity"),
)


def _inline(schema: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``schema`` with every ``#/components/schemas/...`` reference replaced by its target."""
    if isinstance(schema, list):
        return [_inline(item, components, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen:
            raise ValueError(f"recursive schema {name} cannot be inlined")
        return _inline(components[name], components, (*seen, name))
    return {key: _inline(value, components, seen) for key, value in schema.items()}


def _json_schema(body: dict[str, Any] | None, components: dict[str, Any]) -> Any:
    content = (body or {}).get("content", {}).get("application/json")
    return None if content is None else _inline(content.get("schema", {}), components)


def extract(openapi: dict[str, Any]) -> dict[str, Any]:
    """The bot's operations: query parameters, request body and responses per status."""
    components = openapi.get("components", {}).get("schemas", {})
    operations: dict[str, Any] = {}
    for method, path in BOT_OPERATIONS:
        operation = openapi["paths"][path][method]
        query = {
            parameter["name"]: {
                "required": bool(parameter.get("required")),
                "schema": _inline(parameter.get("schema", {}), components),
            }
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query"
        }
        operations[f"{method.upper()} {path}"] = {
            "query": query,
            "request": _json_schema(operation.get("requestBody"), components),
            "responses": {
                status: _json_schema(response, components)
                for status, response in sorted(operation["responses"].items())
            },
        }
    return {"openapi": openapi["openapi"], "operations": operations}


def live_contract() -> dict[str, Any]:
    """The contract as the API's code declares it today."""
    from api.app import create_app
    from tests.support_service.factories import make_settings

    return extract(create_app(make_settings("sqlite:///:memory:")).openapi())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {CONTRACT.name}")
    args = parser.parse_args(argv)
    text = json.dumps(live_contract(), indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if args.write:
        CONTRACT.write_text(text, encoding="utf-8")
        print(f"wrote {CONTRACT}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
