"""JSON log lines with the request id, conversation and ticket of the work they belong to."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ticketing import jsonlog


def line_of(record_logger: logging.Logger, stream: io.StringIO) -> dict:
    return json.loads(stream.getvalue().strip().splitlines()[-1])


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(jsonlog.JsonFormatter("api"))
    logger = logging.getLogger("tests.jsonlog")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


class TestRequestIds:
    @pytest.mark.parametrize("value", ["0f8e9a1b2c3d4e5f", "gw-turn-000123", "a" * 64])
    def test_a_valid_incoming_id_is_kept(self, value: str) -> None:
        assert jsonlog.begin(value) == value == jsonlog.request_id.get()

    @pytest.mark.parametrize(
        "value",
        [None, "", "short", "a" * 65, "id with spaces", 'id"}{"level":"x', "abc\ndefghij", 42],
    )
    def test_anything_else_gets_a_new_one(self, value: object) -> None:
        rid = jsonlog.begin(value)
        assert rid != value and jsonlog.valid(rid) and len(rid) == 32

    def test_a_new_message_forgets_the_previous_ticket(self) -> None:
        jsonlog.begin(None, conversation="web:s1")
        jsonlog.ticket_number.set("SD-100001")
        jsonlog.begin(None, conversation="web:s2")
        assert jsonlog.ticket_number.get() is None
        assert jsonlog.conversation_id.get() == "web:s2"


def test_a_line_carries_the_context_and_is_one_json_object(captured) -> None:
    logger, stream = captured
    rid = jsonlog.begin(None, conversation="wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    jsonlog.ticket_number.set("SD-100001")
    logger.info("escalated %s", "SD-100001", extra={"desk": {"status": 200}})
    line = line_of(logger, stream)
    assert line["request_id"] == rid and line["service"] == "api"
    assert line["conversation_id"] == "wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
    assert line["ticket"] == "SD-100001" and line["status"] == 200
    assert line["message"] == "escalated SD-100001" and line["level"] == "INFO"


def test_an_error_keeps_its_traceback_inside_the_line(captured) -> None:
    logger, stream = captured
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    assert len(stream.getvalue().strip().splitlines()) == 1
    assert "ValueError: boom" in line_of(logger, stream)["error"]


def test_install_replaces_console_handlers_once_and_leaves_captures_alone(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESK_LOG_FORMAT", raising=False)
    root = logging.getLogger()
    before = list(root.handlers)
    console = logging.StreamHandler()  # stderr, like a library's default handler
    root.addHandler(console)
    try:
        jsonlog.install("actions")
        jsonlog.install("actions")
        ours = [h for h in root.handlers if getattr(h, "desk", False)]
        assert len(ours) == 1 and console not in root.handlers
        assert caplog.handler in root.handlers  # pytest's capture still sees everything
        assert isinstance(ours[0].formatter, jsonlog.JsonFormatter)
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
