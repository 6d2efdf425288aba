"""Backups of the desk's database and their restore (scripts/backup.py), service environment.

SQLite always; PostgreSQL when DATABASE_URL names a server (CI sets it): each test then
creates its own source and target databases on that server and drops them afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, make_url, select, text

from scripts import backup as desk_backup
from tests.support_service.database import configured_postgres_url
from ticketing.db import make_engine, make_session_factory
from ticketing.migrate import alembic_config
from ticketing.models import Identity
from ticketing.privacy import Vault
from ticketing.seed import seed_demo_data
from ticketing.settings import parse_data_keys


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass
class Desk:
    """A seeded source database, an empty target, the keys, and where backups go."""

    engine_kind: str
    source_url: str
    target_url: str
    keys: str
    blind_index_key: str
    run_dir: Path
    backup_dir: Path

    def environ(
        self, *, keys: str | None = None, database_url: str | None = None
    ) -> dict[str, str]:
        return {
            "DATABASE_URL": database_url or self.source_url,
            "DESK_DATA_KEYS": keys or self.keys,
            "DESK_BLIND_INDEX_KEY": self.blind_index_key,
        }

    def run(self, *argv: str, keys: str | None = None, database_url: str | None = None) -> int:
        return desk_backup.main(
            ["--dir", str(self.backup_dir), "--run-dir", str(self.run_dir), *argv],
            environ=self.environ(keys=keys, database_url=database_url),
        )

    def counts(self, url: str) -> dict[str, int]:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                return desk_backup.table_counts(connection)
        finally:
            engine.dispose()


def seed(url: str, keys: str) -> None:
    """The real schema (Alembic, with PostgreSQL's audit trigger) and the demo data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        command.upgrade(alembic_config(), "head")
    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            vault = Vault(parse_data_keys(keys), base64.b64decode(new_key()))
            seed_demo_data(session, vault=vault, say=lambda _message: None)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    keys = f"k1:{new_key()}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if request.param == "sqlite":
        made = Desk(
            "sqlite",
            f"sqlite:///{run_dir / 'desk.db'}",
            f"sqlite:///{tmp_path / 'restored.db'}",
            keys,
            new_key(),
            run_dir,
            run_dir / "backups",
        )
        seed(made.source_url, keys)
        yield made
        return
    server = configured_postgres_url()
    if server is None:
        pytest.skip("DATABASE_URL names no PostgreSQL server (CI sets it)")
    base = f"desk_bk_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    names = [f"{base}_src", f"{base}_dst"]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = [
        make_url(server).set(database=name).render_as_string(hide_password=False) for name in names
    ]
    try:
        made = Desk("postgresql", urls[0], urls[1], keys, new_key(), run_dir, run_dir / "backups")
        seed(made.source_url, keys)
        yield made
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def newest_manifest(desk: Desk) -> dict[str, object]:
    (path,) = desk_backup.manifests(desk.backup_dir)[-1:]
    return json.loads(path.read_text())


