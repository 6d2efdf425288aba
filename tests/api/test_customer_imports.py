"""Customer imports over HTTP: files in both encodings and XLSX, the report, merges, the
conflict log, rejected rows, paused channels, bad input, and two API instances."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.app import create_app
from tests.support_service.factories import STAFF_PASSWORD, make_staff, ticket_payload
from tests.support_service.import_files import (
    EN_HEADER,
    ZH_HEADER,
    csv_bytes,
    id_number,
    phone,
    store_export,
    xlsx_bytes,
)
from ticketing.enums import IdentityKind
from ticketing.models import (
    AuditEntry,
    Customer,
    CustomerImport,
    CustomerImportConflict,
    CustomerTag,
    Identity,
    utcnow,
)
from ticketing.privacy import Vault
from ticketing.repositories import imports as imports_repo
from ticketing.settings import Settings

URL = "/api/v1/customers/imports"


@pytest.fixture
def staff(anonymous_client: TestClient, session: Session):
    make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
    make_staff(session, "zhao.min", role="supervisor", presence="offline")
    make_staff(session, "admin", role="admin", presence="offline")

    def headers(username: str) -> dict[str, str]:
        token = anonymous_client.post(
            "/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD}
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    return headers


def upload(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    *,
    name: str = "customers.csv",
    **form: str,
):
    return client.post(URL, headers=headers, files={"file": (name, content)}, data=form)


def finished(client: TestClient, headers: dict[str, str], content: bytes, **form: str) -> dict:
    """Upload and read the import back (TestClient runs the background work first)."""
    started = upload(client, headers, content, **form)
    assert started.status_code == 202, started.text
    body = client.get(f"{URL}/{started.json()['id']}", headers=headers).json()
    assert body["status"] == "done", body
    return body


def customers(session: Session) -> int:
    session.expire_all()
    count = session.scalar(select(func.count()).select_from(Customer)) or 0
    session.commit()  # SQLite: end the read, so the next request may write
    return count


class TestAccess:
    def test_roles_and_unknown_imports(self, anonymous_client: TestClient, staff) -> None:
        content = csv_bytes(store_export())
        assert upload(anonymous_client, {}, content).status_code == 401
        refused = upload(anonymous_client, staff("wang.fang"), content)
        assert refused.status_code == 403
        boss = staff("zhao.min")
        assert anonymous_client.get(f"{URL}/999", headers=boss).status_code == 404
        assert anonymous_client.get(f"{URL}/999").status_code == 401
        assert anonymous_client.get(f"{URL}/0", headers=boss).status_code == 422
        assert anonymous_client.get(f"{URL}/999/rejections.csv", headers=boss).status_code == 404

    def test_the_template_in_both_languages(self, anonymous_client: TestClient, staff) -> None:
        boss = staff("zhao.min")
        zh = anonymous_client.get(f"{URL}/template", headers=boss)
        assert zh.status_code == 200
        assert zh.content.decode("utf-8-sig").strip().split(",") == ZH_HEADER
        en = anonymous_client.get(f"{URL}/template?lang=en&format=xlsx", headers=boss)
        assert en.content.startswith(b"PK")
        assert anonymous_client.get(f"{URL}/template").status_code == 401


class TestRealisticFiles:
    @pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "gbk"])
    def test_a_store_export_gives_the_report(
        self, anonymous_client: TestClient, staff, session: Session, vault: Vault, encoding: str
    ) -> None:
        content = csv_bytes(store_export(), encoding=encoding, bom=encoding == "utf-8")
        body = finished(anonymous_client, staff("zhao.min"), content)
        assert body["encoding"] == ("utf-8" if encoding == "utf-8" else "gb18030")
        # 10 rows: 4 good people (rows 2 and 5 are one person), 6 rejected
        assert (body["created"], body["merged"], body["rejected"]) == (3, 1, 6)
        report = body["report"]
        assert report["rejection_reasons"] == {
            "invalid_phone": 1,
            "invalid_email": 1,
            "invalid_id_number": 1,
            "unknown_channel": 1,
            "formula": 1,
            "invalid_date": 1,
        }
        assert report["rows"] == 10 and report["quality"] == 0.4
        assert report["duplicate_rate"] == 0.25
        assert 0 < report["completeness"] < 1 and 0 < report["validity"] < 1
        assert report["channels"]["store"]["rows"] == 4
        assert report["channels"]["store"]["accepted"] == 1
        assert report["channels"]["tmall"]["rows"] == 2
        # the in-file duplicate: the newer row from the app wins the name; logged
        conflicts = anonymous_client.get(
            f"{URL}/{body['id']}/conflicts", headers=staff("zhao.min")
        ).json()
        assert [(c["field"], c["winner"], c["loser"], c["rule"]) for c in conflicts] == [
            ("name", "row 5", "row 3", "updated_at")
        ]
        owner = session.scalar(
            select(Identity.customer_id).where(
                Identity.kind == IdentityKind.PHONE,
                Identity.value_hash == vault.blind_index(IdentityKind.PHONE, "+8613900000002"),
            )
        )
        assert conflicts[0]["customer_id"] == owner
        person = session.get(Customer, owner)
        assert person is not None and vault.decrypt(person.display_name_enc or "") == "韩梅"
        # encrypted at rest: no clear name or e-mail anywhere in the customer's row
        assert "韩梅" not in (person.display_name_enc or "")
        contacts = session.scalars(
            select(Identity.value_enc).where(Identity.customer_id == owner)
        ).all()
        assert len(contacts) == 2 and all("@" not in e and "139" not in e for e in contacts)
        tags = set(session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == owner)))
        assert tags == {"vip"}
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.customer_id == owner)
        ).all()
        assert sorted(audited) == ["import_conflict", "import_create"]

    def test_names_dates_tags_are_cleansed(
        self, anonymous_client: TestClient, staff, session: Session, vault: Vault
    ) -> None:
        long_name = "Alexander " * 8
        rows = [
            [
                f" {long_name} ",
                phone(1),
                "",
                id_number().lower()[:-1] + id_number()[-1],
                "web",
                "贵宾, 高价值, Loyal ",
                "2026.11.3 08:30",
            ]
        ]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(rows, header=EN_HEADER))
        assert body["created"] == 1 and body["report"]["names_truncated"] == 1
        person = session.scalars(select(Customer)).one()
        name = vault.decrypt(person.display_name_enc or "")
        assert len(name) == 50 and name == long_name.strip()[:50]
        assert person.updated_at.date().isoformat() == "2026-11-03"
        tags = sorted(session.scalars(select(CustomerTag.tag)))
        assert tags == ["high_value", "loyal", "vip"]

    def test_xlsx_with_a_formula_is_read_never_evaluated(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        rows = [
            ["Sam Taylor", 13900000011, "sam@example.com", id_number(), "tmall", "", "2026-11-01"],
            ["=1+1", phone(12), "", "", "tmall", "", "2026-11-01"],
            ["Eve", "=A1", "", "", "tmall", "", "2026-11-01"],
        ]
        body = finished(anonymous_client, staff("zhao.min"), xlsx_bytes(rows), name="c.xlsx")
        assert body["file_format"] == "xlsx"
        assert (body["created"], body["rejected"]) == (1, 2)
        assert body["report"]["rejection_reasons"] == {"formula": 2}
        exported = anonymous_client.get(
            f"{URL}/{body['id']}/rejections.csv", headers=staff("zhao.min")
        )
        assert exported.status_code == 200
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert table[0][:3] == ["行号/row", "原因/reasons", "姓名/name"]
        assert [row[0] for row in table[1:]] == ["3", "4"]
        assert table[1][2] == "'=1+1" and table[2][3] == "'=A1"
        assert "name: formula" in table[1][1]
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "import_rejections")
        ).one()
        assert audit.actor == "staff:zhao.min"


class TestMergesWithTheStore:
    def test_reimporting_the_same_file_creates_nothing(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        content = csv_bytes(store_export(), encoding="gb18030")
        first = finished(anonymous_client, staff("zhao.min"), content)
        before = customers(session)
        again = finished(anonymous_client, staff("admin"), content)
        assert customers(session) == before == first["created"]
        assert (again["created"], again["merged"], again["unchanged"]) == (0, 0, 4)
        assert again["report"]["same_file_as"] == first["id"]

    def test_the_newer_record_wins_then_own_channels(
        self,
        client: TestClient,
        anonymous_client: TestClient,
        staff,
        session: Session,
        vault: Vault,
    ) -> None:
        # A customer the bot met (name 李雷, phone 13800138000), then imported records.
        created = client.post(
            "/api/v1/tickets", json=ticket_payload(customer={"display_name": "李雷"})
        ).json()
        customer_id = created["customer_id"]
        old = [["李磊", "13800138000", "", id_number(), "tmall", "", "2020-01-01"]]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(old))
        assert (body["created"], body["merged"]) == (0, 1)
        session.expire_all()
        person = session.get(Customer, customer_id)
        assert person is not None
        assert vault.decrypt(person.display_name_enc or "") == "李雷"  # the store was newer
        assert vault.decrypt(person.id_number_enc or "") == id_number()  # filled in
        conflict = session.scalars(select(CustomerImportConflict)).one()
        assert (conflict.field, conflict.winner, conflict.rule) == ("name", "store", "updated_at")
        # The store's profile ages; a newer record from a marketplace now wins.
        session.execute(
            update(Customer)
            .where(Customer.id == customer_id)
            .values(updated_at=utcnow() - timedelta(days=30))
        )
        session.commit()
        today = utcnow().date().isoformat()
        newer = [["李小雷", "13800138000", "lei@example.com", "", "jd", "vip", today]]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(newer))
        assert (body["created"], body["merged"]) == (0, 1)
        session.expire_all()
        person = session.get(Customer, customer_id)
        assert person is not None and vault.decrypt(person.display_name_enc or "") == "李小雷"
        kinds = sorted(
            k.value
            for k in session.scalars(
                select(Identity.kind).where(Identity.customer_id == customer_id)
            )
        )
        assert kinds == ["email", "phone", "rest"]
        audit = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "import_update", AuditEntry.customer_id == customer_id
            )
        ).all()
        assert [a.details["fields"] for a in audit][-1] == ["name", "email", "tags"]

    def test_same_day_own_channel_wins_over_third_party(
        self, anonymous_client: TestClient, staff, session: Session, vault: Vault
    ) -> None:
        rows = [
            ["App Name", phone(20), "", "", "app", "", "2026-11-01"],
            ["Tmall Name", phone(20), "", "", "tmall", "", "2026-11-01"],
        ]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(rows))
        assert (body["created"], body["merged"]) == (1, 1)
        person = session.scalars(select(Customer)).one()
        assert vault.decrypt(person.display_name_enc or "") == "App Name"
        conflict = session.scalars(select(CustomerImportConflict)).one()
        assert (conflict.winner, conflict.rule) == ("row 2", "channel_priority")

    def test_contacts_of_two_customers_are_rejected_not_merged(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        finished(
            anonymous_client,
            staff("zhao.min"),
            csv_bytes(
                [
                    ["A", phone(30), "", "", "app", "", ""],
                    ["B", "", "b@example.com", "", "app", "", ""],
                ]
            ),
        )
        both = [["AB", phone(30), "b@example.com", "", "app", "", "2026-11-01"]]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(both))
        assert body["report"]["rejection_reasons"] == {"ambiguous_match": 1}
        assert customers(session) == 2


class TestChannelQuality:
    def test_three_poor_imports_pause_the_channel_until_an_admin_resumes(
        self, anonymous_client: TestClient, staff, session: Session
    ) -> None:
        boss, admin = staff("zhao.min"), staff("admin")
        poor = [["X", "123", "", "", "pdd", "", ""], ["Y", phone(40), "", "", "pdd", "", ""]]
        for _ in range(3):
            body = finished(anonymous_client, boss, csv_bytes(poor))
            assert body["report"]["channels"]["pinduoduo"]["quality"] == 0.5
        assert body["report"]["channels_paused"] == ["pinduoduo"]
        listed = {
            c["key"]: c
            for c in anonymous_client.get("/api/v1/customers/import-channels", headers=boss).json()
        }
        assert listed["pinduoduo"]["paused"] and listed["tmall"]["kind"] == "third_party"
        body = finished(
            anonymous_client, boss, csv_bytes([["Z", phone(41), "", "", "pdd", "", ""]])
        )
        assert body["report"]["rejection_reasons"] == {"channel_paused": 1}
        refused = upload(anonymous_client, boss, csv_bytes([]), channel="拼多多")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "channel_paused"
        resume = "/api/v1/customers/import-channels/pinduoduo/resume"
        assert anonymous_client.post(resume, headers=boss).status_code == 403
        assert anonymous_client.post(resume, headers=admin).json()["paused"] is False
        assert anonymous_client.post(resume, headers=admin).status_code == 409
        unknown = "/api/v1/customers/import-channels/nowhere/resume"
        assert anonymous_client.post(unknown, headers=admin).status_code == 404
        body = finished(
            anonymous_client, boss, csv_bytes([["Z", phone(41), "", "", "pdd", "", ""]])
        )
        assert body["created"] == 1


class TestBadInput:
    def test_a_50_mb_file_is_413(self, anonymous_client: TestClient, staff) -> None:
        big = b"name,phone\r\n" + b"x" * (50 * 1024 * 1024)
        refused = upload(anonymous_client, staff("zhao.min"), big)
        assert refused.status_code == 413
        assert refused.json()["error"]["code"] == "payload_too_large"

    @pytest.mark.parametrize(
        ("content", "code"),
        [
            ("姓名,手机\r\n".encode("utf-16"), "wrong_encoding"),
            (b"", "empty_file"),
            (csv_bytes([], header=ZH_HEADER[:-1]), "bad_header"),
            (csv_bytes([], header=[*EN_HEADER, "vip_level"]), "bad_header"),
            (csv_bytes([], header=[*EN_HEADER[:-1], "name"]), "bad_header"),
            (
                b'name,phone,email,id_number,channel,tags,updated_at\r\n"A"x,1,,,,,\r\n',
                "malformed_csv",
            ),
            (b"\xd0\xcf\x11\xe0old excel", "unsupported_format"),
            (b"PK\x03\x04not really a zip", "unreadable_xlsx"),
            (
                "姓名,手机,邮箱,证件号,渠道,标签,更新时间\r\n".encode("big5", "replace")
                + bytes([0x81, 0x20]),
                "wrong_encoding",
            ),
        ],
    )
    def test_unreadable_files_are_422_and_leave_nothing(
        self, anonymous_client: TestClient, staff, session: Session, content: bytes, code: str
    ) -> None:
        refused = upload(anonymous_client, staff("zhao.min"), content)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == code
        assert refused.json()["error"]["message"]
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(CustomerImport)) == 0

    def test_missing_columns_are_named(self, anonymous_client: TestClient, staff) -> None:
        refused = upload(anonymous_client, staff("zhao.min"), csv_bytes([], header=ZH_HEADER[:5]))
        message = refused.json()["error"]["message"]
        assert "标签/tags" in message and "更新时间/updated_at" in message

    def test_repeated_headers_and_malformed_rows_are_rejected_per_row(
        self, anonymous_client: TestClient, staff
    ) -> None:
        rows: list[list[object]] = [
            ["A", phone(50), "", "", "app", "", ""],
            ZH_HEADER,
            ["B", phone(51), "", "", "app", "", "", "surplus"],
            ["C", phone(52), "", "", "app", "", ""],
            [],
        ]
        body = finished(anonymous_client, staff("zhao.min"), csv_bytes(rows))
        assert (body["created"], body["rejected"]) == (2, 2)
        assert body["report"]["rejection_reasons"] == {"header_row": 1, "malformed_row": 1}
        assert body["report"]["blank_rows"] == 1

    def test_a_failed_import_changes_nothing(
        self, anonymous_client: TestClient, staff, session: Session, monkeypatch
    ) -> None:
        # Fault injection: the last write of the import (its conflict log) fails, after
        # customers, identities and tags were written in the same transaction.
        real = imports_repo.insert_rows

        def failing(session_: Session, model: type, rows: list) -> None:
            if model is CustomerImportConflict:
                raise RuntimeError("disk full")
            real(session_, model, rows)

        monkeypatch.setattr(imports_repo, "insert_rows", failing)
        started = upload(anonymous_client, staff("zhao.min"), csv_bytes(store_export()))
        assert started.status_code == 202
        body = anonymous_client.get(f"{URL}/{started.json()['id']}", headers=staff("zhao.min"))
        assert body.json()["status"] == "failed"
        assert "nothing was imported" in body.json()["error"]
        assert body.json()["created"] == 0
        assert customers(session) == 0
        assert session.scalar(select(func.count()).select_from(Identity)) == 0


class TestTwoInstances:
    def test_another_instance_reports_progress_and_a_dead_worker(
        self, anonymous_client: TestClient, staff, session: Session, settings: Settings
    ) -> None:
        other = TestClient(create_app(settings))
        with other:
            started = upload(anonymous_client, staff("zhao.min"), csv_bytes(store_export()))
            seen = other.get(f"{URL}/{started.json()['id']}", headers=staff("zhao.min")).json()
            assert (seen["status"], seen["created"], seen["progress"]) == ("done", 3, 1.0)
            # An instance died while its import ran: the heartbeat stops, the status fails.
            session.execute(
                update(CustomerImport)
                .where(CustomerImport.id == started.json()["id"])
                .values(status="running", heartbeat_at=utcnow() - timedelta(minutes=10))
            )
            session.commit()
            stale = other.get(f"{URL}/{started.json()['id']}", headers=staff("zhao.min")).json()
            assert stale["status"] == "failed" and "stopped" in stale["error"]
