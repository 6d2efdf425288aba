"""Cancelling, adding to and listing tickets, with a real Tracker against the fake API."""

from __future__ import annotations

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service import (
    ActionAddTicketInfo,
    ActionCancelTicket,
    ActionKeepTicket,
    ActionMyTickets,
    ActionPrepareCancel,
    ValidateTicketInfoForm,
)
from tests.actions.conversation import (
    entity,
    make_tracker,
    responses,
    run,
    run_with,
    user_event,
)
from tests.actions.fake_api import FakeDeskApi

STRANGER = ("rest", "someone-else")


class TestActionPrepareCancel:
    def test_named_open_ticket_asks_for_confirmation(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "open")
        tr = make_tracker(
            text="cancel SD-100001",
            intent="cancel_ticket",
            entities=[entity("ticket_number", "SD-100001")],
        )
        events, dispatcher = run_with(with_api, ActionPrepareCancel(), tr)
        assert responses(dispatcher) == ["utter_confirm_cancel"]
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert SlotSet("cancel_pending", "SD-100001") in events
        assert api.tickets["SD-100001"]["status"] == "open"  # nothing cancelled yet

    def test_the_only_open_ticket_is_the_one(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "resolved")
        api.add_ticket("SD-100002", "pending")
        api.add_ticket("SD-100003", "new", owner=STRANGER)
        events, dispatcher = run_with(
            with_api, ActionPrepareCancel(), make_tracker(text="取消工单", intent="cancel_ticket")
        )
        assert dispatcher.messages[0]["ticket_number"] == "SD-100002"
        assert SlotSet("cancel_pending", "SD-100002") in events
        listed = api.requests[0]
        assert listed["path"] == "/api/v1/tickets"

    def test_several_open_tickets_are_offered_as_buttons(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "new")
        api.add_ticket("SD-100002", "escalated")
        tr = make_tracker(text="取消工单", intent="cancel_ticket", language="zh")
        events, dispatcher = run_with(with_api, ActionPrepareCancel(), tr)
        assert responses(dispatcher) == ["utter_ask_cancel_which"]
        buttons = dispatcher.messages[0]["buttons"]
        assert {b["payload"] for b in buttons} == {
            '/cancel_ticket{"ticket_number": "SD-100001"}',
            '/cancel_ticket{"ticket_number": "SD-100002"}',
        }
        assert any(b["title"] == "SD-100002 · 已升级，优先处理中" for b in buttons)
        assert events == [SlotSet("cancel_pending", None)]

    def test_a_resolved_ticket_cannot_be_cancelled(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "resolved")
        tr = make_tracker(text="cancel SD-100001", intent="cancel_ticket", language="zh")
        events, dispatcher = run_with(with_api, ActionPrepareCancel(), tr)
        assert responses(dispatcher) == ["utter_ticket_not_cancellable"]
        assert dispatcher.messages[0]["status"] == "已解决"
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert events == [SlotSet("cancel_pending", None)]

    def test_a_finished_conversation_ticket_gives_way_to_the_open_one(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100001", "closed")
        api.add_ticket("SD-100002", "open")
        tr = make_tracker({"ticket_number": "SD-100001"}, text="cancel my ticket")
        events, dispatcher = run_with(with_api, ActionPrepareCancel(), tr)
        assert responses(dispatcher) == ["utter_confirm_cancel"]
        assert SlotSet("cancel_pending", "SD-100002") in events

    def test_someone_elses_ticket_is_not_found(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100009", "open", owner=STRANGER)
        tr = make_tracker(text="cancel SD-100009", intent="cancel_ticket")
        events, dispatcher = run_with(with_api, ActionPrepareCancel(), tr)
        assert responses(dispatcher) == ["utter_ticket_not_found"]
        assert SlotSet("cancel_pending", None) in events

    def test_no_open_tickets(self, with_api) -> None:
        _, dispatcher = run_with(with_api, ActionPrepareCancel(), make_tracker(text="cancel"))
        assert responses(dispatcher) == ["utter_no_open_tickets"]

    def test_api_down(self, api_down) -> None:
        events, dispatcher = run(ActionPrepareCancel(), make_tracker(text="cancel SD-100001"))
        assert responses(dispatcher) == ["utter_tickets_unavailable"]
        assert events == [SlotSet("cancel_pending", None)]


class TestActionCancelTicket:
    def test_confirmed_cancellation_closes_with_the_customers_words(
        self, api: FakeDeskApi, with_api
    ) -> None:
        api.add_ticket("SD-100001", "open")
        tr = make_tracker(
            {"cancel_pending": "SD-100001"},
            text="yes",
            intent="affirm",
            earlier=[user_event("the internet is back, cancel SD-100001", "cancel_ticket")],
        )
        events, dispatcher = run_with(with_api, ActionCancelTicket(), tr)
        assert responses(dispatcher) == ["utter_ticket_cancelled"]
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        # The widget's card shows the ticket as the desk has it now.
        assert dispatcher.messages[0]["custom"] == {"ticket": "SD-100001", "status": "closed"}
        assert api.tickets["SD-100001"]["status"] == "closed"
        assert api.requests[0]["path"] == "/api/v1/tickets/SD-100001/cancel"
        assert api.requests[0]["json"] == {"reason": "the internet is back, cancel SD-100001"}
        assert events == [SlotSet("cancel_pending", None)]

    def test_resolved_meanwhile_says_so(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "resolved")
        tr = make_tracker({"cancel_pending": "SD-100001"}, text="yes", intent="affirm")
        _, dispatcher = run_with(with_api, ActionCancelTicket(), tr)
        assert responses(dispatcher) == ["utter_ticket_not_cancellable"]
        assert dispatcher.messages[0]["status"] == "resolved"

    def test_api_down_changes_nothing_and_says_so(self, api_down) -> None:
        tr = make_tracker({"cancel_pending": "SD-100001"}, text="yes", intent="affirm")
        events, dispatcher = run(ActionCancelTicket(), tr)
        assert responses(dispatcher) == ["utter_ticket_action_failed"]
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert events == [SlotSet("cancel_pending", None)]

    def test_keep_ticket(self) -> None:
        tr = make_tracker({"cancel_pending": "SD-100001"}, text="no", intent="deny")
        events, dispatcher = run(ActionKeepTicket(), tr)
        assert dispatcher.messages[0]["response"] == "utter_ticket_kept"
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        assert events == [SlotSet("cancel_pending", None)]


class TestTicketInfo:
    def test_information_goes_to_the_thread_with_its_details(
        self, api: FakeDeskApi, with_api, monkeypatch
    ) -> None:
        api.add_ticket("SD-100001", "pending")
        text = "the kettle broke yesterday, order DD2026112001"
        tr = make_tracker(
            {"ticket_number": "SD-100001", "ticket_info": text},
            text=text,
            intent="add_ticket_info",
            entities=[
                entity("product", "kettle"),
                entity("date", "yesterday"),
                entity("order_number", "DD2026112001"),
            ],
        )
        events, dispatcher = run_with(with_api, ActionAddTicketInfo(), tr)
        assert responses(dispatcher) == ["utter_ticket_info_added"]
        assert dispatcher.messages[0]["ticket_number"] == "SD-100001"
        # Their answer took the ticket off "waiting for you".
        assert dispatcher.messages[0]["custom"] == {"ticket": "SD-100001", "status": "open"}
        posted = api.messages["SD-100001"][0]
        assert posted["author_type"] == "customer"
        assert posted["body"].startswith(text + "\n\nOrder number: DD2026112001\nProduct: kettle")
        assert "\nDate: 20" in posted["body"]  # an ISO date, relative to today
        assert events == [SlotSet("ticket_info", None)]

    def test_closed_ticket_is_refused_honestly(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "closed")
        tr = make_tracker({"ticket_number": "SD-100001", "ticket_info": "one more thing"})
        _, dispatcher = run_with(with_api, ActionAddTicketInfo(), tr)
        assert responses(dispatcher) == ["utter_ticket_closed_no_info"]
        assert "SD-100001" not in api.messages

    def test_api_down(self, api_down) -> None:
        tr = make_tracker({"ticket_number": "SD-100001", "ticket_info": "one more thing"})
        _, dispatcher = run(ActionAddTicketInfo(), tr)
        assert responses(dispatcher) == ["utter_ticket_action_failed"]

    def test_form_takes_the_only_open_ticket(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100004", "open")
        form = ValidateTicketInfoForm()

        async def scenario():
            return await form.extract_ticket_number(
                CollectingDispatcher(), make_tracker(text="add info", intent="add_ticket_info"), {}
            )

        assert with_api(scenario) == {"ticket_number": "SD-100004"}

    def test_form_refuses_unknown_and_closed_tickets(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "closed")
        api.add_ticket("SD-100002", "new")
        form = ValidateTicketInfoForm()
        seen: dict[str, tuple[dict, list]] = {}

        async def scenario():
            for value in ("SD-100001", "SD-999999", "sd 100002", "hello"):
                dispatcher = CollectingDispatcher()
                result = await form.validate_ticket_number(value, dispatcher, make_tracker(), {})
                seen[value] = (result, responses(dispatcher))

        with_api(scenario)
        assert seen["SD-100001"] == ({"ticket_number": None}, ["utter_ticket_closed_no_info"])
        assert seen["SD-999999"] == ({"ticket_number": None}, ["utter_ticket_not_found"])
        assert seen["sd 100002"] == ({"ticket_number": "SD-100002"}, [])
        assert seen["hello"] == ({"ticket_number": None}, ["utter_invalid_ticket_number"])

    def test_blank_information_is_asked_again(self) -> None:
        result = ValidateTicketInfoForm().validate_ticket_info(
            "   ", CollectingDispatcher(), make_tracker(), {}
        )
        assert result == {"ticket_info": None}


class TestActionMyTickets:
    def test_lists_open_tickets_with_numbers_and_statuses(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100001", "open")
        api.add_ticket("SD-100002", "resolved")
        api.add_ticket("SD-100003", "pending")
        api.add_ticket("SD-100004", "new", owner=STRANGER)
        _, dispatcher = run_with(
            with_api, ActionMyTickets(), make_tracker(text="我的工单", language="zh")
        )
        message = dispatcher.messages[0]
        assert message["response"] == "utter_my_tickets"
        assert message["count"] == 2
        assert message["tickets"].splitlines() == [
            "• SD-100003: 等待您回复",
            "• SD-100001: 处理中",
        ]

    def test_no_open_tickets(self, api: FakeDeskApi, with_api) -> None:
        api.add_ticket("SD-100002", "closed")
        _, dispatcher = run_with(with_api, ActionMyTickets(), make_tracker(text="my tickets"))
        assert responses(dispatcher) == ["utter_no_open_tickets"]

    def test_api_down(self, api_down) -> None:
        _, dispatcher = run(ActionMyTickets(), make_tracker(text="my tickets"))
        assert responses(dispatcher) == ["utter_tickets_unavailable"]


def test_the_list_asks_the_api_for_open_statuses_only(api: FakeDeskApi, with_api) -> None:
    run_with(with_api, ActionMyTickets(), make_tracker(text="my tickets"))
    path = api.requests[0]
    assert path["method"] == "GET" and path["path"] == "/api/v1/tickets"
    assert path["headers"]["X-Desk-Sender"] == "customer-1"
    assert path["query_all"]["status"] == ["new", "open", "pending", "escalated"]