def test_a_round_trip_restores_every_row_and_the_data_still_decrypts(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    before = desk.counts(desk.source_url)
    assert before["customers"] > 0 and before["tickets"] > 0

    assert desk.run("backup") == 0
    manifest = newest_manifest(desk)
    assert manifest["engine"] == desk.engine_kind
    assert manifest["tables"] == before
    assert manifest["key_ids"] == ["k1"]

    assert desk.run("restore", "--yes", "--target", desk.target_url) == 0
    out = capsys.readouterr().out
    assert "row counts match" in out
    assert desk.counts(desk.target_url) == before

    vault = Vault(parse_data_keys(desk.keys), b"\0" * 32)
    engine = make_engine(desk.target_url)
    try:
        with engine.connect() as connection:
            tokens = connection.execute(select(Identity.value_enc)).scalars().all()
            checked = sum(1 for _ in desk_backup.encrypted_values(connection))
    finally:
        engine.dispose()
    assert tokens and checked >= len(tokens)
    opened = {vault.decrypt(token) for token in tokens}
    assert "sam@example.com" in opened
    assert any(value.endswith("13812345678") for value in opened)
    assert f"{checked} encrypted values decrypt" in out


def test_wrong_keys_fail_clearly_before_anything_is_restored(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    assert desk.run("backup") == 0
    empty = desk.counts(desk.target_url)
    capsys.readouterr()

    assert desk.run("restore", "--yes", "--target", desk.target_url, keys=f"k1:{new_key()}") == 1
    assert "data key 'k1' in DESK_DATA_KEYS is not the key this backup was made with" in (
        capsys.readouterr().out
    )
    assert desk.run("restore", "--yes", "--target", desk.target_url, keys=f"k2:{new_key()}") == 1
    assert (
        "sealed with data key 'k1', which DESK_DATA_KEYS does not hold" in capsys.readouterr().out
    )
    assert desk.counts(desk.target_url) == empty, "the target was left alone"


def test_after_a_rotation_an_old_backup_restores_with_the_old_key_kept_in_the_ring(
    desk: Desk,
) -> None:
    assert desk.run("backup") == 0
    rotated = f"k2:{new_key()},{desk.keys}"
    assert desk.run("restore", "--yes", "--target", desk.target_url, keys=rotated) == 0


def test_backups_never_contain_the_keys(desk: Desk) -> None:
    assert desk.run("backup") == 0
    manifest = newest_manifest(desk)
    dump = desk.backup_dir / str(manifest["file"])
    blobs = [dump.read_bytes(), (desk.backup_dir / dump.with_suffix(".json").name).read_bytes()]
    if desk.engine_kind == "postgresql":
        blobs.append(
            subprocess.run(
                ["pg_restore", "-f", "-", str(dump)], capture_output=True, check=True
            ).stdout
        )
    secrets = []
    for value in (desk.keys.split(":", 1)[1], desk.blind_index_key):
        secrets += [value.encode(), base64.b64decode(value)]
    for blob in blobs:
        assert len(blob) > 100
        for secret in secrets:
            assert secret not in blob
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    assert oct(desk.backup_dir.stat().st_mode & 0o777) == "0o700"


def test_a_damaged_dump_is_refused(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    assert desk.run("backup") == 0
    dump = desk.backup_dir / str(newest_manifest(desk)["file"])
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    capsys.readouterr()
    assert desk.run("restore", "--yes", "--target", desk.target_url) == 1
    assert "does not match its manifest's checksum" in capsys.readouterr().out


def test_a_restore_asks_before_replacing_a_database(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    assert desk.run("backup") == 0
    empty = desk.counts(desk.target_url)
    assert desk.run("restore", "--target", desk.target_url) == 1
    assert "confirm with --yes" in capsys.readouterr().out
    assert desk.counts(desk.target_url) == empty


def test_restore_takes_the_newest_backup_into_the_configured_database(desk: Desk) -> None:
    demo = desk
    assert demo.run("backup") == 0
    before = demo.counts(demo.source_url)
    engine = make_engine(demo.source_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE tickets SET subject = 'changed after the backup'"))
    engine.dispose()
    assert demo.run("restore", "--yes") == 0
    assert demo.counts(demo.source_url) == before
    engine = make_engine(demo.source_url)
    with engine.connect() as connection:
        subjects = connection.execute(text("SELECT subject FROM tickets")).scalars().all()
    engine.dispose()
    assert "changed after the backup" not in subjects


# --- the demo's defaults, pruning, the PostgreSQL client's version ---------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Desk:
    keys = f"k1:{new_key()}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    made = Desk(
        "sqlite",
        f"sqlite:///{run_dir / 'desk.db'}",
        f"sqlite:///{tmp_path / 'restored.db'}",
        keys,
        new_key(),
        run_dir,
        run_dir / "backups",
    )
    seed(made.source_url, keys)
    return made


def test_make_backup_uses_the_demo_database_and_the_keys_of_desk_env(demo: Desk) -> None:
    (demo.run_dir / "desk.env").write_text(f"DESK_DATA_KEYS={demo.keys}\n")
    code = desk_backup.main(
        ["--dir", str(demo.backup_dir), "--run-dir", str(demo.run_dir), "backup"], environ={}
    )
    assert code == 0
    assert newest_manifest(demo)["tables"] == demo.counts(demo.source_url)


def test_without_keys_there_is_no_backup(demo: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    code = desk_backup.main(
        ["--dir", str(demo.backup_dir), "--run-dir", str(demo.run_dir), "backup"],
        environ={"DATABASE_URL": demo.source_url},
    )
    assert code == 1
    assert "DESK_DATA_KEYS is not set" in capsys.readouterr().out


def test_the_newest_30_are_kept(demo: Desk) -> None:
    assert desk_backup.DEFAULT_KEEP == 30
    config = desk_backup.Config.load(demo.environ(), demo.run_dir)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for hour in range(5):
        desk_backup.backup(config, demo.backup_dir, keep=3, now=start + timedelta(hours=hour))
    kept = desk_backup.manifests(demo.backup_dir)
    assert [p.name for p in kept] == [
        f"desk-20261201T0{hour}0000000000Z.json" for hour in (2, 3, 4)
    ]
    dumps = sorted(p.name for p in demo.backup_dir.glob("*.sqlite3"))
    assert dumps == [p.with_suffix(".sqlite3").name for p in kept]


def test_pg_dump_must_not_be_older_than_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert desk_backup.major("pg_dump (PostgreSQL) 15.20") == 15
    assert desk_backup.major("15.20 (Debian 15.20-0+deb12u1)") == 15
    server = configured_postgres_url()
    if server is None:
        pytest.skip("DATABASE_URL names no PostgreSQL server (CI sets it)")
    monkeypatch.setattr(desk_backup, "client_version", lambda _tool: "9.6")
    config = desk_backup.Config(database_url=server, key_ring=parse_data_keys(f"k1:{new_key()}"))
    engine = make_engine(server)
    try:
        with pytest.raises(desk_backup.BackupError, match=r"pg_dump 9\.6 is older than the server"):
            desk_backup.dump_postgresql(engine, config, Path(os.devnull))
    finally:
        engine.dispose()
