"""What a customer's personal data shows to each role (ticketing/disclosure.yml)."""

from __future__ import annotations

import pytest

from ticketing.errors import Forbidden
from ticketing.principals import Principal, Role
from ticketing.services import disclosure


class TestShownAs:
    def test_each_role_as_the_policy_says(self) -> None:
        assert disclosure.shown_as(Role.BOT_SERVICE, "phone") == "hidden"
        assert disclosure.shown_as(Role.AGENT, "phone") == "masked"
        assert disclosure.shown_as(Role.SUPERVISOR, "phone") == "clear"
        assert disclosure.shown_as(Role.ADMIN, "id_number") == "masked"

    def test_what_the_policy_does_not_list_is_hidden(self) -> None:
        assert disclosure.shown_as(Role.AGENT, "blood_type") == "hidden"
        assert disclosure.shown_as(Role.CUSTOMER, "phone") == "hidden"


class TestReveal:
    def test_staff_may_reveal_the_bot_may_not(self) -> None:
        assert [r for r in Role if disclosure.may_reveal(r)] == [
            Role.AGENT,
            Role.SUPERVISOR,
            Role.ADMIN,
        ]
        disclosure.check_may_reveal(Principal(name="staff:wang", role=Role.AGENT))
        with pytest.raises(Forbidden):
            disclosure.check_may_reveal(Principal(name="bot_service", role=Role.BOT_SERVICE))
