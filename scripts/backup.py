"""Back up and restore the desk's database: `make backup`, `make restore`.

    python scripts/backup.py backup                 # into .run/backups/, the newest 30 kept
    python scripts/backup.py restore [BACKUP] --yes # the newest one unless named
    python scripts/backup.py list

A backup is a consistent dump of the database named by DATABASE_URL (default: the
demo's ``.run/desk.db``): ``pg_dump`` in one snapshot for PostgreSQL, the SQLite
online backup API for SQLite. Beside each dump, a manifest (``.json``) records its
checksum, the row count of every table in that same snapshot, and the ids of the data
keys its personal data is sealed with, each with a key check (a constant sealed with
that key) so that a restore can tell a wrong key from a right one before it touches
anything. Neither file holds a key: keep ``DESK_DATA_KEYS`` apart from the dumps
(README, "Backups").

A restore checks the dump's checksum and the keys first, then replaces the target
database (DATABASE_URL, or ``--target``), then proves the result: the same row counts
as the manifest, and every encrypted value (every ``*_enc`` column) decrypts with the
current keys. It exits non-zero, saying why, when any of that fails.

Settings come from the environment, then from ``.run/desk.env`` (what `make demo`
generated), as for ``scripts/desk.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as `python scripts/backup.py`: the project's packages live one level up.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import (  # noqa: E402
    Connection,
    Engine,
    MetaData,
    create_engine,
    func,
    make_url,
    select,
    text,
)

from scripts.desk import read_env_file  # noqa: E402
from ticketing.db import is_sqlite, make_engine  # noqa: E402
from ticketing.privacy import DecryptionFailed, Vault  # noqa: E402
from ticketing.settings import normalise_database_url, parse_data_keys  # noqa: E402

DEFAULT_DIR = ROOT / ".run" / "backups"
DEFAULT_KEEP = 30
MANIFEST_FORMAT = 1
KEY_CHECK_PLAINTEXT = "desk backup key check"
ENCRYPTED_COLUMN = re.compile(r".+_enc$")
NAME = re.compile(r"^desk-(\d{8}T\d{6}\d{6}Z)\.json$")


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    """Progress for the operator."""
    print(f"[backup] {message}", flush=True)


@dataclass(frozen=True)
class Config:
    """What one run needs: where the database is, and the data keys (never written out)."""

    database_url: str
    key_ring: dict[str, bytes]

    @classmethod
    def load(cls, environ: Mapping[str, str], run_dir: Path) -> Config:
        """The environment first, then run_dir/desk.env (the demo's generated secrets)."""
        env_file = run_dir / "desk.env"
        values = {**(read_env_file(env_file) if env_file.exists() else {}), **environ}
        url = normalise_database_url(
            values.get("DATABASE_URL") or f"sqlite:///{run_dir / 'desk.db'}"
        )
        keys = values.get("DESK_DATA_KEYS", "")
        if not keys.strip():
            raise BackupError(
                "DESK_DATA_KEYS is not set (nor in .run/desk.env): a backup records which "
                "keys its data needs, and a restore proves the data decrypts with them"
            )
        return cls(database_url=url, key_ring=parse_data_keys(keys))

    def vault(self) -> Vault:
        """A vault over the data keys (blind indexes are not used here)."""
        return Vault(self.key_ring, b"\0" * 32)


# --- reading a database (either engine) -------------------------------------------------


def table_counts(connection: Connection) -> dict[str, int]:
    """Rows in every table of the database, by name."""
    metadata = MetaData()
    metadata.reflect(connection)
    return {
        name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(metadata.tables.items())
    }


def encrypted_values(connection: Connection) -> Iterator[tuple[str, str]]:
    """``(table.column, token)`` for every non-null value of every ``*_enc`` column."""
    metadata = MetaData()
    metadata.reflect(connection)
    for name, table in sorted(metadata.tables.items()):
        for column in table.columns:
            if ENCRYPTED_COLUMN.match(column.name):
                rows = connection.execute(select(column).where(column.is_not(None)))
                for (token,) in rows:
                    yield f"{name}.{column.name}", token


def key_ids_in_use(connection: Connection) -> list[str]:
    """The ids of the data keys the database's encrypted values are sealed with."""
    return sorted({token.partition(":")[0] for _, token in encrypted_values(connection)})


def key_checks(key_ring: Mapping[str, bytes], key_ids: list[str]) -> dict[str, str]:
    """For each key id held, a known constant sealed with that key (ciphertext, not the key)."""
    return {
        key_id: Vault({key_id: key_ring[key_id]}, b"\0" * 32).encrypt(KEY_CHECK_PLAINTEXT)
        for key_id in key_ids
        if key_id in key_ring
    }


def check_keys(manifest: Mapping[str, Any], vault: Vault, key_ring: Mapping[str, bytes]) -> None:
    """Refuse before restoring when the current keys cannot open this backup's data."""
    for key_id, check in manifest["key_checks"].items():
        if key_id not in key_ring:
            raise BackupError(
                f"this backup's personal data is sealed with data key {key_id!r}, which "
                "DESK_DATA_KEYS does not hold: restore with the keys of the backup's time "
                "(kept apart from the dumps), e.g. DESK_DATA_KEYS=<active>,...,"
                f"{key_id}:<key>"
            )
        try:
            ok = vault.decrypt(check) == KEY_CHECK_PLAINTEXT
        except DecryptionFailed:
            ok = False
        if not ok:
            raise BackupError(
                f"data key {key_id!r} in DESK_DATA_KEYS is not the key this backup was made "
                "with: nothing was restored"
            )


def verify(connection: Connection, manifest: Mapping[str, Any], vault: Vault) -> int:
    """Row counts as in the manifest and every encrypted value decrypts; returns how many."""
    counts = table_counts(connection)
    expected = manifest["tables"]
    wrong = {
        name: (expected.get(name), counts.get(name))
        for name in sorted(set(expected) | set(counts))
        if expected.get(name) != counts.get(name)
    }
    if wrong:
        details = ", ".join(
            f"{name}: {want} expected, {got} found" for name, (want, got) in wrong.items()
        )
        raise BackupError(f"the restored database does not match the backup: {details}")
    # Values whose key was already missing when the backup was made cannot be proven.
    unreadable = tuple(f"{key_id}:" for key_id in manifest.get("missing_key_ids", []))
    checked = 0
    for where, token in encrypted_values(connection):
        if unreadable and token.startswith(unreadable):
            continue
        try:
            vault.decrypt(token)
        except DecryptionFailed as error:
            raise BackupError(
                f"a value in {where} does not decrypt with the current keys ({error})"
            ) from error
        checked += 1
    return checked


# --- PostgreSQL ----------------------------------------------------------------------------


def libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore connection options and environment for a SQLAlchemy URL.

    The password goes in PGPASSWORD, not on the command line where `ps` shows it.
    """
    parsed = make_url(url)
    args = ["--dbname", parsed.database or "postgres"]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return args, env


def major(version: str) -> int:
    """15 for '15.20 (Debian 15.20-0+deb12u1)' or 'pg_dump (PostgreSQL) 15.20'."""
    found = re.search(r"(\d+)(?:\.\d+)?", version)
    if not found:
        raise BackupError(f"cannot read a PostgreSQL version from {version!r}")
    return int(found.group(1))


def client_version(tool: str) -> str:
    """The version a PostgreSQL client tool reports, or a clear error when it is missing."""
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().rsplit(" ", 1)[-1]


def dump_postgresql(engine: Engine, config: Config, target: Path) -> dict[str, Any]:
    """pg_dump in the snapshot the counts and key ids are read in: they describe the dump."""
    tool = client_version("pg_dump")
    with engine.connect() as connection:
        server = str(connection.execute(text("SHOW server_version")).scalar_one())
    if major(tool) < major(server):
        raise BackupError(
            f"pg_dump {tool} is older than the server ({server}): install the client "
            f"tools of PostgreSQL {major(server)} or later"
        )
    snapshot_reader = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with snapshot_reader as connection, connection.begin():
        snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        args, env = libpq(config.database_url)
        done = subprocess.run(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--file", str(target), *args],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
        counts = table_counts(connection)
        key_ids = key_ids_in_use(connection)
    return {
        "engine": "postgresql",
        "pg_dump": tool,
        "server": server,
        "tables": counts,
        "key_ids": key_ids,
    }


def restore_postgresql(dump: Path, url: str, manifest: Mapping[str, Any]) -> None:
    """pg_restore in one transaction: the target is replaced whole or not at all."""
    tool = client_version("pg_restore")
    if major(tool) < major(manifest.get("pg_dump", "0")):
        raise BackupError(f"pg_restore {tool} cannot read a dump of pg_dump {manifest['pg_dump']}")
    args, env = libpq(url)
    done = subprocess.run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(dump),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, the target is unchanged: {done.stderr.strip()}")


# --- SQLite --------------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} names no SQLite file to back up")
    return Path(database).expanduser().resolve()


@contextmanager
def sqlite_engine(path: Path, *, read_only: bool) -> Iterator[Engine]:
    """An engine on one SQLite file (read-only when asked), disposed afterwards."""
    if read_only:
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


def dump_sqlite(config: Config, target: Path) -> dict[str, Any]:
    """The SQLite online backup API: a consistent copy even while the API writes."""
    source = sqlite_path(config.database_url)
    if not source.exists():
        raise BackupError(f"no database at {source}: start the desk once (make demo) first")
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        # One self-contained file, whatever mode the live database runs in (WAL).
        dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()
    with sqlite_engine(target, read_only=True) as engine, engine.connect() as connection:
        return {
            "engine": "sqlite",
            "tables": table_counts(connection),
            "key_ids": key_ids_in_use(connection),
        }


def restore_sqlite(dump: Path, url: str, manifest: Mapping[str, Any], vault: Vault) -> int:
    """Prove the dump first, then copy it into the target with the backup API (WAL-safe)."""
    with sqlite_engine(dump, read_only=True) as engine, engine.connect() as connection:
        checked = verify(connection, manifest, vault)
    target = sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(dump) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    with sqlite_engine(target, read_only=False) as engine, engine.connect() as connection:
        if table_counts(connection) != manifest["tables"]:
            raise BackupError(f"{target} does not hold what the backup held after the copy")
    return checked


# --- backup, restore, list ------------------------------------------------------------------


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifests(directory: Path) -> list[Path]:
    """The backups in a directory, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if NAME.match(p.name))


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (dump and manifest); returns the removed."""
    removed = []
    for manifest in manifests(directory)[:-keep] if keep > 0 else []:
        data = json.loads(manifest.read_text())
        dump = directory / data["file"]
        dump.unlink(missing_ok=True)
        manifest.unlink()
        removed.append(manifest)
    return removed


def backup(
    config: Config, directory: Path, *, keep: int = DEFAULT_KEEP, now: datetime | None = None
) -> Path:
    """Dump the database into directory, write its manifest, prune old ones; the manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    engine_kind = "sqlite" if is_sqlite(config.database_url) else "postgresql"
    dump = directory / f"desk-{stamp}.{'sqlite3' if engine_kind == 'sqlite' else 'dump'}"
    manifest_path = directory / f"desk-{stamp}.json"
    # Written under a temporary name: a half-written dump never looks like a backup.
    partial = dump.with_name(dump.name + ".partial")
    partial.touch(mode=0o600)
    try:
        if engine_kind == "sqlite":
            described = dump_sqlite(config, partial)
        else:
            engine = make_engine(config.database_url)
            try:
                described = dump_postgresql(engine, config, partial)
            finally:
                engine.dispose()
        missing = [key_id for key_id in described["key_ids"] if key_id not in config.key_ring]
        if missing:
            say(
                f"warning: values sealed with data key(s) {missing}, which DESK_DATA_KEYS does "
                "not hold, are unreadable already; backed up as they are"
            )
        manifest = {
            "format": MANIFEST_FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "file": dump.name,
            "sha256": sha256(partial),
            "bytes": partial.stat().st_size,
            **described,
            "key_checks": key_checks(config.key_ring, described["key_ids"]),
            "missing_key_ids": missing,
        }
        partial.rename(dump)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    manifest_path.chmod(0o600)
    prune(directory, keep)
    return manifest_path


