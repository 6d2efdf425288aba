"""Where one ticket creation (and one read) spends its SQL statements and its CPU.

    .venv/bin/python scripts/profile_api.py [--requests 300] [--sql]

Runs the API in this process (ASGI, no network) against PostgreSQL
(``BENCH_DATABASE_URL``, else ``DATABASE_URL``, else the local server's ``test``
database) in a throw-away schema built by the migrations, sends the same requests
``make bench-api`` sends, one at a time, and prints:

- the SQL statements per request (counted with SQLAlchemy's ``before_cursor_execute``
  event; ``--sql`` lists them), including BEGIN/COMMIT round trips it sees;
- CPU per request (``time.process_time``) and, from cProfile, the share of it spent in
  pydantic, cryptography, the SQLAlchemy ORM, the database driver, auth, Starlette
  and FastAPI's routing, and the rest.

Not a test: nothing is asserted. Profiling inflates Python-heavy parts, so read the
shares as proportions, not the absolute milliseconds of an unprofiled server.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Where a frame's file lives (py-spy prints paths relative to site-packages or the
# repository), mapped to the part of the stack it belongs to; the first match wins.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("auth (api/auth.py, JWT)", ("api/auth.py", "jwt/")),
    (
        "crypto (AES-GCM, HMAC: ticketing/privacy.py, cryptography)",
        ("cryptography/", "hmac.py", "ticketing/privacy.py"),
    ),
    ("personal-data text (privacy_text, ticket_text)", ("privacy_text.py", "ticket_text.py")),
    ("pydantic (validation, serialisation)", ("pydantic/", "pydantic_core/", "pydantic_settings/")),
    ("database driver (psycopg)", ("psycopg/", "psycopg_pool/")),
    ("SQLAlchemy core + ORM", ("sqlalchemy",)),
    (
        "FastAPI / Starlette / anyio (routing, dependencies, threads)",
        ("fastapi/", "starlette/", "anyio/"),
    ),
    ("the test client (httpx)", ("httpx/", "httpcore/", "h11/")),
    ("the desk's own code (ticketing/, api/)", ("ticketing/", "api/")),
    ("logging", ("logging/",)),
    ("json", ("json/",)),
]


def part_of(frame: str) -> str:
    """The part of the stack a py-spy frame ``function (path:line)`` belongs to."""
    path = frame.rpartition("(")[2]
    for name, needles in PARTS:
        if any(path.startswith(needle) or f"/{needle}" in path for needle in needles):
            return name
    return f"other ({path.partition(':')[0]})"


def self_time_by_part(raw: Path) -> Counter[str]:
    """Samples per part of the stack, by each sample's innermost frame (py-spy's raw format)."""
    shares: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        innermost = stack.rsplit(";", 1)[-1]
        shares[part_of(innermost)] += int(count)
    return shares


@contextmanager
def sampled(py_spy: str | None, raw: Path) -> Iterator[None]:
    """py-spy on this very process (every thread, 250 samples/s) while the block runs."""
    if not py_spy:
        yield
        return
    recorder = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "250",
            "--format",
            "raw",
            "--gil",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--sql", action="store_true", help="list one creation's statements")
    parser.add_argument("--out", default=".run/profiles/api", help="py-spy raw profiles")
    args = parser.parse_args(argv)
    py_spy = os.environ.get("PY_SPY") or shutil.which("py-spy")

    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"prof_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    token = secrets.token_urlsafe(32)
    os.environ.update(
        {
            "DATABASE_URL": f"{url}?options={quote(f'-csearch_path={schema}')}",
            "DESK_ENV": "test",
            "DESK_SERVICE_TOKEN": token,
            "DESK_JWT_SECRET": secrets.token_urlsafe(48),
            "DESK_DATA_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
            "DESK_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
            "DESK_SLA_SCHEDULER": "0",
        }
    )
    os.environ.pop("REDIS_URL", None)
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        from fastapi.testclient import TestClient

        from api.app import create_app

        app = create_app()
        statements: list[str] = []

        @event.listens_for(app.state.database.engine, "before_cursor_execute")
        def _count(
            _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, many: bool
        ) -> None:
            statements.append(f"{'(executemany) ' if many else ''}{statement}")

        @event.listens_for(app.state.database.engine, "engine_connect")
        def _connect(_conn: Any) -> None:
            statements.append("-- (connection checked out)")

        def headers(n: int) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {token}",
                "X-Desk-Channel": "rest",
                "X-Desk-Sender": f"bench-{n}",
            }

        def body(n: int) -> dict[str, Any]:
            return {
                "customer": {"channel": "rest", "external_id": f"bench-{n}", "language": "en"},
                "description": "My internet has been down since yesterday",
                "category": "technical_support",
                "channel": "rest",
                "language": "en",
            }

        with TestClient(app) as client:
            for n in range(30):  # warm-up: queues created, caches filled
                client.post(
                    "/api/v1/tickets",
                    headers={**headers(-n - 1), "Idempotency-Key": f"w{n}"},
                    json=body(-n - 1),
                )
            statements.clear()
            client.post(
                "/api/v1/tickets",
                headers={**headers(10**6), "Idempotency-Key": "one"},
                json=body(10**6),
            )
            one_create = list(statements)
            statements.clear()
            response = client.post(
                "/api/v1/tickets",
                headers={**headers(10**6), "Idempotency-Key": "one"},
                json=body(10**6),
            )
            one_replay = list(statements)
            number = response.json()["number"]
            statements.clear()
            client.get(f"/api/v1/tickets/{number}", headers=headers(10**6))
            one_read = list(statements)

            # CPU per request first, without the sampler (all threads of this process).
            numbers: list[tuple[int, str]] = []
            cpu = time.process_time()
            for n in range(args.requests):
                r = client.post(
                    "/api/v1/tickets",
                    headers={**headers(n), "Idempotency-Key": f"p{n}"},
                    json=body(n),
                )
                numbers.append((n, r.json()["number"]))
            create_cpu = (time.process_time() - cpu) / args.requests
            cpu = time.process_time()
            for n, number in numbers:
                client.get(f"/api/v1/tickets/{number}", headers=headers(n))
            read_cpu = (time.process_time() - cpu) / args.requests

            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            with sampled(py_spy, out / "create.txt"):
                for n in range(args.requests):
                    client.post(
                        "/api/v1/tickets",
                        headers={**headers(n + 10**5), "Idempotency-Key": f"q{n}"},
                        json=body(n + 10**5),
                    )
            with sampled(py_spy, out / "read.txt"):
                for n, number in numbers:
                    client.get(f"/api/v1/tickets/{number}", headers=headers(n))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    def count(listed: list[str]) -> str:
        real = [s for s in listed if not s.startswith("--")]
        kinds = Counter(s.removeprefix("(executemany) ").split()[0].upper() for s in real)
        return f"{len(real)} ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})"

    print(f"statements, new ticket (new customer):   {count(one_create)}")
    print(f"statements, replay (same key and body):  {count(one_replay)}")
    print(f"statements, GET /tickets/{{number}}:       {count(one_read)}")
    if args.sql:
        for title, listed in (("create", one_create), ("replay", one_replay), ("read", one_read)):
            print(f"--- {title}")
            for statement in listed:
                print("  " + " ".join(statement.split())[:160])
    print(
        f"CPU per request in this process (the test client included): "
        f"create {create_cpu * 1000:.1f} ms, read {read_cpu * 1000:.1f} ms"
    )
    if py_spy:
        for title in ("create", "read"):
            parts = self_time_by_part(out / f"{title}.txt")
            total = sum(parts.values()) or 1
            print(f"--- {title}: py-spy samples by innermost frame ({total} samples)")
            for name, samples in parts.most_common():
                print(f"  {samples / total:6.1%}  {name}")
    else:
        print("(py-spy not found: set PY_SPY or put it on PATH for the CPU breakdown)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
