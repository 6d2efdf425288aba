"""Merging two profiles of one person (ticketing/services/merges.py)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.ticketing.services.test_profiles import AGENT, BOSS, customer_with_ticket, wang
from ticketing.enums import TicketStatus
from ticketing.errors import Conflict, ValidationFailed
from ticketing.models import AuditEntry, Customer, Identity, Ticket, utcnow
from ticketing.privacy import Vault
from ticketing.services import lifecycle, merges, profiles, ratings

__all__ = ["wang"]  # the autouse fixture: AGENT's account


class TestMerge:
    def test_everything_moves_and_conflicts_are_audited(
        self, session: Session, vault: Vault
    ) -> None:
        survivor_id, _ = customer_with_ticket(session, vault, "web-1")
        other_id, other_ticket = customer_with_ticket(
            session, vault, "wechat-1", display_name="李小雷", phone="13900001111"
        )
        lifecycle.transition(
            session, ticket=other_ticket, to=TicketStatus.RESOLVED, principal=AGENT
        )
        ratings.rate(session, ticket=other_ticket, score=4)
        profiles.set_tags(session, customer_id=other_id, tags=["vip"], principal=AGENT)
        # The other profile was updated later, so its name wins.
        session.get(Customer, other_id).updated_at = utcnow() + timedelta(minutes=5)
        merged = merges.merge(session, survivor_id=survivor_id, other_id=other_id, principal=BOSS)

        assert merged.id == survivor_id
        assert vault.decrypt(merged.display_name_enc) == "李小雷"
        assert [t.tag for t in merged.tags] == ["vip"]
        assert (
            session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.customer_id == survivor_id)
            )
            == 2
        )
        assert {i.customer_id for i in session.scalars(select(Identity))} == {survivor_id}
        # The old id still resolves, to the survivor.
        assert profiles.get_customer(session, other_id).id == survivor_id
        view = profiles.view(session, vault=vault, customer_id=other_id, principal=AGENT)
        assert [r.score for r in view.ratings] == [4]
        conflicts = [e for e in session.scalars(select(AuditEntry)) if e.action == "merge_conflict"]
        assert [(e.field, e.details["winner"]) for e in conflicts] == [("display_name", "other")]

    def test_self_merge_and_repeat_merge_are_refused(self, session: Session, vault: Vault) -> None:
        a, _ = customer_with_ticket(session, vault, "a")
        b, _ = customer_with_ticket(session, vault, "b")
        with pytest.raises(ValidationFailed):
            merges.merge(session, survivor_id=a, other_id=a, principal=BOSS)
        merges.merge(session, survivor_id=a, other_id=b, principal=BOSS)
        with pytest.raises(Conflict):
            merges.merge(session, survivor_id=a, other_id=b, principal=BOSS)
