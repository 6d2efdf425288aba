from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import make_staff, ticket_payload
from ticketing.enums import IdentityKind, Priority
from ticketing.errors import Conflict, Forbidden, ValidationFailed
from ticketing.models import AuditEntry, Customer
from ticketing.principals import Principal, Role
from ticketing.privacy import Vault
from ticketing.schemas import TicketCreate
from ticketing.services import profiles
from ticketing.services.tickets import create_ticket

BOT = Principal(name="bot_service", role=Role.BOT_SERVICE)
AGENT = Principal(name="staff:wang", role=Role.AGENT, agent_id=1)
BOSS = Principal(name="staff:zhao", role=Role.SUPERVISOR, agent_id=2)
ADMIN = Principal(name="staff:admin", role=Role.ADMIN, agent_id=3)


@pytest.fixture(autouse=True)
def wang(session: Session) -> None:
    """AGENT's account: it works the queue the customers' tickets land in (offline, so the
    tickets wait unassigned); agents see only such customers."""
    agent = make_staff(session, "wang", queues=["technical_support"], presence="offline")
    assert agent.id == AGENT.agent_id


def customer_with_ticket(session: Session, vault: Vault, sender: str = "sender-123", **c: object):
    payload = TicketCreate.model_validate(
        ticket_payload(customer={"external_id": sender, "display_name": "李雷", **c})
    )
    ticket = create_ticket(session, vault=vault, principal=BOT, payload=payload).ticket
    return ticket.customer_id, ticket


def audit_actions(session: Session) -> list[tuple[str, str | None]]:
    return [
        (e.action, e.field) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]


class TestDisclosure:
    def test_agents_see_masks_supervisors_see_contacts_the_bot_nothing(
        self, session: Session, vault: Vault
    ) -> None:
        customer_id, _ = customer_with_ticket(session, vault)
        as_agent = profiles.view(session, vault=vault, customer_id=customer_id, principal=AGENT)
        assert as_agent.personal == {
            "phone": "138****8000",
            "email": None,
            "id_number": None,
            "name": "李*",
        }
        assert as_agent.shown_in_clear == []
        as_boss = profiles.view(session, vault=vault, customer_id=customer_id, principal=BOSS)
        assert as_boss.personal["phone"] == "+8613800138000"
        assert as_boss.shown_in_clear == ["phone", "name"]
        as_bot = profiles.view(
            session,
            vault=vault,
            customer_id=customer_id,
            principal=replace(BOT, customer_id=customer_id),
        )
        assert as_bot.personal == {}
        # Every view is audited, masked ones too; only the supervisor's showed fields in clear.
        assert audit_actions(session) == [("view", None)] * 3
        shown = [e.details["fields"] for e in session.scalars(select(AuditEntry))]
        assert shown == [[], ["phone", "name"], []]

    def test_reveal_needs_a_reason_and_is_audited(self, session: Session, vault: Vault) -> None:
        customer_id, _ = customer_with_ticket(session, vault)
        with pytest.raises(ValidationFailed):
            profiles.reveal(
                session,
                vault=vault,
                customer_id=customer_id,
                field_name="phone",
                reason_code="callback",
                reason="",
                principal=AGENT,
            )
        value = profiles.reveal(
            session,
            vault=vault,
            customer_id=customer_id,
            field_name="phone",
            reason_code="callback",
            reason="customer asked for a call back",
            principal=AGENT,
        )
        assert value == "+8613800138000"
        entry = session.scalars(select(AuditEntry)).one()
        assert (entry.actor, entry.action, entry.field, entry.reason) == (
            "staff:wang",
            "reveal",
            "phone",
            "customer asked for a call back",
        )
        assert "13800138000" not in str(entry.details)

    def test_the_bot_cannot_reveal(self, session: Session, vault: Vault) -> None:
        customer_id, _ = customer_with_ticket(session, vault)
        with pytest.raises(Forbidden):
            profiles.reveal(
                session,
                vault=vault,
                customer_id=customer_id,
                field_name="phone",
                reason_code="customer_request",
                reason="because I can",
                principal=BOT,
            )


class TestEdits:
    def test_id_number_is_checked_encrypted_and_audited(
        self, session: Session, vault: Vault
    ) -> None:
        customer_id, _ = customer_with_ticket(session, vault)
        with pytest.raises(ValidationFailed):
            profiles.update_profile(
                session,
                vault=vault,
                customer_id=customer_id,
                changes={"id_number": "110105194912310021"},
                principal=AGENT,
            )
        profiles.update_profile(
            session,
            vault=vault,
            customer_id=customer_id,
            changes={"id_number": "11010519491231002x"},
            principal=AGENT,
        )
        customer = session.get(Customer, customer_id)
        assert customer.id_number_enc and "1101" not in customer.id_number_enc
        assert vault.decrypt(customer.id_number_enc) == "11010519491231002X"
        assert ("update", "id_number") in audit_actions(session)

    def test_tags_and_vip_priority(self, session: Session, vault: Vault) -> None:
        customer_id, first = customer_with_ticket(session, vault)
        assert profiles.set_tags(
            session, customer_id=customer_id, tags=["VIP", " churn_risk", "vip"], principal=AGENT
        ) == ["churn_risk", "vip"]
        assert profiles.is_vip(session, customer_id)
        _, second = customer_with_ticket(session, vault)
        assert (first.priority, second.priority) == (Priority.NORMAL, Priority.HIGH)

    def test_a_contact_of_someone_else_is_a_conflict(self, session: Session, vault: Vault) -> None:
        first, _ = customer_with_ticket(session, vault, "a")
        second, _ = customer_with_ticket(session, vault, "b", phone="13900001111")
        with pytest.raises(Conflict) as error:
            profiles.add_identity(
                session,
                vault=vault,
                customer_id=first,
                kind=IdentityKind.PHONE,
                value="139 0000 1111",
                verified=False,
                principal=AGENT,
            )
        # The owner is not named: the route must not look up whose number this is.
        assert error.value.details is None and str(second) not in error.value.message
