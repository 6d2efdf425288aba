"""The shape of ``ticketing/services``: modules small enough to read in one sitting, and
no queries of their own (``repositories/`` holds every statement the desk sends)."""

from __future__ import annotations

import ast
from pathlib import Path

import ticketing.services

SERVICES = Path(ticketing.services.__file__).resolve().parent
MAX_LINES = 450
# Calls on a session that send a statement the caller composed. ``session.get`` (a load
# by primary key through the identity map), ``add``, ``delete`` and ``flush`` are the
# unit of work's, and allowed.
QUERY_CALLS = frozenset({"execute", "scalar", "scalars", "query"})


def service_modules() -> list[Path]:
    return sorted(SERVICES.rglob("*.py"))


def too_long(paths: list[Path], limit: int = MAX_LINES) -> dict[str, int]:
    """The modules over ``limit`` lines, with their length."""
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in paths}
    return {name: n for name, n in lengths.items() if n > limit}


def raw_queries(path: Path) -> list[str]:
    """Where a module builds or sends SQL itself: an import from ``sqlalchemy``'s
    statement API (anything but ``sqlalchemy.orm`` and ``sqlalchemy.exc``) or a
    ``session.execute``-style call."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            top = node.module.split(".")
            if top[0] == "sqlalchemy" and (len(top) == 1 or top[1] not in ("orm", "exc")):
                found.append(f"{path.name}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy":
                    found.append(f"{path.name}:{node.lineno} import sqlalchemy")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ):
            found.append(f"{path.name}:{node.lineno} session.{node.func.attr}(...)")
    return found


def test_no_service_module_is_over_450_lines() -> None:
    modules = service_modules()
    assert len(modules) > 20, "the services were not found"
    assert too_long(modules) == {}, "split these along their jobs"


def test_the_length_check_catches_a_long_module(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    long.write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    assert too_long([long, short]) == {"long.py": MAX_LINES + 1}


def test_services_send_no_sql_of_their_own() -> None:
    assert [q for path in service_modules() for q in raw_queries(path)] == []


def test_the_query_check_catches_a_service_that_queries(tmp_path: Path) -> None:
    service = tmp_path / "querying.py"
    service.write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.orm import Session\n"
        "def count(session: Session) -> int:\n"
        "    return session.scalar(select(1))\n",
        encoding="utf-8",
    )
    assert raw_queries(service) == [
        "querying.py:1 from sqlalchemy import ...",
        "querying.py:4 session.scalar(...)",
    ]
