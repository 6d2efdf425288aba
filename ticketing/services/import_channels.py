"""Customer imports per source channel: quality streaks, pausing and resuming.

A channel whose imports fall under the quality floor (the share of rows accepted) three
times in a row is paused: its next imports are refused until an admin resumes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ticketing.errors import Conflict, NotFound
from ticketing.models import ImportChannel, utcnow
from ticketing.principals import Principal
from ticketing.repositories import imports as imports_repo
from ticketing.services.cleansing import ChannelBook, channel_book
from ticketing.services.import_apply import Applier
from ticketing.services.import_audit import audit

QUALITY_FLOOR = 0.9
PAUSE_AFTER = 3


class ImportChannelNotFound(NotFound):
    code = "import_channel_not_found"


class ChannelPaused(Conflict):
    code = "channel_paused"


class ChannelNotPaused(Conflict):
    code = "channel_not_paused"


def update_channels(
    session: Session,
    applier: Applier,
    *,
    channel_reports: dict[str, dict[str, Any]],
    paused: frozenset[str],
    book: ChannelBook,
) -> set[str]:
    """Count each channel's run of imports under the quality floor; pause at three."""
    known = imports_repo.channels(session, for_update=True)
    newly_paused: set[str] = set()
    for key, report in channel_reports.items():
        if key not in book.kinds or key in paused or report["rows"] == 0:
            continue
        channel = known.get(key)
        if channel is None:
            channel = ImportChannel(key=key, low_quality_streak=0)
            session.add(channel)
        quality = float(report["quality"])
        channel.last_quality = quality
        channel.low_quality_streak = (
            (channel.low_quality_streak or 0) + 1 if quality < QUALITY_FLOOR else 0
        )
        if channel.low_quality_streak >= PAUSE_AFTER and channel.paused_at is None:
            channel.paused_at = applier.now
            channel.paused_import_id = applier.import_id
            newly_paused.add(key)
            applier.audit(
                "import_channel_paused",
                None,
                details={"channel": key, "streak": channel.low_quality_streak},
            )
    session.flush()
    return newly_paused


def resume_channel(session: Session, *, key: str, principal: Principal) -> ImportChannel:
    """An admin lets a paused channel import again; its streak starts over. Audited."""
    channel = imports_repo.get_channel(session, key)
    if channel is None:
        raise ImportChannelNotFound(f"no import channel {key!r} has a record")
    if channel.paused_at is None:
        raise ChannelNotPaused(f"imports from {key} are not paused")
    channel.paused_at = None
    channel.low_quality_streak = 0
    channel.resumed_at = utcnow()
    channel.resumed_by = principal.name
    audit(
        session,
        actor=principal.name,
        role=principal.role.value,
        action="import_channel_resumed",
        details={"channel": key},
    )
    session.flush()
    return channel


def list_channels(session: Session) -> list[dict[str, Any]]:
    """Every configured channel with its kind, streak and pause."""
    book = channel_book()
    known = imports_repo.channels(session)
    rows = []
    for key in book.keys:
        channel = known.get(key)
        rows.append(
            {
                "key": key,
                "kind": book.kinds[key],
                "low_quality_streak": channel.low_quality_streak if channel else 0,
                "last_quality": channel.last_quality if channel else None,
                "paused": bool(channel and channel.paused_at),
                "paused_at": channel.paused_at if channel else None,
                "paused_import_id": channel.paused_import_id if channel else None,
            }
        )
    return rows
