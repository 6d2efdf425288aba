"""``make bench-api``: the ticketing API's throughput beside the database's raw insert rate.

    .venv/bin/python scripts/bench_api.py [--requests 2000] [--concurrency 16]

Starts the API (uvicorn) on a free port against PostgreSQL (``BENCH_DATABASE_URL``, else
``DATABASE_URL``, else the local server's ``test`` database) in a throw-away schema,
then, at a fixed concurrency and in the same run:

1. creates tickets through ``POST /api/v1/tickets`` (each with its own conversation and
   Idempotency-Key, as the bot sends them) and reads them back with
   ``GET /api/v1/tickets/{number}``: requests per second, p50 and p99 latency;
2. the fair ceiling, right before and right after those phases (so that other work on
   a shared machine weighs on both sides alike): the very rows one ticket creation wrote
   (counted per table on a probe batch of creations, copied from what the API stored),
   inserted raw with psycopg in one transaction per ticket, at the same concurrency, into
   copies of those tables with the same indexes (and, for comparison, without any);
3. comparable single rows inserted straight into the same database, one commit per row,
   with as many connections as the API had concurrent clients.

It writes both and their ratio to ``BENCHMARKS.md`` (section "Ticketing API") with the
date, the machine and the command. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECTION = "## Ticketing API"


def say(message: str) -> None:
    """Progress for the person running the benchmark."""
    print(f"[bench-api] {message}", flush=True)


@dataclass(frozen=True)
class Measured:
    """Throughput and latency of one phase."""

    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else model
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        memory = f", {int(found.group(1)) / 1024 / 1024:.0f} GiB RAM" if found else ""
    return f"{os.cpu_count()} cores ({model}){memory}, Python {platform.python_version()}"


def schema_url(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


async def run_phase(
    label: str, jobs: list[tuple[str, str, dict[str, str], object]], base: str, concurrency: int
) -> tuple[Measured, list[httpx.Response]]:
    """Send the jobs with ``concurrency`` clients; time each request and the whole phase."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(jobs)):
        queue.put_nowait(index)
    latencies: list[float] = []
    responses: list[httpx.Response | None] = [None] * len(jobs)
    done = 0

    async def client() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while not queue.empty():
                index = queue.get_nowait()
                method, path, headers, body = jobs[index]
                started = time.perf_counter()
                response = await http.request(method, path, headers=headers, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                responses[index] = response
                done += 1
                if done % max(len(jobs) // 5, 1) == 0:
                    say(f"{label}: {done}/{len(jobs)}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return Measured(len(jobs), elapsed, latencies), [r for r in responses if r is not None]


def raw_inserts(url: str, schema: str, count: int, concurrency: int) -> Measured:
    """Comparable rows inserted with psycopg, one transaction each, from N threads."""
    from concurrent.futures import ThreadPoolExecutor

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            f'CREATE TABLE "{schema}".raw_tickets (id bigserial PRIMARY KEY, number text, '
            "status text, priority text, description text, created_at timestamptz)"
        )
    per_worker = count // concurrency
    latencies: list[float] = []

    def worker(_n: int) -> None:
        with psycopg.connect(conninfo) as connection:
            for _ in range(per_worker):
                started = time.perf_counter()
                with connection.transaction():
                    connection.execute(
                        f'INSERT INTO "{schema}".raw_tickets '
                        "(number, status, priority, description, created_at) "
                        "VALUES (%s, 'new', 'normal', %s, now())",
                        (f"SD-{uuid.uuid4().int % 10**9}", "my internet has been down"),
                    )
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return Measured(per_worker * concurrency, time.perf_counter() - started, latencies)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:  # the parent's id: a uvicorn worker
                pids.append(int(entry.name))
    for each in pids:
        try:
            fields = (Path("/proc") / str(each) / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def table_counts(url: str, schema: str) -> dict[str, int]:
    """Rows per table of the schema (exact counts)."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                (schema,),
            )
        ]
        counts: dict[str, int] = {}
        for table in tables:
            row = connection.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts


def same_rows_plan(
    url: str, schema: str, per_ticket: dict[str, float], *, indexed: bool, prefix: str
) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Copies of the tables a creation wrote, and the INSERTs of one ticket's rows.

    ``indexed``: the copies get every index of the real table (the primary key and the
    unique ones as plain indexes, since the same rows are inserted again and again), so
    the ceiling pays the index upkeep the API pays; without, they have none. Neither
    has foreign keys or uniqueness checks, so the ceiling stays a little optimistic.
    """
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    plan: list[tuple[str, list[tuple[object, ...]]]] = []
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for table, rows in sorted(per_ticket.items()):
            copies = max(round(rows), 1)
            sample = connection.execute(
                f'SELECT * FROM "{schema}"."{table}" ORDER BY ctid DESC LIMIT %s', (copies,)
            ).fetchall()
            copy = f"{prefix}{table}"
            connection.execute(
                f'CREATE TABLE "{schema}"."{copy}" (LIKE "{schema}"."{table}" INCLUDING DEFAULTS)'
            )
            if indexed:
                for (definition,) in connection.execute(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                    (schema, table),
                ).fetchall():
                    columns = definition[definition.index(" USING ") :]
                    connection.execute(f'CREATE INDEX ON "{schema}"."{copy}"{columns}')
            # JSON columns come back as Python objects; send them back as JSON.
            sample = [
                tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in sample
            ]
            marks = ", ".join(["%s"] * len(sample[0]))
            plan.append((f'INSERT INTO "{schema}"."{copy}" VALUES ({marks})', sample))
    return plan


def same_rows_raw(
    url: str, plan: list[tuple[str, list[tuple[object, ...]]]], count: int, concurrency: int
) -> Measured:
    """Per ticket, one transaction inserting the rows a creation wrote, copied raw."""
    from concurrent.futures import ThreadPoolExecutor

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    per_worker = count // concurrency
    latencies: list[float] = []

    def worker(_n: int) -> None:
        with psycopg.connect(conninfo) as connection:
            for _ in range(per_worker):
                started = time.perf_counter()
                with connection.transaction():
                    for statement, sample in plan:
                        connection.cursor().executemany(statement, sample)
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return Measured(per_worker * concurrency, time.perf_counter() - started, latencies)


def mean_rate(first: Measured, second: Measured) -> float:
    """Requests per second over two runs of the same work (total count / total time)."""
    return (first.count + second.count) / (first.seconds + second.seconds)


def ticket_body(n: int) -> dict[str, object]:
    return {
        "customer": {"channel": "rest", "external_id": f"bench-{n}", "language": "en"},
        "description": "My internet has been down since yesterday",
        "category": "technical_support",
        "channel": "rest",
        "language": "en",
    }


def write_report(text_block: str) -> None:
    """Replace (or add) the Ticketing API section of BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(current):
        updated = pattern.sub(text_block.rstrip() + "\n", current)
    else:
        updated = current.rstrip() + "\n\n" + text_block
    path.write_text(updated)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgresql"):
        say(f"needs PostgreSQL, not {url.split(':')[0]}; set BENCH_DATABASE_URL")
        return 2
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    port = free_port()
    token = secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "DATABASE_URL": schema_url(url, schema),
        "DESK_ENV": "test",
        "DESK_SERVICE_TOKEN": token,
        "DESK_JWT_SECRET": secrets.token_urlsafe(48),
        "DESK_DATA_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
        "DESK_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
        "DESK_SLA_SCHEDULER": "0",
    }
    env.pop("REDIS_URL", None)
    server: subprocess.Popen[bytes] | None = None
    try:
        say(f"migrating a throw-away schema {schema}")
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        say(f"starting the API on port {port} ({args.workers} worker)")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        # Three minutes: on the shared 2-core machine at a load average of 30+ two workers
        # took more than one minute to import and start.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            say("the API did not start")
            return 1

        def headers(n: int) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {token}",
                "X-Desk-Channel": "rest",
                "X-Desk-Sender": f"bench-{n}",
            }

        warm = [
            (
                "POST",
                "/api/v1/tickets",
                {**headers(-i - 1), "Idempotency-Key": f"w{i}"},
                ticket_body(-i - 1),
            )
            for i in range(50)
        ]
        asyncio.run(run_phase("warm-up", warm, base, args.concurrency))

        def creations(prefix: str, senders: range) -> list[tuple[str, str, dict[str, str], object]]:
            return [
                (
                    "POST",
                    "/api/v1/tickets",
                    {**headers(n), "Idempotency-Key": f"{prefix}-{n}"},
                    ticket_body(n),
                )
                for n in senders
            ]

        # What one creation writes, counted on a probe batch after the warm-up (which
        # also created the queues), so the ceiling can be measured before the API too.
        probe_count = min(200, args.requests)
        before = table_counts(url, schema)
        asyncio.run(
            run_phase(
                "probe",
                creations("probe", range(10**6, 10**6 + probe_count)),
                base,
                args.concurrency,
            )
        )
        after = table_counts(url, schema)
        per_ticket = {
            table: (after[table] - before.get(table, 0)) / probe_count
            for table in after
            if after[table] > before.get(table, 0)
        }
        written = ", ".join(f"{table} {rows:g}" for table, rows in sorted(per_ticket.items()))
        say(f"one creation writes: {written}")
        indexed_plan = same_rows_plan(url, schema, per_ticket, indexed=True, prefix="same_")
        bare_plan = same_rows_plan(url, schema, per_ticket, indexed=False, prefix="bare_")
        say("the same rows raw (before the API phase)")
        ceiling_before = same_rows_raw(url, indexed_plan, args.requests, args.concurrency)
        bare_before = same_rows_raw(url, bare_plan, args.requests, args.concurrency)

        creates = creations("bench", range(args.requests))
        say(f"creating {args.requests} tickets with {args.concurrency} concurrent clients")
        before = table_counts(url, schema)
        cpu_before = process_tree_cpu(server.pid)
        created, responses = asyncio.run(run_phase("create", creates, base, args.concurrency))
        api_cpu_ms = (process_tree_cpu(server.pid) - cpu_before) * 1000 / args.requests
        after = table_counts(url, schema)
        per_ticket_run = {
            table: (after[table] - before.get(table, 0)) / args.requests
            for table in after
            if after[table] > before.get(table, 0)
        }
        if per_ticket_run != per_ticket:
            say(f"the create phase wrote other rows per ticket than the probe: {per_ticket_run}")
        failures = [r.status_code for r in responses if r.status_code != 201]
        if failures:
            say(f"{len(failures)} creations failed: {sorted(set(failures))}")
            return 1
        # Each lookup comes from the ticket's own conversation (the bot's scope).
        owners = {
            r.json()["number"]: int(str(creates[i][2]["X-Desk-Sender"]).removeprefix("bench-"))
            for i, r in enumerate(responses)
        }
        lookups = [
            ("GET", f"/api/v1/tickets/{number}", headers(owner), None)
            for number, owner in owners.items()
        ]
        say(f"reading {len(lookups)} tickets back")
        cpu_before = process_tree_cpu(server.pid)
        looked, read = asyncio.run(run_phase("lookup", lookups, base, args.concurrency))
        read_cpu_ms = (process_tree_cpu(server.pid) - cpu_before) * 1000 / len(lookups)
        if any(r.status_code != 200 for r in read):
            say("some lookups failed")
            return 1
        say("the same rows raw (after the API phases)")
        ceiling_after = same_rows_raw(url, indexed_plan, args.requests, args.concurrency)
        bare_after = same_rows_raw(url, bare_plan, args.requests, args.concurrency)
        say(f"raw psycopg inserts: {args.requests} rows, {args.concurrency} connections")
        raw = raw_inserts(url, schema, args.requests, args.concurrency)
        load_after = os.getloadavg()[0]
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    command = "make bench-api  # " + " ".join(
        [
            "scripts/bench_api.py",
            f"--requests {args.requests}",
            f"--concurrency {args.concurrency}",
            f"--workers {args.workers}",
        ]
    )
    ceiling = mean_rate(ceiling_before, ceiling_after)
    bare = mean_rate(bare_before, bare_after)
    report = f"""{SECTION}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, PostgreSQL on the same
machine; the API ran as {args.workers} uvicorn worker(s) without Redis, the client as
{args.concurrency} concurrent asyncio clients on the same cores; 1-minute load average
{load_before:.1f} before the run and {load_after:.1f} after it (anything well above 0 means
other work shared the cores). Command: `{command}`.

| what | requests | per second | p50 ms | p99 ms |
| --- | ---: | ---: | ---: | ---: |
| `POST /api/v1/tickets` (customer, routing, SLA, thread, history, idempotency) | {created.count} | {created.per_second:.0f} | {created.p50:.1f} | {created.percentile(0.99):.1f} |
| `GET /api/v1/tickets/{{number}}` (conversation scope, thread) | {looked.count} | {looked.per_second:.0f} | {looked.p50:.1f} | {looked.percentile(0.99):.1f} |
| ceiling: the same rows raw, one transaction per ticket, tables with the same indexes: before the API phases | {ceiling_before.count} | {ceiling_before.per_second:.0f} | {ceiling_before.p50:.1f} | {ceiling_before.percentile(0.99):.1f} |
| the same, after the API phases | {ceiling_after.count} | {ceiling_after.per_second:.0f} | {ceiling_after.p50:.1f} | {ceiling_after.percentile(0.99):.1f} |
| the same rows raw into tables without indexes: before | {bare_before.count} | {bare_before.per_second:.0f} | {bare_before.p50:.1f} | {bare_before.percentile(0.99):.1f} |
| the same, after | {bare_after.count} | {bare_after.per_second:.0f} | {bare_after.p50:.1f} | {bare_after.percentile(0.99):.1f} |
| raw `INSERT` of one comparable row, one commit each (psycopg) | {raw.count} | {raw.per_second:.0f} | {raw.p50:.1f} | {raw.percentile(0.99):.1f} |

Rows one creation wrote, per table: {written}. The API's processes used
{api_cpu_ms:.1f} ms of CPU per creation and {read_cpu_ms:.1f} ms per read (all workers,
from /proc). Ticket creation runs at **{created.per_second / ceiling:.1%}** of the same
rows inserted raw in one transaction per ticket (the fair ceiling: tables with the same
indexes, measured before and after the API in this run, {ceiling:.0f}/s over both; no
foreign keys or uniqueness checks, so still a little optimistic; the rows are copied as
stored, already sealed, so the ceiling does not pay for finding and encrypting personal
data, which the API does, about 0.04 ms of its CPU per creation); at
{created.per_second / bare:.1%} of the same rows into tables without indexes ({bare:.0f}/s),
and at {created.per_second / raw.per_second:.1%} of single-row inserts.
"""
    print(report, flush=True)
    if not args.no_write:
        write_report(report)
        say("written to BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