def find_backup(directory: Path, name: str | None) -> Path:
    """The manifest of the named backup (dump or manifest path or name), or the newest."""
    if name:
        given = Path(name)
        candidate = given if given.exists() else directory / given.name
        manifest = candidate.with_suffix(".json")
        if not manifest.exists():
            raise BackupError(f"no backup manifest {manifest}")
        return manifest
    found = manifests(directory)
    if not found:
        raise BackupError(f"no backups in {directory}: run `make backup` first")
    return found[-1]


def restore(config: Config, manifest_path: Path, *, target_url: str | None = None) -> int:
    """Check, restore and prove one backup; returns how many encrypted values were checked."""
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(
            f"{manifest_path.name}: unknown manifest format {manifest.get('format')!r}"
        )
    dump = manifest_path.parent / manifest["file"]
    if not dump.exists():
        raise BackupError(f"the dump {dump} of {manifest_path.name} is missing")
    if sha256(dump) != manifest["sha256"]:
        raise BackupError(f"{dump.name} does not match its manifest's checksum: damaged or altered")
    vault = config.vault()
    check_keys(manifest, vault, config.key_ring)
    url = normalise_database_url(target_url) if target_url else config.database_url
    target_kind = "sqlite" if is_sqlite(url) else "postgresql"
    if target_kind != manifest["engine"]:
        raise BackupError(f"a {manifest['engine']} backup cannot be restored into {target_kind}")
    if target_kind == "sqlite":
        return restore_sqlite(dump, url, manifest, vault)
    restore_postgresql(dump, url, manifest)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return verify(connection, manifest, vault)
    finally:
        engine.dispose()


