import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketing.enums import StaffRole, TicketStatus
from ticketing.models import Agent, Customer, Identity, Queue, Ticket, TicketEvent
from ticketing.privacy import Vault
from ticketing.seed import seed_demo_data
from ticketing.services import staff as staff_service
from ticketing.services.tickets import get_ticket

COUNTED = (Queue, Agent, Customer, Identity, Ticket, TicketEvent)


def counts(session: Session) -> dict[str, int]:
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in COUNTED
    }


def test_seed_is_idempotent(session: Session, vault: Vault) -> None:
    lines: list[str] = []
    seed_demo_data(session, vault=vault, say=lines.append)
    session.commit()
    first = counts(session)
    seed_demo_data(session, vault=vault, say=lines.append)
    session.commit()
    assert counts(session) == first
    assert first["Queue"] == 7
    assert first["Agent"] == 6
    assert first["Customer"] == 3
    assert any("SD-100001" in line for line in lines)


def test_seed_tickets_have_demo_states(session: Session, vault: Vault) -> None:
    seed_demo_data(session, vault=vault, say=lambda _line: None)
    session.commit()
    assert get_ticket(session, number="SD-100001").status is TicketStatus.OPEN
    assert get_ticket(session, number="SD-100002").status is TicketStatus.PENDING


def test_seeded_staff_can_log_in_with_the_demo_password(session: Session, vault: Vault) -> None:
    seed_demo_data(session, vault=vault, staff_password="demo password 123", say=lambda _l: None)
    session.commit()
    supervisor = staff_service.authenticate(
        session, username="zhao.min", password="demo password 123"
    )
    assert supervisor.role is StaffRole.SUPERVISOR


def test_without_a_demo_password_nobody_can_log_in(session: Session, vault: Vault) -> None:
    lines: list[str] = []
    seed_demo_data(session, vault=vault, say=lines.append)
    session.commit()
    assert any("cannot log in" in line for line in lines)
    with pytest.raises(staff_service.InvalidCredentials):
        staff_service.authenticate(session, username="admin", password="")
