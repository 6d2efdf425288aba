"""The SLA scheduler: ``python -m ticketing.scheduler`` (the API also runs one in-process).

Every ``DESK_SLA_SCAN_SECONDS`` it runs :func:`ticketing.services.sla_scan.scan` in its own
transaction. Several schedulers may run at once (API workers, extra hosts): on
PostgreSQL each pass claims its tickets with SKIP LOCKED, so nothing fires twice.
"""

from __future__ import annotations

import argparse
import logging

import redis

from ticketing.db import Database
from ticketing.events import InProcessBus, RedisStreamBus, install_publisher
from ticketing.periodic import PeriodicWorker
from ticketing.services import sla_scan
from ticketing.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def run_once(database: Database) -> sla_scan.ScanResult:
    """One scheduler pass in one transaction."""
    with database.sessions.begin() as session:
        return sla_scan.scan(session)


class SlaScheduler(PeriodicWorker):
    """A daemon thread that scans on an interval until stopped."""

    def __init__(self, database: Database, *, interval_seconds: float) -> None:
        super().__init__("sla-scheduler", interval_seconds=interval_seconds)
        self._database = database

    def tick(self) -> None:
        """One scan; warnings and breaches are logged."""
        result = run_once(self._database)
        if result.warnings or result.breaches:
            logger.info("SLA scan: %d warnings, %d breaches", result.warnings, result.breaches)


def main(argv: list[str] | None = None) -> int:
    """Run the scheduler in the foreground (``--once`` for a single pass)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings: Settings = get_settings()
    database = Database.from_settings(settings)
    if settings.redis_url:
        install_publisher(
            database.sessions, RedisStreamBus(redis.Redis.from_url(settings.redis_url))
        )
    else:
        # Without Redis, events cannot reach the API's live pages from this process.
        install_publisher(database.sessions, InProcessBus())
    try:
        if args.once:
            result = run_once(database)
            print(f"warnings={result.warnings} breaches={result.breaches}", flush=True)
            return 0
        scheduler = SlaScheduler(database, interval_seconds=settings.sla_scan_seconds)
        scheduler.start()
        try:
            scheduler.join()
        except KeyboardInterrupt:
            scheduler.stop()
        return 0
    finally:
        database.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
