"""The retention scheduler: ``python -m ticketing.retention`` (the API also runs one in-process).

It also takes the scheduled backups (:mod:`ticketing.backups`, ``DESK_BACKUP_HOURS``).

Every ``DESK_RETENTION_CHECK_SECONDS`` it asks whether a purge is due (the last audited
run is older than ``DESK_RETENTION_RUN_HOURS``) and runs it in one transaction under the
retention lock, so of several API instances exactly one purges per period
(:mod:`ticketing.services.retention`). ``--now`` runs a purge whatever the last run was
(it still waits for nobody and skips while another instance runs one); ``--dry-run``
only counts what is due.
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from ticketing import backups, conversation_store
from ticketing.conversation_store import ConversationStore
from ticketing.db import Database
from ticketing.periodic import PeriodicWorker
from ticketing.privacy import Vault
from ticketing.services import retention
from ticketing.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SYSTEM_ROLE = "system"


def run_once(
    database: Database,
    schedule: retention.Schedule,
    conversations: ConversationStore | None,
    *,
    only_if_due: bool = True,
) -> retention.PurgeResult | None:
    """One check (and purge when due) in one transaction; None when nothing ran."""
    try:
        with database.sessions.begin() as session:
            return retention.run(
                session,
                schedule=schedule,
                conversations=conversations,
                actor=retention.SCHEDULER_ACTOR,
                role=SYSTEM_ROLE,
                only_if_due=only_if_due,
            )
    except retention.RetentionBusy:
        return None


def dry_run(
    database: Database, schedule: retention.Schedule, conversations: ConversationStore | None
) -> retention.PurgeResult:
    """What a purge would remove now (nothing is changed, nothing audited)."""
    with database.sessions() as session:
        return retention.purge(
            session,
            schedule=schedule,
            conversations=conversations,
            actor=retention.SCHEDULER_ACTOR,
            role=SYSTEM_ROLE,
            dry_run=True,
        )


class RetentionScheduler(PeriodicWorker):
    """A daemon thread that checks on an interval whether a purge is due, until stopped."""

    def __init__(
        self,
        database: Database,
        schedule: retention.Schedule,
        conversations: ConversationStore | None,
        *,
        interval_seconds: float,
        backup_settings: Settings | None = None,
    ) -> None:
        super().__init__("retention-scheduler", interval_seconds=interval_seconds)
        self._database = database
        self._schedule = schedule
        self._conversations = conversations
        # With settings, the scheduled backup is checked on every tick too.
        self._backup_settings = backup_settings
        self.runs = 0

    def tick(self) -> None:
        """One check; a purge's counts are logged (never content); then the backup's."""
        try:
            result = run_once(self._database, self._schedule, self._conversations)
            if result is not None:
                self.runs += 1
                logger.info("retention purge: %s", json.dumps(result.counts()))
        finally:
            if self._backup_settings is not None:
                backups.run_if_due(self._database, self._backup_settings)


def from_settings(
    database: Database, settings: Settings, conversations: ConversationStore | None
) -> RetentionScheduler:
    """The scheduler for these settings (not started); the caller closes ``conversations``."""
    return RetentionScheduler(
        database,
        retention.Schedule.from_settings(settings),
        conversations,
        interval_seconds=settings.retention_check_seconds,
        backup_settings=settings,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the scheduler in the foreground, or once (``--once``, ``--now``, ``--dry-run``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one check: purge if due, then exit")
    mode.add_argument("--now", action="store_true", help="purge now, due or not, then exit")
    mode.add_argument("--dry-run", action="store_true", help="count what is due, change nothing")
    parser.add_argument(
        "--env-file",
        help="KEY=VALUE lines (the demo's .run/desk.env) for settings the environment lacks",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = (
        Settings(_env_file=args.env_file)  # type: ignore[call-arg]  # the environment wins
        if args.env_file and os.path.exists(args.env_file)
        else get_settings()
    )
    database = Database.from_settings(settings)
    schedule = retention.Schedule.from_settings(settings)
    conversations = conversation_store.from_settings(settings, Vault.from_settings(settings))
    try:
        if args.dry_run:
            print(json.dumps({"due": dry_run(database, schedule, conversations).counts()}))
            return 0
        if args.once or args.now:
            result = run_once(database, schedule, conversations, only_if_due=not args.now)
            outcome = {"ran": False} if result is None else {"ran": True, **result.counts()}
            print(json.dumps(outcome), flush=True)
            return 0
        scheduler = from_settings(database, settings, conversations)
        scheduler.start()
        try:
            scheduler.join()
        except KeyboardInterrupt:
            scheduler.stop()
        return 0
    finally:
        if conversations is not None:
            conversations.close()
        database.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
