"""Two admins demoting each other at the same moment, on the real PostgreSQL: the desk
keeps one admin (SQLite serialises writers, so the race cannot happen there)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.database import configured_postgres_url
from tests.support_service.factories import make_staff
from tests.support_service.race import race
from ticketing.db import Database
from ticketing.enums import StaffRole
from ticketing.models import Agent
from ticketing.principals import Principal, Role
from ticketing.services import staff_admin

pytestmark = pytest.mark.skipif(
    configured_postgres_url() is None, reason="needs PostgreSQL (DATABASE_URL)"
)


def admin_principal(agent: Agent) -> Principal:
    return Principal(name=f"staff:{agent.username}", role=Role.ADMIN, agent_id=agent.id)


def test_two_admins_demoting_each_other_leave_one_admin(clean_database: Database) -> None:
    with clean_database.sessions() as session:
        first = make_staff(session, "admin.one", role="admin")
        second = make_staff(session, "admin.two", role="admin")
        pairs = [(admin_principal(first), "admin.two"), (admin_principal(second), "admin.one")]

    def demote(principal: Principal, target: str):
        def work(session: Session) -> str:
            staff_admin.edit(
                session,
                principal=principal,
                username=target,
                version=1,
                changes={"role": "agent"},
            )
            return "demoted"

        return work

    result = race([demote(p, t) for p, t in pairs], clean_database, hold=False)
    assert sorted(result.outcomes) == ["demoted", "last_admin"], result.explain()
    with clean_database.sessions() as session:
        roles = session.scalars(select(Agent.role).order_by(Agent.username)).all()
    assert sorted(roles) == [StaffRole.ADMIN, StaffRole.AGENT]
