"""Erasure on a customer's request (ticketing/services/erasure.py)."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.ticketing.services.test_profiles import (
    ADMIN,
    AGENT,
    BOSS,
    audit_actions,
    customer_with_ticket,
    wang,
)
from ticketing.enums import Priority, TicketStatus
from ticketing.errors import Conflict
from ticketing.models import Customer, Identity, Ticket, TicketMessage
from ticketing.privacy import Vault
from ticketing.services import erasure, lifecycle, profiles, ratings
from ticketing.services.customers import find_by_identity

__all__ = ["wang"]  # the autouse fixture: AGENT's account


class TestErase:
    def test_personal_data_goes_statistics_stay(self, session: Session, vault: Vault) -> None:
        customer_id, ticket = customer_with_ticket(session, vault)
        lifecycle.transition(session, ticket=ticket, to=TicketStatus.RESOLVED, principal=AGENT)
        ratings.rate(session, ticket=ticket, score=2, comment="太慢了，我的手机 13800138000")
        erasure.erase(session, customer_id=customer_id, reason="PIPL request #17", principal=ADMIN)
        session.expire_all()

        customer = session.get(Customer, customer_id)
        assert customer.erased_at is not None and customer.display_name_enc is None
        assert session.scalar(select(func.count()).select_from(Identity)) == 0
        stored = session.get(Ticket, ticket.id)
        assert (stored.status, stored.priority, stored.description) == (
            TicketStatus.RESOLVED,
            Priority.NORMAL,
            "[erased]",
        )
        bodies = {
            m.body for m in session.scalars(select(TicketMessage)) if m.author_type == "customer"
        }
        assert bodies == {"[erased]"}
        view = profiles.view(session, vault=vault, customer_id=customer_id, principal=BOSS)
        assert [(r.score, r.comment) for r in view.ratings] == [(2, None)]
        with pytest.raises(Exception, match="no customer"):
            find_by_identity(session, vault=vault, channel="rest", external_id="sender-123")
        assert ("erase", None) in audit_actions(session)
        with pytest.raises(Conflict):
            erasure.erase(session, customer_id=customer_id, reason="again please", principal=ADMIN)
