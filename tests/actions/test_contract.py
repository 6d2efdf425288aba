"""The fake API is held to the real API's contract, and keeps the real API's rules.

The checker itself is tested here: a fake answer with a missing field, an invented
status or an unknown endpoint is reported, so the action tests cannot pass on a fake
that has drifted from the API.
"""

from __future__ import annotations

import pytest

from actions.desk_api import DeskApiClient, NewTicket
from actions.settings import ActionSettings
from tests.actions import contract
from tests.actions.fake_api import FakeDeskApi

STRANGER = ("web", "someone-else")


def client(sender: str = "customer-1") -> DeskApiClient:
    return DeskApiClient.from_settings(ActionSettings.from_env(), channel="rest", sender=sender)


class TestChecker:
    def test_every_call_of_the_client_is_in_the_contract(self) -> None:
        for method, path in [
            ("POST", "/api/v1/tickets"),
            ("GET", "/api/v1/tickets"),
            ("GET", "/api/v1/tickets/SD-100001"),
            ("POST", "/api/v1/tickets/SD-100001/escalate"),
            ("POST", "/api/v1/tickets/SD-100001/cancel"),
            ("POST", "/api/v1/tickets/SD-100001/messages"),
            ("POST", "/api/v1/tickets/SD-100001/rating"),
            ("GET", "/api/v1/tickets/SD-100001/queue-position"),
            ("GET", "/api/v1/customers/by-identity"),
        ]:
            assert contract.operation(method, path) is not None, (method, path)

    def test_an_unknown_endpoint_is_reported(self) -> None:
        problems = contract.check_request("DELETE", "/api/v1/tickets/SD-100001", {}, None)
        assert problems == ["DELETE /api/v1/tickets/SD-100001: the API has no such operation"]

    def test_an_undeclared_query_parameter_is_reported(self) -> None:
        problems = contract.check_request("GET", "/api/v1/tickets", {"mine": ["1"]}, None)
        assert problems == ["GET /api/v1/tickets: undeclared query parameter 'mine'"]

    def test_a_body_the_api_refuses_is_reported(self) -> None:
        body = NewTicket(channel="rest", external_id="s", language="en", description="x").to_json()
        assert contract.check_request("POST", "/api/v1/tickets", {}, body) == []
        body["category"] = "weather"
        assert contract.check_request("POST", "/api/v1/tickets", {}, body)
        del body["category"], body["description"]
        assert any(
            "'description' is a required property" in p
            for p in contract.check_request("POST", "/api/v1/tickets", {}, body)
        )

    def test_an_answer_missing_a_field_is_reported(self) -> None:
        ticket = FakeDeskApi().ticket_json(
            {
                "number": "SD-1",
                "status": "new",
                "priority": "normal",
                "queue": "billing",
                "category": "billing",
            }
        )
        assert contract.check_response("GET", "/api/v1/tickets/SD-1", 200, ticket) == []
        del ticket["resolution_due_at"]
        problems = contract.check_response("GET", "/api/v1/tickets/SD-1", 200, ticket)
        assert problems and "'resolution_due_at' is a required property" in problems[0]

    def test_an_undocumented_status_is_reported(self) -> None:
        envelope = {"error": {"code": "gone", "message": "gone", "details": None}}
        assert contract.check_response("GET", "/api/v1/tickets/SD-1", 404, envelope) == []
        problems = contract.check_response("GET", "/api/v1/tickets/SD-1", 410, envelope)
        assert problems and "never answers 410" in problems[0]

    def test_an_error_outside_the_envelope_is_reported(self) -> None:
        assert contract.check_response("GET", "/api/v1/tickets/SD-1", 404, {"detail": "no"})


class TestFakeKeepsTheApisRules:
    """Behaviour the fake once invented, now as the API does it (ticketing/services)."""

    def test_another_conversations_ticket_cannot_be_escalated(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100009", "open", owner=STRANGER)
        assert with_api(lambda: client().escalate("SD-100009", reason="help")) is None
        assert api.tickets["SD-100009"]["status"] == "open"

    def test_another_conversations_queue_position_is_not_found(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100009", "escalated", owner=STRANGER)
        assert with_api(lambda: client().queue_position("SD-100009")) is None

    def test_the_queue_comes_from_the_routing_table(self, api: FakeDeskApi, with_api) -> None:
        new = NewTicket(
            channel="rest",
            external_id="customer-1",
            language="zh",
            description="账号被盗",
            category="account_security",
        )
        created = with_api(lambda: client().create_ticket(new, idempotency_key="k"))
        assert created.queue == "account_security"
        assert api.tickets[created.number]["priority"] == "high"  # routing.yml's start

    @pytest.mark.parametrize(("before", "after"), [("pending", "open"), ("resolved", "new")])
    def test_a_customer_writing_hands_back_or_reopens(
        self, api: FakeDeskApi, with_api, before: str, after: str
    ) -> None:
        api.add_ticket("SD-100001", before)
        with_api(lambda: client().add_message("SD-100001", body="still broken"))
        assert api.tickets["SD-100001"]["status"] == after

    def test_a_second_escalation_goes_to_the_supervisors(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "open")

        async def twice():
            await client().escalate("SD-100001", reason="slow")
            return await client().escalate("SD-100001", reason="still slow")

        escalated = with_api(twice)
        assert escalated.queue == "supervisors" and escalated.status == "escalated"
