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


def test_sql_errors_never_carry_the_values(tmp_path) -> None:
    """A failed statement's message names the SQL, never the bound (maybe personal) values."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from ticketing.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (phone TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:p)"), {"p": "13800138000"})
    with pytest.raises(IntegrityError) as error, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:p)"), {"p": "13800138000"})
    assert "13800138000" not in str(error.value)
    engine.dispose()
