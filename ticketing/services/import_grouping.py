"""Customer imports: the rows of one file folded into people.

Rows sharing a phone number or an e-mail address are one person; where they disagree,
the profile store's rule picks the value (:func:`ticketing.services.merges.merge_precedence`:
the most recent update, then own channels before third parties, then the later row).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ticketing.services.cleansing import ChannelBook, Record
from ticketing.services.merges import merge_precedence

# What a record without an update time counts as: older than anything.
OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Group:
    """Records of one person inside the file, merged by the store's rule."""

    records: list[Record]
    name: str | None = None
    id_number: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    top: Record | None = None
    conflicts: list[dict[str, str]] = field(default_factory=list)

    @property
    def updated_at(self) -> datetime | None:
        return self.top.updated_at if self.top else None


def _key(record: Record, book: ChannelBook) -> tuple[tuple[datetime, int], int]:
    # The profile store's rule (most recent update, then own channels before third
    # parties); between two rows of the file equal on both, the later row.
    precedence = merge_precedence(record.updated_at or OLDEST, book.rank(record.channel))
    return (precedence, record.row)


def _rule(winner: Record, loser: Record, book: ChannelBook) -> str:
    if (winner.updated_at or OLDEST) != (loser.updated_at or OLDEST):
        return "updated_at"
    if book.rank(winner.channel) != book.rank(loser.channel):
        return "channel_priority"
    return "file_order"


def group_records(records: list[Record], book: ChannelBook) -> list[Group]:
    """Fold records sharing a phone or an e-mail together, values merged by the rule."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for index, record in enumerate(records):
        for key in (("phone", record.phone), ("email", record.email)):
            if key[1] is None:
                continue
            seen = owner.setdefault((key[0], key[1]), index)
            if seen != index:
                parent[find(index)] = find(seen)
    members: dict[int, list[Record]] = defaultdict(list)
    for index, record in enumerate(records):
        members[find(index)].append(record)
    groups = []
    for rows in members.values():
        ordered = sorted(rows, key=lambda r: _key(r, book), reverse=True)
        group = Group(records=rows, top=ordered[0])
        for name in ("name", "id_number"):
            holders = [r for r in ordered if getattr(r, name)]
            if not holders:
                continue
            winner = holders[0]
            setattr(group, name, getattr(winner, name))
            for other in holders[1:]:
                if getattr(other, name) != getattr(winner, name):
                    group.conflicts.append(
                        {
                            "field": name,
                            "winner": f"row {winner.row}",
                            "loser": f"row {other.row}",
                            "rule": _rule(winner, other, book),
                        }
                    )
        group.phones = sorted({r.phone for r in ordered if r.phone})
        group.emails = sorted({r.email for r in ordered if r.email})
        group.tags = {t for r in rows for t in r.tags}
        groups.append(group)
    return groups
