"""Words the actions assemble into replies (status names, intent names), per language.

They live in ``actions/labels.yml``, read on first use, so that bilingual text stays
data: the code only picks the customer's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import yaml

_FILE = Path(__file__).with_name("labels.yml")


@cache
def _labels() -> dict[str, dict[str, dict[str, Any]]]:
    with _FILE.open(encoding="utf-8") as handle:
        data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(handle)
    return data


def status_label(status: str, language: str) -> str:
    """A ticket status in the customer's language (the status itself if unknown)."""
    names = _labels()["status"].get(status, {})
    return names.get(language) or names.get("en") or status


def intent_label(intent: str, language: str) -> str | None:
    """What an intent means, for a button, in the customer's language; None if unlabelled."""
    names = _labels()["intent"].get(intent)
    if not names:
        return None
    return names.get(language) or names.get("en")


def category_label(category: str, language: str) -> str:
    """A ticket category as a button says it, in the customer's language."""
    names = _labels()["category"].get(category, {})
    return str(names.get(language) or names.get("en") or category)


def category_words(category: str) -> list[str]:
    """What a customer may type to pick a category: its labels in both languages and the
    short words listed under ``also``."""
    names = _labels()["category"].get(category, {})
    return [str(names[key]) for key in ("zh", "en") if names.get(key)] + [
        str(word) for word in names.get("also") or []
    ]


def detail_label(detail: str, language: str) -> str:
    """The name of a detail line (order number, product, date) in the ticket's language."""
    names = _labels()["detail"][detail]
    return names.get(language) or names["en"]


class _Numbered(Protocol):
    number: str
    status: str


def ticket_lines(tickets: Iterable[_Numbered], language: str) -> str:
    """One line per ticket, its number and status in the customer's language."""
    return "\n".join(f"• {t.number}: {status_label(t.status, language)}" for t in tickets)
