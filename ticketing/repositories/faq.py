"""Queries on the supervisors' FAQ answers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import FaqAnswer


def list_all(session: Session) -> list[FaqAnswer]:
    """Every edited answer."""
    return list(session.scalars(select(FaqAnswer)))


def for_topic(session: Session, topic: str) -> list[FaqAnswer]:
    """The edited answers of one topic (none, one or both languages)."""
    return list(session.scalars(select(FaqAnswer).where(FaqAnswer.topic == topic)))


def get_for_update(session: Session, topic: str, language: str) -> FaqAnswer | None:
    """One edited answer, locked until the transaction ends (concurrent edits queue)."""
    return session.scalars(
        select(FaqAnswer)
        .where(FaqAnswer.topic == topic, FaqAnswer.language == language)
        .with_for_update()
    ).first()
