"""Customer imports: rows per second for a generated file of 100,000 customer records.

Generates a GB18030 CSV like a store's export (Chinese names, phones, e-mails, ID
numbers, channels, tags, dates; about 2 % bad rows and 5 % duplicates of earlier rows),
then imports it the way the API's background task does (``imports.run`` on a fresh
PostgreSQL schema) and measures each phase in wall and CPU seconds of this process;
then re-imports the same file (every row matches, nothing is written). Beside it, in
the same run, the ceiling of the database: the same number of customer and identity
rows inserted raw (executemany, values prepared beforehand, one transaction).

Writes the section "Customer imports" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import os
import platform
import random
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from ticketing.customer_files import open_file, template_header  # noqa: E402
from ticketing.db import Database  # noqa: E402
from ticketing.enums import IdentityKind  # noqa: E402
from ticketing.migrate import alembic_config  # noqa: E402
from ticketing.models import Customer, CustomerImport, Identity  # noqa: E402
from ticketing.principals import Principal, Role  # noqa: E402
from ticketing.privacy import Vault  # noqa: E402
from ticketing.services import imports  # noqa: E402
from ticketing.services.cleansing import channel_book, check_row  # noqa: E402
from ticketing.settings import Settings, normalise_database_url  # noqa: E402

SECTION = "## Customer imports"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
CHANNELS = ["门店", "天猫", "京东", "App", "微信", "拼多多", "抖音", "官网"]
TAGS = ["", "", "", "VIP", "高价值", "流失风险", "VIP；高价值"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def say(message: str) -> None:
    print(f"[bench-import] {message}", flush=True)


def id_number(rng: random.Random) -> str:
    body = f"110101{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def generate(rows: int, seed: int = 7) -> bytes:
    """A GB18030 CSV of ``rows`` records with a Chinese header."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(template_header("zh"))
    made: list[list[str]] = []
    for n in range(rows):
        if made and rng.random() < 0.05:  # the same person again, from another channel
            row = list(rng.choice(made))
            row[4] = rng.choice(CHANNELS)
            row[6] = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
        else:
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.randint(1, 2))
            )
            row = [
                name,
                f"1{rng.choice('3589')}{n:09d}"[:11],
                f"user{n}@example.com" if rng.random() < 0.7 else "",
                id_number(rng) if rng.random() < 0.5 else "",
                rng.choice(CHANNELS),
                rng.choice(TAGS),
                f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}",
            ]
            if rng.random() < 0.02:  # a bad cell
                row[1] = "1234"
            made.append(row)
        writer.writerow(row)
    return out.getvalue().encode("gb18030")


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else model
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def load_average() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


