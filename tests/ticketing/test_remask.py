"""Re-masking texts sealed before today's detection (python -m ticketing.remask)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text, update

from tests.support_service.factories import ticket_payload
from ticketing import remask as remask_command
from ticketing.db import Database
from ticketing.models import AuditEntry, Ticket, TicketEvent, TicketMessage
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.remask import remask
from ticketing.schemas import TicketCreate
from ticketing.services.tickets import create_ticket
from ticketing.settings import Settings

PHONE = "13812345678"
# Texts as they were stored before names were detected: (masked copy then, full text).
SEALED_BEFORE = ("我叫李雷，电话 138****5678", f"我叫李雷，电话 {PHONE}")
PLAIN_BEFORE = "hello, my name is Sam Taylor and the router is broken"
OWN_NAME_BEFORE = "韩梅梅说路由器的灯是红的"


@pytest.fixture
def desk(clean_database: Database, settings: Settings) -> Iterator[Database]:
    """The test database with sessions that seal (the data keys of ``settings``)."""
    database = Database.from_settings(settings)
    yield database
    database.dispose()


def seed(database: Database, vault: Vault) -> dict[str, int]:
    """One ticket whose texts look as an older desk stored them; their row ids."""
    with database.sessions.begin() as session:
        payload = TicketCreate.model_validate(
            ticket_payload(customer={"display_name": "韩梅梅"}, description="宽带断了")
        )
        ticket = create_ticket(
            session, vault=vault, principal=Principal("bot", Role.BOT_SERVICE), payload=payload
        ).ticket
        ids = {"ticket": ticket.id}
        for key, body in (("sealed", "x"), ("plain", "y"), ("own", "z"), ("clean", "路由器坏了")):
            message = TicketMessage(ticket_id=ticket.id, author_type="customer", body=body)
            session.add(message)
            session.flush()
            ids[key] = message.id
        event = TicketEvent(
            ticket_id=ticket.id, actor="agent:x", field="subject", old_value="a", new_value="b"
        )
        session.add(event)
        session.flush()
        ids["event"] = event.id
    old = {
        "sealed": (SEALED_BEFORE[0], vault.encrypt(SEALED_BEFORE[1])),
        "plain": (PLAIN_BEFORE, None),
        "own": (OWN_NAME_BEFORE, None),
    }
    with database.engine.begin() as connection:
        for key, (masked, token) in old.items():
            connection.execute(
                update(TicketMessage)
                .where(TicketMessage.id == ids[key])
                .values(body=masked, body_enc=token)
            )
        connection.execute(
            update(TicketEvent)
            .where(TicketEvent.id == ids["event"])
            .values(new_value="联系人：王芳", new_value_enc=None)
        )
    return ids


def stored(database: Database, model: Any, row_id: int, column: str) -> tuple[str, str | None]:
    with database.engine.connect() as connection:
        row = connection.execute(
            select(getattr(model, column), getattr(model, f"{column}_enc")).where(
                model.id == row_id
            )
        ).one()
    return row[0], row[1]


def ticket_versions(database: Database) -> list[int]:
    with database.engine.connect() as connection:
        return list(connection.execute(select(Ticket.version).order_by(Ticket.id)).scalars())


def remask_audits(database: Database) -> list[dict[str, Any]]:
    with database.engine.connect() as connection:
        return [
            dict(d)
            for d in connection.execute(
                select(AuditEntry.details).where(AuditEntry.action == "remask")
            ).scalars()
        ]


class TestRemask:
    def test_a_dry_run_counts_and_changes_nothing(self, desk: Database, vault: Vault) -> None:
        ids = seed(desk, vault)
        lines: list[str] = []
        result = remask(desk, vault=vault, apply=False, progress=lines.append)
        assert result.remasked == 4  # three messages and one history value
        assert result.columns["ticket_messages.body"].remasked == 3
        assert result.columns["ticket_events.new_value"].remasked == 1
        assert stored(desk, TicketMessage, ids["plain"], "body") == (PLAIN_BEFORE, None)
        assert remask_audits(desk) == []
        assert any("to re-mask" in line for line in lines)

    def test_names_are_masked_full_texts_kept_and_audited_with_counts_only(
        self, desk: Database, vault: Vault
    ) -> None:
        ids = seed(desk, vault)
        lines: list[str] = []
        result = remask(desk, vault=vault, apply=True, batch_size=2, progress=lines.append)
        assert result.remasked == 4

        masked, token = stored(desk, TicketMessage, ids["sealed"], "body")
        assert masked == "我叫李*，电话 138****5678"
        assert token is not None and vault.decrypt(token) == SEALED_BEFORE[1]
        masked, token = stored(desk, TicketMessage, ids["plain"], "body")
        assert masked == "hello, my name is S*** T*** and the router is broken"
        assert token is not None and vault.decrypt(token) == PLAIN_BEFORE  # revealable
        masked, token = stored(desk, TicketMessage, ids["own"], "body")
        assert "韩梅梅" not in masked and vault.decrypt(str(token)) == OWN_NAME_BEFORE
        assert stored(desk, TicketMessage, ids["clean"], "body") == ("路由器坏了", None)
        value, token = stored(desk, TicketEvent, ids["event"], "new_value")
        assert value == "联系人：王*" and vault.decrypt(str(token)) == "联系人：王芳"

        [details] = remask_audits(desk)
        assert details["remasked"] == 4 and details["dry_run"] is False
        assert details["columns"]["ticket_messages.body"]["remasked"] == 3
        for secret in ("李雷", "Sam", "Taylor", "韩梅梅", "王芳", PHONE):
            assert secret not in str(details)
        # Progress: one line per batch of 2 (five messages and the ticket's first one).
        assert sum("ticket_messages.body" in line for line in lines) >= 3

    def test_it_is_idempotent(self, desk: Database, vault: Vault) -> None:
        ids = seed(desk, vault)
        versions_before = ticket_versions(desk)
        remask(desk, vault=vault, apply=True)
        after_first = [stored(desk, TicketMessage, ids[k], "body") for k in ("sealed", "plain")]
        again = remask(desk, vault=vault, apply=True)
        assert again.remasked == 0
        assert [stored(desk, TicketMessage, ids[k], "body") for k in ("sealed", "plain")] == (
            after_first
        )
        # Plain UPDATEs: the tickets' versions (agents' optimistic locks) do not move.
        assert ticket_versions(desk) == versions_before

    def test_a_text_whose_key_left_the_ring_is_counted_and_left_alone(
        self, desk: Database, vault: Vault
    ) -> None:
        ids = seed(desk, vault)
        stranger = Vault({"gone": os.urandom(32)}, b"")
        token = stranger.encrypt(SEALED_BEFORE[1])
        with desk.engine.begin() as connection:
            connection.execute(
                update(TicketMessage)
                .where(TicketMessage.id == ids["sealed"])
                .values(body_enc=token)
            )
        result = remask(desk, vault=vault, apply=True)
        assert result.columns["ticket_messages.body"].unreadable == 1
        assert stored(desk, TicketMessage, ids["sealed"], "body") == (SEALED_BEFORE[0], token)


class TestCommand:
    def test_dry_run_by_default_then_apply(
        self,
        desk: Database,
        vault: Vault,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        seed(desk, vault)
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("DESK_DATA_KEYS", settings.data_keys.get_secret_value())
        monkeypatch.setenv("DESK_BLIND_INDEX_KEY", settings.blind_index_key.get_secret_value())
        monkeypatch.setenv("DESK_SERVICE_TOKEN", settings.service_token.get_secret_value())
        monkeypatch.setenv("DESK_JWT_SECRET", settings.jwt_secret.get_secret_value())
        monkeypatch.setenv("DESK_ENV", "test")
        from ticketing.settings import get_settings

        get_settings.cache_clear()
        try:
            assert remask_command.main([]) == 0
            out, err = capsys.readouterr()
            assert '"remasked": 4' in out and "--apply" in err
            assert remask_audits(desk) == []
            assert remask_command.main(["--apply"]) == 0
            assert '"remasked": 4' in capsys.readouterr().out
            assert remask_command.main(["--apply"]) == 0
            assert '"remasked": 0' in capsys.readouterr().out
        finally:
            get_settings.cache_clear()
        assert len(remask_audits(desk)) == 2

    def test_once_across_instances_on_postgresql(self, desk: Database, settings: Settings) -> None:
        if desk.engine.dialect.name != "postgresql":
            pytest.skip("the advisory lock is PostgreSQL's (SQLite has one host)")
        other = create_engine(desk.engine.url)
        try:
            with other.connect() as holder:
                holder.execute(
                    text("SELECT pg_advisory_lock(:c, hashtext(current_schema()))"),
                    {"c": remask_command.LOCK_CLASS},
                )
                with pytest.raises(remask_command.RemaskBusy), remask_command.exclusive(desk):
                    pass
                holder.execute(
                    text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"),
                    {"c": remask_command.LOCK_CLASS},
                )
            with remask_command.exclusive(desk):
                with desk.engine.connect() as connection:
                    held = connection.execute(
                        select(func.count())
                        .select_from(text("pg_locks"))
                        .where(text("locktype = 'advisory'"))
                    ).scalar_one()
                assert held >= 1
        finally:
            other.dispose()
