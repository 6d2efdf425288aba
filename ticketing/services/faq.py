"""The FAQ answers the bot gives, editable by supervisors without retraining.

The topics and their trained answers come from the bot's domain (``bot/domain/faq.yml``:
``utter_faq/<topic>``, a Chinese variant under the condition ``language: zh`` and an
English default). A supervisor's rewrite is stored per topic and language
(``faq_answers``) and wins over the trained text; resetting removes it. Rasa asks for the
current text each time it answers (``bot/nlg.py``), so an edit is what the next customer
hears. New topics or new ways of asking still need new training examples and a new
model: only the answers are live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from ticketing.errors import Conflict, NotFound, ValidationFailed
from ticketing.models import FaqAnswer, utcnow
from ticketing.principals import Principal
from ticketing.repositories import faq as faq_repo
from ticketing.services.audit import audit

FAQ_DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain" / "faq.yml"
LANGUAGES = ("zh", "en")
MAX_ANSWER_CHARACTERS = 2000
_PREFIX = "utter_faq/"


class StaleAnswer(Conflict):
    code = "version_conflict"


@dataclass(frozen=True)
class Answer:
    """One topic's answer in one language, as the bot says it now."""

    topic: str
    language: str
    text: str
    trained_text: str
    edited: bool
    version: int
    updated_by: str | None
    updated_at: datetime | None


@lru_cache(maxsize=1)
def trained_answers(path: Path = FAQ_DOMAIN) -> dict[str, dict[str, str]]:
    """Topic -> language -> the answer in the trained domain."""
    with path.open(encoding="utf-8") as handle:
        responses = (yaml.safe_load(handle) or {}).get("responses") or {}
    answers: dict[str, dict[str, str]] = {}
    for name, variants in responses.items():
        if not name.startswith(_PREFIX):
            continue
        texts: dict[str, str] = {}
        for variant in variants:
            languages = [
                c.get("value")
                for c in variant.get("condition") or []
                if c.get("type") == "slot" and c.get("name") == "language"
            ]
            texts[languages[0] if languages else "en"] = str(variant["text"])
        answers[name[len(_PREFIX) :]] = texts
    return answers


def _trained(topic: str) -> dict[str, str]:
    texts = trained_answers().get(topic)
    if texts is None:
        raise NotFound(f"no FAQ topic {topic!r}", code="faq_topic_not_found")
    return texts


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValidationFailed(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    return language


def _answer(topic: str, language: str, trained: str, row: FaqAnswer | None) -> Answer:
    return Answer(
        topic=topic,
        language=language,
        text=row.text if row else trained,
        trained_text=trained,
        edited=row is not None,
        version=row.version if row else 0,
        updated_by=row.updated_by if row else None,
        updated_at=row.updated_at if row else None,
    )


def list_answers(session: Session) -> list[Answer]:
    """Every topic in both languages, edited or trained, in the domain's order."""
    rows = {(r.topic, r.language): r for r in faq_repo.list_all(session)}
    return [
        _answer(topic, language, texts.get(language, ""), rows.get((topic, language)))
        for topic, texts in trained_answers().items()
        for language in LANGUAGES
    ]


def current_answers(session: Session, topic: str) -> dict[str, str]:
    """What the bot says for ``topic`` now, per language."""
    texts = dict(_trained(topic))
    for row in faq_repo.for_topic(session, topic):
        texts[row.language] = row.text
    return texts


def edit(
    session: Session,
    *,
    principal: Principal,
    topic: str,
    language: str,
    text: str,
    version: int,
) -> Answer:
    """Rewrite one answer; ``version`` is the one the editor read (0: the trained one)."""
    trained = _trained(topic).get(_language(language), "")
    text = text.strip()
    if not text:
        raise ValidationFailed("the answer is empty", field="text")
    if len(text) > MAX_ANSWER_CHARACTERS:
        raise ValidationFailed(
            f"the answer is longer than {MAX_ANSWER_CHARACTERS} characters", field="text"
        )
    row = faq_repo.get_for_update(session, topic, language)
    current = row.version if row else 0
    if version != current:
        raise StaleAnswer(
            f"this answer changed meanwhile (version {current}, you edited {version}): "
            "reload it and edit again",
            details={"version": current},
        )
    if row is None:
        row = FaqAnswer(topic=topic, language=language, text=text, version=1)
        session.add(row)
    else:
        row.text = text
        row.version = current + 1
    row.updated_by = principal.name
    row.updated_at = utcnow()
    audit(
        session,
        principal=principal,
        action="faq_edited",
        customer_id=None,
        field_name=f"faq/{topic}/{language}",
    )
    session.flush()
    return _answer(topic, language, trained, row)


def reset(session: Session, *, principal: Principal, topic: str, language: str) -> Answer:
    """Back to the trained answer."""
    trained = _trained(topic).get(_language(language), "")
    row = faq_repo.get_for_update(session, topic, language)
    if row is not None:
        session.delete(row)
        audit(
            session,
            principal=principal,
            action="faq_reset",
            customer_id=None,
            field_name=f"faq/{topic}/{language}",
        )
        session.flush()
    return _answer(topic, language, trained, None)
