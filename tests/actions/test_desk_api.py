"""The typed API client: results, not-found, retries and outages."""

import pytest

from actions.desk_api import DeskApiClient, DeskApiUnavailable, NewTicket
from actions.settings import ActionSettings
from tests.actions.fake_api import FakeDeskApi


def client(sender: str = "s1") -> DeskApiClient:
    return DeskApiClient.from_settings(ActionSettings.from_env(), channel="rest", sender=sender)


NEW = NewTicket(channel="rest", external_id="s1", language="en", description="router broken")


class TestDeskApiClient:
    def test_create_then_get_ticket(self, api: FakeDeskApi, with_api) -> None:
        async def scenario():
            created = await client().create_ticket(NEW, idempotency_key="k1")
            return created, await client().get_ticket(created.number)

        created, fetched = with_api(scenario)
        assert created.number == "SD-100001" and created.status == "new"
        assert fetched == created
        post = api.requests[0]
        assert post["headers"]["Idempotency-Key"] == "k1"
        # Every call names the conversation the service token acts for.
        assert {r["headers"]["X-Desk-Sender"] for r in api.requests} == {"s1"}
        assert {r["headers"]["X-Desk-Channel"] for r in api.requests} == {"rest"}
        assert post["json"]["customer"] == {
            "channel": "rest",
            "external_id": "s1",
            "language": "en",
            "phone": None,
            "email": None,
            "contact_verified": False,
        }

    def test_unknown_ticket_is_none(self, with_api) -> None:
        assert with_api(lambda: client().get_ticket("SD-999999")) is None

    def test_unknown_customer_is_none(self, with_api) -> None:
        assert (
            with_api(lambda: client("new").find_customer(channel="rest", external_id="new")) is None
        )

    def test_gateway_errors_are_retried_with_the_same_key(self, api: FakeDeskApi, with_api) -> None:
        api.fail_next = [503, 502]
        created = with_api(lambda: client().create_ticket(NEW, idempotency_key="same"))
        assert created.number == "SD-100001"
        assert [r["headers"].get("Idempotency-Key") for r in api.requests] == ["same"] * 3
        assert len(api.tickets) == 1

    def test_persistent_failure_raises_unavailable(self, api: FakeDeskApi, with_api) -> None:
        api.fail_next = [503, 503, 503]
        with pytest.raises(DeskApiUnavailable):
            with_api(lambda: client().get_ticket("SD-100001"))
        assert len(api.requests) == 3

    def test_client_errors_are_not_retried(self, api: FakeDeskApi, with_api) -> None:
        api.fail_next = [500]
        with pytest.raises(DeskApiUnavailable):
            with_api(lambda: client().create_ticket(NEW, idempotency_key="x"))
        assert len(api.requests) == 1

    def test_connection_refused_raises_unavailable(self, api_down) -> None:
        import asyncio

        with pytest.raises(DeskApiUnavailable):
            asyncio.run(client().get_ticket("SD-100001"))

    def test_missing_token_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("DESK_SERVICE_TOKEN", raising=False)
        with pytest.raises(RuntimeError, match="DESK_SERVICE_TOKEN"):
            ActionSettings.from_env()


class TestTurnBudget:
    """A hung API: one budget for all the calls of an action, retries included."""

    @staticmethod
    async def hung_api(hits: list[float], seconds: float) -> tuple[object, str]:
        import asyncio
        import time

        from aiohttp import web
        from aiohttp.test_utils import TestServer

        async def hang(request: web.Request) -> web.Response:
            hits.append(time.monotonic())
            await asyncio.sleep(seconds)
            return web.json_response({})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hang)
        server = TestServer(app)
        await server.start_server()
        return server, str(server.make_url("")).rstrip("/")

    def test_a_hung_api_is_tried_once_within_the_budget_then_reported(self) -> None:
        import asyncio

        from actions.desk_api import turn_budget

        hits: list[float] = []

        async def main() -> None:
            server, url = await self.hung_api(hits, 30)
            try:
                api = DeskApiClient(url, "token", channel="rest", sender="s1", timeout_seconds=5)
                with turn_budget(0.6), pytest.raises(DeskApiUnavailable):
                    await api.get_ticket("SD-100001")
            finally:
                await server.close()  # type: ignore[attr-defined]

        asyncio.run(main())
        # Without the budget: three attempts of 5 s each. Within it: one, cut short.
        assert len(hits) == 1

    def test_a_later_call_in_a_spent_budget_does_not_reach_the_api(self) -> None:
        import asyncio

        from actions.desk_api import turn_budget

        hits: list[float] = []

        async def main() -> None:
            server, url = await self.hung_api(hits, 30)
            try:
                api = DeskApiClient(url, "token", channel="rest", sender="s1", timeout_seconds=5)
                with turn_budget(0.5):
                    with pytest.raises(DeskApiUnavailable):
                        await api.get_ticket("SD-100001")
                    with pytest.raises(DeskApiUnavailable, match="no time left"):
                        await api.queue_position("SD-100001")
            finally:
                await server.close()  # type: ignore[attr-defined]

        asyncio.run(main())
        assert len(hits) == 1

    def test_outside_a_budget_the_client_retries_as_before(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.fail_next = [503, 503]
        assert with_api(lambda: client().get_ticket("SD-100001")) is None
        assert len(api.requests) == 3