class Clock:
    """Wall and CPU seconds of one phase."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    args = parser.parse_args(argv)

    server = normalise_database_url(
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    if not server.startswith("postgresql"):
        say("needs PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL)")
        return 2
    schema = f"bench_import_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in server else "?"
    url = f"{server}{separator}options=-csearch_path%3D{schema}"
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        env="test",
        service_token="bench-" + uuid.uuid4().hex,
        data_keys=f"bench:{key}",
        blind_index_key=base64.b64encode(os.urandom(32)).decode(),
        jwt_secret=uuid.uuid4().hex + uuid.uuid4().hex,
        sla_scheduler=False,
    )
    database = Database.from_settings(settings)
    vault = Vault.from_settings(settings)
    principal = Principal(name="staff:bench", role=Role.ADMIN)
    try:
        config = alembic_config()
        config.attributes["configure_logging"] = False
        from alembic import command

        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        say(f"generating {args.rows} rows")
        content = generate(args.rows)
        say(f"{len(content) / 1e6:.1f} MB of GB18030 CSV; importing")
        results: list[tuple[str, Clock, dict[str, int]]] = []
        for label in ("first import", "the same file again"):
            with Clock() as whole:
                with Clock() as reading, database.sessions() as session:
                    record, opened = imports.start(
                        session,
                        vault=vault,
                        content=content,
                        filename="bench.csv",
                        principal=principal,
                    )
                    session.commit()
                imports.run(database.sessions, vault, import_id=record.id, opened=opened)
            with database.sessions() as session:
                done = session.get(CustomerImport, record.id)
                assert done is not None
                if done.status != "done":
                    say(f"import failed: {done.error}")
                    return 1
                counts = {
                    "created": done.created_count,
                    "merged": done.merged_count,
                    "unchanged": done.unchanged_count,
                    "rejected": done.rejected_count,
                }
            say(
                f"{label}: {args.rows / whole.wall:.0f} rows/s ({whole.wall:.1f} s wall, {whole.cpu:.1f} s CPU; reading {reading.wall:.1f} s) {counts}"
            )
            results.append((label, whole, counts))

        # The rules alone (CPU, no database): reading and cleansing every row.
        book = channel_book()
        now = datetime.now(UTC)
        with Clock() as rules:
            parsed = open_file(content)
            for row in parsed.rows:
                check_row(row, book=book, now=now)
        # The database's ceiling: as many customers and identities, inserted raw.
        prepared_customers = [
            {
                "language": "zh",
                "display_name_enc": vault.encrypt("王伟"),
                "contact_preferences": {},
                "created_at": now,
                "updated_at": now,
            }
            for _ in range(args.rows)
        ]
        with Clock() as raw, database.engine.begin() as connection:
            ids = (
                connection.execute(
                    insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                    prepared_customers,
                )
                .scalars()
                .all()
            )
            connection.execute(
                insert(Identity),
                [
                    {
                        "customer_id": cid,
                        "kind": IdentityKind.PHONE,
                        "value_hash": uuid.uuid4().hex * 2,
                        "value_enc": "x",
                        "verified": False,
                        "created_at": now,
                    }
                    for cid in ids
                ],
            )
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    first, again = results
    block = f"""{SECTION}

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, PostgreSQL on the same machine;
load average before the run {LOAD_BEFORE}. Command: `make bench-import  # scripts/bench_import.py --rows {args.rows}`.
The file: {args.rows} generated rows, {len(content) / 1e6:.1f} MB of GB18030 CSV (Chinese names, phones,
e-mails on 70 %, ID numbers on 50 %, 8 channels, tags; about 2 % bad phone numbers and 5 %
repeats of an earlier person from another channel). The import runs in-process as the API's
background task does (`imports.start` reads and checks the file, `imports.run` applies it in
one transaction); CPU is this process's time (`time.process_time`), PostgreSQL's own CPU not included.

| what | rows/s (wall) | rows per CPU s | wall s | CPU s | created | merged | unchanged | rejected |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| first import of the file | **{args.rows / first[1].wall:.0f}** | {args.rows / first[1].cpu:.0f} | {first[1].wall:.1f} | {first[1].cpu:.1f} | {first[2]["created"]} | {first[2]["merged"]} | {first[2]["unchanged"]} | {first[2]["rejected"]} |
| the same file again (nothing new) | {args.rows / again[1].wall:.0f} | {args.rows / again[1].cpu:.0f} | {again[1].wall:.1f} | {again[1].cpu:.1f} | {again[2]["created"]} | {again[2]["merged"]} | {again[2]["unchanged"]} | {again[2]["rejected"]} |
| ceiling, rules only: read + cleanse every row, no database | {args.rows / rules.wall:.0f} | {args.rows / rules.cpu:.0f} | {rules.wall:.1f} | {rules.cpu:.1f} | | | | |
| ceiling, database only: raw insert of {args.rows} customers + identities | {args.rows / raw.wall:.0f} | | {raw.wall:.1f} | {raw.cpu:.1f} | | | | |
"""
    print(block)
    if not args.no_write:
        path = ROOT / "BENCHMARKS.md"
        current = path.read_text()
        pattern = re.compile(rf"{re.escape(SECTION)}\n.*?(?=\n## |\Z)", re.S)
        updated = (
            pattern.sub(block.rstrip() + "\n", current)
            if pattern.search(current)
            else current.rstrip() + "\n\n" + block
        )
        path.write_text(updated)
        say("written to BENCHMARKS.md")
    return 0


LOAD_BEFORE = load_average()

if __name__ == "__main__":
    raise SystemExit(main())
