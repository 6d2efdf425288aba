"""Customer imports: the folded people written into the profile store.

Each person of the file is matched against the store by the blind index of their phone
numbers and e-mail addresses: nobody is a new customer, one customer is merged with by
the store's rule, several customers make the rows ambiguous (refused; a supervisor
merges the customers first). Writes are batched; the whole import is one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from ticketing.enums import IdentityKind
from ticketing.models import CustomerSource, CustomerTag, Identity
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.repositories import imports as imports_repo
from ticketing.services.cleansing import ChannelBook
from ticketing.services.customers import DEFAULT_LANGUAGE
from ticketing.services.import_grouping import OLDEST, Group
from ticketing.services.merges import merge_precedence


class ProgressSink(Protocol):
    """Where the applier reports how far it got (``imports.Progress``)."""

    def update(self, phase: str, fraction: float, *, force: bool = False) -> None: ...


class Applier:
    """Matches groups against the store and writes customers, in one transaction."""

    def __init__(
        self,
        session: Session,
        vault: Vault,
        *,
        book: ChannelBook,
        import_id: int,
        actor: str,
        role: str,
        now: datetime,
        progress: ProgressSink | None,
        total: int,
    ) -> None:
        self.session = session
        self.vault = vault
        self.book = book
        self.import_id = import_id
        self.actor = actor
        self.role = role
        self.now = now
        self.progress = progress
        self.total = total
        self.created = self.merged = self.unchanged = 0
        self.ambiguous_rows: set[int] = set()
        self.existing_rows: set[int] = set()
        self.audits: list[dict[str, Any]] = []
        self.conflicts: list[dict[str, Any]] = []
        self._hashes: dict[tuple[IdentityKind, str], str] = {}

    def _hash(self, kind: IdentityKind, value: str) -> str:
        key = (kind, value)
        found = self._hashes.get(key)
        if found is None:
            found = self._hashes[key] = self.vault.blind_index(kind, value)
        return found

    def _tick(self, done: int) -> None:
        if self.progress is not None:
            self.progress.update("applying", 0.5 + 0.5 * done / self.total)

    def apply(self, groups: list[Group]) -> None:
        phone_hashes = sorted({self._hash(IdentityKind.PHONE, p) for g in groups for p in g.phones})
        email_hashes = sorted({self._hash(IdentityKind.EMAIL, e) for g in groups for e in g.emails})
        owners = {
            IdentityKind.PHONE: imports_repo.owners_by_hash(
                self.session, kind=IdentityKind.PHONE, hashes=phone_hashes
            ),
            IdentityKind.EMAIL: imports_repo.owners_by_hash(
                self.session, kind=IdentityKind.EMAIL, hashes=email_hashes
            ),
        }
        fresh: list[Group] = []
        matched: list[tuple[Group, int]] = []
        for group in groups:
            found = {
                owners[kind][self._hash(kind, value)]
                for kind, values in (
                    (IdentityKind.PHONE, group.phones),
                    (IdentityKind.EMAIL, group.emails),
                )
                for value in values
                if self._hash(kind, value) in owners[kind]
            }
            if len(found) > 1:
                self.ambiguous_rows.update(r.row for r in group.records)
            elif found:
                matched.append((group, found.pop()))
                self.existing_rows.update(r.row for r in group.records)
            else:
                fresh.append(group)
        self._create(fresh, owners)
        self._merge(matched, owners, done_before=sum(len(g.records) for g in fresh))

    def _identities(
        self, customer_id: int, group: Group, owners: dict[IdentityKind, dict[str, int]]
    ) -> list[dict[str, Any]]:
        rows = []
        for kind, values in (
            (IdentityKind.PHONE, group.phones),
            (IdentityKind.EMAIL, group.emails),
        ):
            for value in values:
                value_hash = self._hash(kind, value)
                if value_hash in owners[kind]:
                    continue
                owners[kind][value_hash] = customer_id
                rows.append(
                    {
                        "customer_id": customer_id,
                        "kind": kind,
                        "value_hash": value_hash,
                        "value_enc": self.vault.encrypt(value),
                        "verified": False,
                        "created_at": self.now,
                    }
                )
        return rows

    def _create(self, groups: list[Group], owners: dict[IdentityKind, dict[str, int]]) -> None:
        done = 0
        for part in imports_repo.chunks(groups):
            ids = imports_repo.insert_customers(
                self.session,
                [
                    {
                        "language": DEFAULT_LANGUAGE,
                        "display_name_enc": self.vault.encrypt(g.name) if g.name else None,
                        "id_number_enc": self.vault.encrypt(g.id_number) if g.id_number else None,
                        "contact_preferences": {},
                        "created_at": self.now,
                        "updated_at": g.updated_at or self.now,
                    }
                    for g in part
                ],
            )
            identities: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            sources: list[dict[str, Any]] = []
            for customer_id, group in zip(ids, part, strict=True):
                identities.extend(self._identities(customer_id, group, owners))
                tags.extend(
                    {"customer_id": customer_id, "tag": tag, "created_at": self.now}
                    for tag in sorted(group.tags)
                )
                assert group.top is not None
                sources.append(
                    {
                        "customer_id": customer_id,
                        "channel": group.top.channel,
                        "record_updated_at": group.updated_at,
                        "import_id": self.import_id,
                    }
                )
                fields = [f for f in ("name", "id_number") if getattr(group, f)]
                fields += ["phone"] * bool(group.phones) + ["email"] * bool(group.emails)
                self.audit("import_create", customer_id, details={"fields": fields})
                for conflict in group.conflicts:
                    self._conflict(customer_id, conflict)
                self.created += 1
                self.merged += len(group.records) - 1
            imports_repo.insert_rows(self.session, Identity, identities)
            imports_repo.insert_rows(self.session, CustomerTag, tags)
            # New customers have no source yet: a plain insert, no look-up first.
            imports_repo.insert_rows(self.session, CustomerSource, sources)
            done += sum(len(g.records) for g in part)
            self._tick(done)

    def _decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self.vault.decrypt(token)
        except DecryptionFailed:
            return None

    def _merge(
        self,
        matched: list[tuple[Group, int]],
        owners: dict[IdentityKind, dict[str, int]],
        *,
        done_before: int,
    ) -> None:
        done = done_before
        for part in imports_repo.chunks(matched):
            ids = sorted({customer_id for _, customer_id in part})
            stored = imports_repo.customers_for_merge(self.session, ids)
            stored_tags = imports_repo.tags_of(self.session, ids)
            updates: dict[int, dict[str, Any]] = {}
            identities: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            sources: list[dict[str, Any]] = []
            for group, customer_id in part:
                current = stored[customer_id]
                changes = updates.get(customer_id, {})
                assert group.top is not None
                store_time = changes.get("updated_at", current.updated_at)
                group_key = merge_precedence(
                    group.updated_at or OLDEST, self.book.rank(group.top.channel)
                )
                store_key = merge_precedence(store_time, self.book.rank(current.channel))
                group_wins = group_key > store_key
                changed_fields: list[str] = []
                for name, column in (("name", "display_name_enc"), ("id_number", "id_number_enc")):
                    theirs = getattr(group, name)
                    if theirs is None:
                        continue
                    mine = (
                        self.vault.decrypt(changes[column])
                        if column in changes
                        else self._decrypt(getattr(current, column))
                    )
                    if mine == theirs:
                        continue
                    if mine is not None:
                        rule = "updated_at" if group_key[0] != store_key[0] else "channel_priority"
                        self._conflict(
                            customer_id,
                            {
                                "field": name,
                                "winner": f"row {group.top.row}" if group_wins else "store",
                                "loser": "store" if group_wins else f"row {group.top.row}",
                                "rule": rule,
                            },
                        )
                    if mine is None or group_wins:
                        changes[column] = self.vault.encrypt(theirs)
                        changed_fields.append(name)
                for conflict in group.conflicts:
                    self._conflict(customer_id, conflict)
                new_identities = self._identities(customer_id, group, owners)
                identities.extend(new_identities)
                changed_fields += sorted({str(i["kind"].value) for i in new_identities})
                have = stored_tags.setdefault(customer_id, set())
                for tag in sorted(group.tags - have):
                    tags.append({"customer_id": customer_id, "tag": tag, "created_at": self.now})
                    have.add(tag)
                    if "tags" not in changed_fields:
                        changed_fields.append("tags")
                if not changed_fields:
                    self.unchanged += len(group.records)
                    continue
                self.merged += len(group.records)
                newest = max(store_time, group.updated_at or OLDEST)
                changes["updated_at"] = newest
                updates[customer_id] = changes
                if group_wins:
                    sources.append(
                        {
                            "customer_id": customer_id,
                            "channel": group.top.channel,
                            "record_updated_at": group.updated_at,
                            "import_id": self.import_id,
                        }
                    )
                self.audit("import_update", customer_id, details={"fields": changed_fields})
            imports_repo.update_customers(
                self.session, [{"id": cid, **values} for cid, values in updates.items()]
            )
            imports_repo.insert_rows(self.session, Identity, identities)
            imports_repo.insert_rows(self.session, CustomerTag, tags)
            imports_repo.upsert_sources(self.session, last_per_customer(sources))
            done += sum(len(g.records) for g, _ in part)
            self._tick(done)

    def audit(
        self,
        action: str,
        customer_id: int | None,
        *,
        details: dict[str, Any],
        field_name: str | None = None,
    ) -> None:
        self.audits.append(
            {
                "at": self.now,
                "actor": self.actor,
                "role": self.role,
                "action": action,
                "customer_id": customer_id,
                "field": field_name,
                "reason": None,
                "details": {"import": self.import_id, **details},
            }
        )

    def _conflict(self, customer_id: int, conflict: dict[str, str]) -> None:
        self.conflicts.append({"import_id": self.import_id, "customer_id": customer_id, **conflict})
        self.audit(
            "import_conflict",
            customer_id,
            field_name=conflict["field"],
            details={k: conflict[k] for k in ("winner", "loser", "rule")},
        )


def last_per_customer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per customer: the last one given for each."""
    return list({r["customer_id"]: r for r in rows}.values())
