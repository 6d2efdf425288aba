from datetime import UTC, datetime

from sqlalchemy.orm import Session

from ticketing.models import Customer, ticket_number


class TestTicketNumber:
    def test_first_ticket(self) -> None:
        assert ticket_number(1) == "SD-100001"

    def test_format(self) -> None:
        assert ticket_number(42) == "SD-100042"


class TestUtcDateTime:
    def test_read_back_timezone_aware(self, session: Session) -> None:
        moment = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        customer = Customer(language="zh", created_at=moment, updated_at=moment)
        session.add(customer)
        session.commit()
        session.expire_all()
        loaded = session.get(Customer, customer.id)
        assert loaded is not None
        assert loaded.created_at == moment
        assert loaded.created_at.tzinfo is not None
