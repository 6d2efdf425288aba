"""What a customer's personal data discloses to each role: the one reader of disclosure.yml.

Each personal field (phone, email, id_number, name, and card_number inside free text)
is ``clear``, ``masked`` or ``hidden`` for a role, and some roles may reveal a masked
value with a reason. The rules are data (``ticketing/disclosure.yml``, edited by the
privacy officer); the profile store and the ticket texts both ask this module.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role

DISCLOSURE_PATH = Path(__file__).resolve().parent.parent / "disclosure.yml"


@lru_cache(maxsize=1)
def policy() -> dict[str, Any]:
    """The packaged disclosure policy (who sees which field how), read once."""
    with DISCLOSURE_PATH.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def shown_as(role: Role, field_name: str) -> str:
    """``clear``, ``masked`` or ``hidden`` for this role and field (not listed: hidden)."""
    rules = policy()["roles"].get(role.value, {})
    return str(rules.get(field_name, "hidden"))


def may_reveal(role: Role) -> bool:
    """Whether this role may reveal a masked value (with a reason, audited)."""
    return role.value in policy()["may_reveal"]


def check_may_reveal(principal: Principal) -> None:
    """403 unless this caller's role may reveal personal data."""
    if not may_reveal(principal.role):
        raise Forbidden("your role may not reveal personal data", code="forbidden")
