import os

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support_service.factories import ticket_payload
from ticketing.models import Customer, Identity, Ticket
from ticketing.principals import Principal, Role
from ticketing.privacy import DecryptionFailed, Vault
from ticketing.rotate_keys import rotate
from ticketing.schemas import TicketCreate
from ticketing.services.tickets import create_ticket


def test_everything_moves_to_the_new_key_and_still_decrypts(session: Session) -> None:
    old_key, new_key, index_key = os.urandom(32), os.urandom(32), os.urandom(32)
    old = Vault({"old": old_key}, index_key)
    payload = TicketCreate.model_validate(ticket_payload(customer={"display_name": "李雷"}))
    create_ticket(session, vault=old, principal=Principal("bot", Role.BOT_SERVICE), payload=payload)

    both = Vault({"new": new_key, "old": old_key}, index_key)
    first = rotate(session, vault=both)
    assert first.rotated == 4  # name, two identities' values (sender id, phone), contact
    assert rotate(session, vault=both).rotated == 0

    only_new = Vault({"new": new_key}, index_key)
    tokens = [
        *session.scalars(select(Identity.value_enc)),
        *session.scalars(select(Customer.display_name_enc)),
        *session.scalars(select(Ticket.contact_enc)),
    ]
    assert tokens and all(t.startswith("new:") for t in tokens)
    assert "李雷" in [only_new.decrypt(t) for t in tokens]
    try:
        old.decrypt(tokens[0])
    except DecryptionFailed:
        pass
    else:
        raise AssertionError("the old key still opens rotated data")


def test_id_numbers_move_to_the_new_key(session: Session) -> None:
    old_key, new_key, index_key = os.urandom(32), os.urandom(32), os.urandom(32)
    old = Vault({"old": old_key}, index_key)
    payload = TicketCreate.model_validate(ticket_payload())
    ticket = create_ticket(
        session, vault=old, principal=Principal("bot", Role.BOT_SERVICE), payload=payload
    ).ticket
    customer = session.get(Customer, ticket.customer_id)
    assert customer is not None
    # As the profile service stores it: encrypted with the key active at the time.
    customer.id_number_enc = old.encrypt("11010519491231002X")
    session.flush()

    both = Vault({"new": new_key, "old": old_key}, index_key)
    first = rotate(session, vault=both)
    assert first.rotated == 4  # the ID number, two identities' values, the contact
    assert rotate(session, vault=both) == type(first)(rotated=0, current=4)

    session.refresh(customer)
    token = customer.id_number_enc
    assert token is not None and token.startswith("new:") and "1101" not in token
    assert Vault({"new": new_key}, index_key).decrypt(token) == "11010519491231002X"
    with pytest.raises(DecryptionFailed):
        old.decrypt(token)
