import json
import logging

from api.logs import DropQueryStrings
from tests.support_service.factories import ticket_payload


def test_access_log_path_loses_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/customers/by-identity?external_id=13812345678", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert "13812345678" not in record.getMessage()
    assert "/api/v1/customers/by-identity" in record.getMessage()


class TestRequestIds:
    """One request id per request, echoed and on the access line, with no personal data."""

    def access_lines(self, caplog) -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "desk.access"]

    def test_the_callers_id_is_kept_echoed_and_logged_with_the_conversation(
        self, client, caplog
    ) -> None:
        from ticketing import jsonlog

        caplog.set_level(logging.INFO, logger="desk.access")
        response = client.get(
            "/api/v1/customers/by-identity?channel=rest&external_id=sender-123",
            headers={"X-Request-ID": "msg-0123456789abcdef"},
        )
        assert response.headers["X-Request-ID"] == "msg-0123456789abcdef"
        (line,) = self.access_lines(caplog)
        formatted = json.loads(jsonlog.JsonFormatter("api").format(line))
        assert formatted["request_id"] == "msg-0123456789abcdef"
        assert formatted["conversation_id"] == "sender-123"
        assert formatted["message"] == "GET /api/v1/customers/by-identity 404"
        assert formatted["status"] == 404 and formatted["duration_ms"] >= 0
        assert "external_id" not in json.dumps(formatted)

    def test_the_ticket_in_the_path_is_on_the_line_and_a_bad_id_is_replaced(
        self, client, caplog
    ) -> None:
        from ticketing import jsonlog

        caplog.set_level(logging.INFO, logger="desk.access")
        number = client.post("/api/v1/tickets", json=ticket_payload()).json()["number"]
        caplog.clear()
        response = client.get(f"/api/v1/tickets/{number}", headers={"X-Request-ID": "a b"})
        rid = response.headers["X-Request-ID"]
        assert rid != "a b" and jsonlog.valid(rid)
        (line,) = self.access_lines(caplog)
        formatted = json.loads(jsonlog.JsonFormatter("api").format(line))
        assert (formatted["request_id"], formatted["ticket"]) == (rid, number)
        assert formatted["message"] == "GET /api/v1/tickets/{number} 200"
        # The ticket's text and the customer's phone stay out of the log.
        assert "13800138000" not in json.dumps(formatted)