def describe(url: str) -> str:
    """A database URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def confirmed(prompt: str) -> bool:
    """Whether the operator typed yes (never on a non-interactive stdin)."""
    if not sys.stdin.isatty():
        return False
    return input(f"{prompt} Type yes: ").strip().lower() == "yes"


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Parse the command line and run it; 1 with a message when a check fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="where backups are kept")
    parser.add_argument("--run-dir", default=str(ROOT / ".run"), help="where desk.env is")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("backup", help="dump the database and prune old backups")
    make.add_argument("--keep", type=int, default=DEFAULT_KEEP)
    back = sub.add_parser("restore", help="replace the database with a backup, then prove it")
    back.add_argument("backup", nargs="?", help="a dump or manifest; default: the newest")
    back.add_argument("--target", help="database URL to restore into; default: DATABASE_URL")
    back.add_argument("--yes", action="store_true", help="do not ask before replacing")
    sub.add_parser("list", help="the backups kept, oldest first")
    args = parser.parse_args(argv)
    directory = Path(args.dir).resolve()
    try:
        if args.command == "list":
            for manifest_path in manifests(directory):
                data = json.loads(manifest_path.read_text())
                rows = sum(data["tables"].values())
                print(
                    f"{data['file']}  {data['engine']}  {rows} rows  keys {','.join(data['key_ids']) or '-'}"
                )
            return 0
        config = Config.load(os.environ if environ is None else environ, Path(args.run_dir))
        if args.command == "backup":
            manifest_path = backup(config, directory, keep=args.keep)
            data = json.loads(manifest_path.read_text())
            say(
                f"{describe(config.database_url)} -> {directory / data['file']} "
                f"({data['bytes']} bytes, {sum(data['tables'].values())} rows, "
                f"keys needed: {', '.join(data['key_ids']) or 'none'}); "
                f"{len(manifests(directory))} backups kept"
            )
            return 0
        manifest_path = find_backup(directory, args.backup)
        target = describe(args.target or config.database_url)
        if not args.yes and not confirmed(f"Replace {target} with {manifest_path.stem}?"):
            say("not restored: confirm with --yes (make restore RESTORE_ARGS=--yes)")
            return 1
        checked = restore(config, manifest_path, target_url=args.target)
        say(
            f"{manifest_path.stem} restored into {target}: row counts match, {checked} encrypted values decrypt"
        )
        return 0
    except BackupError as error:
        say(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
