"""The ticketing API's contract with the action server, checked on the fake's traffic.

``tests/data/bot_api_contract.json`` is the bot's part of the API's OpenAPI document
(tests/support_service/bot_contract.py writes it; tests/api/test_bot_contract.py keeps it
equal to the live app's). Every request the actions send to the fake and every answer
the fake gives must fit it: an operation the API has, query parameters it declares, a
body its schema accepts, a status it documents and a body of that status's schema. A
fake that invents a field, a status or an endpoint makes the action tests fail.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

CONTRACT = Path(__file__).resolve().parents[1] / "data" / "bot_api_contract.json"

# Statuses any operation may answer before its handler runs: no or a bad token (401), a
# token that may not act for the conversation (403), the log-in throttle (429), and the
# API being unavailable (503).
ANY_OPERATION = {"401", "403", "429", "503"}


@cache
def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    contract = json.loads(CONTRACT.read_text(encoding="utf-8"))
    operations = []
    for key, operation in contract["operations"].items():
        method, template = key.split(" ", 1)
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        operations.append((method, pattern, operation))
    return operations


def _errors(schema: Any, value: Any, where: str) -> list[str]:
    validator = Draft202012Validator(schema)
    return [
        f"{where}: {error.message} at {'/'.join(map(str, error.absolute_path)) or '(root)'}"
        for error in validator.iter_errors(value)
    ]


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The contract's operation for a concrete request path, and its key."""
    for declared_method, pattern, declared in _operations():
        if declared_method == method.upper() and pattern.match(path):
            return f"{declared_method} {pattern.pattern}", declared
    return None


def check_request(method: str, path: str, query: dict[str, list[str]], body: Any) -> list[str]:
    """What is wrong with a request the actions sent, by the API's contract."""
    found = operation(method, path)
    if found is None:
        return [f"{method} {path}: the API has no such operation"]
    _, declared = found
    problems = []
    for name in query:
        if name not in declared["query"]:
            problems.append(f"{method} {path}: undeclared query parameter {name!r}")
    for name, parameter in declared["query"].items():
        if parameter["required"] and name not in query:
            problems.append(f"{method} {path}: missing required query parameter {name!r}")
    if declared["request"] is None:
        if body is not None:
            problems.append(f"{method} {path}: the API takes no body")
    else:
        problems += _errors(declared["request"], body, f"{method} {path} request")
    return problems


def check_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """What is wrong with an answer the fake gave, by the API's contract."""
    found = operation(method, path)
    if found is None:
        return []  # already reported by check_request
    _, declared = found
    responses = declared["responses"]
    code = str(status)
    if code not in responses and code not in ANY_OPERATION:
        documented = sorted(responses)
        return [f"{method} {path}: the API never answers {status} (it documents {documented})"]
    if status >= 400:
        # The desk's error envelope (api/errors.py) for every error status.
        envelope = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string"}},
                }
            },
        }
        return _errors(envelope, body, f"{method} {path} {status}")
    schema = responses.get(code)
    if schema is None:
        # A documented success without its own schema (the 200 replay of a creation)
        # carries the operation's other success body.
        schema = next(
            (s for c, s in sorted(responses.items()) if c.startswith("2") and s is not None),
            None,
        )
    if schema is None:
        return []
    return _errors(schema, body, f"{method} {path} {status}")
