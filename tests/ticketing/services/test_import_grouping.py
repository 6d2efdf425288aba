"""Folding an import file's rows into people (ticketing/services/import_grouping.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from ticketing.services.cleansing import Record, channel_book
from ticketing.services.import_grouping import group_records

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def record(row: int, channel: str, **values: object) -> Record:
    fields: dict[str, object] = {
        "name": None,
        "phone": None,
        "email": None,
        "id_number": None,
        "tags": (),
        "updated_at": MONDAY,
    }
    fields.update(values)
    return Record(row=row, channel=channel, **fields)  # type: ignore[arg-type]


class TestGroupRecords:
    def test_rows_sharing_a_contact_are_one_person_and_the_newer_name_wins(self) -> None:
        rows = [
            record(2, "app", name="李雷", phone="13800138000", tags=("vip",)),
            # Shares the e-mail with row 4, which shares the phone with row 2: one person.
            record(3, "tmall", name="李小雷", email="li@example.com", updated_at=TUESDAY),
            record(4, "web", phone="13800138000", email="li@example.com"),
            record(5, "app", name="韩梅梅", phone="13900139000"),
        ]
        groups = sorted(group_records(rows, channel_book()), key=lambda g: len(g.records))

        assert [sorted(r.row for r in g.records) for g in groups] == [[5], [2, 3, 4]]
        person = groups[1]
        assert (person.name, person.phones, person.emails, person.tags) == (
            "李小雷",
            ["13800138000"],
            ["li@example.com"],
            {"vip"},
        )
        assert person.conflicts == [
            {"field": "name", "winner": "row 3", "loser": "row 2", "rule": "updated_at"}
        ]

    def test_on_the_same_update_time_an_own_channel_wins_over_a_marketplace(self) -> None:
        rows = [
            record(2, "tmall", name="Sam Lee", phone="13800138000"),
            record(3, "app", name="Samuel Lee", phone="13800138000"),
        ]
        [person] = group_records(rows, channel_book())

        assert person.name == "Samuel Lee"
        assert person.conflicts == [
            {"field": "name", "winner": "row 3", "loser": "row 2", "rule": "channel_priority"}
        ]
