"""Log lines that connect: JSON, with the request id of the customer message they serve.

One customer message gets one request id where it enters the desk (Rasa's channel
connectors: a valid ``X-Request-ID`` from the client or proxy is kept, otherwise a new
one). It travels in the message's metadata to the action server (in the tracker Rasa
sends), and from there in the ``X-Request-ID`` header of every ticketing-API call, so
``grep <id> .run/logs/*.log`` shows the message in Rasa, in the action server and in the
API. Lines also carry the conversation id and the ticket number where known; never a
message's text, a contact or a name.

Standard library only: the API, Rasa and the action server (two Python environments)
all import this module. ``DESK_LOG_FORMAT=text`` gives plain lines instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

HEADER = "X-Request-ID"
METADATA_KEY = "request_id"

request_id: ContextVar[str | None] = ContextVar("desk_request_id", default=None)
conversation_id: ContextVar[str | None] = ContextVar("desk_conversation_id", default=None)
ticket_number: ContextVar[str | None] = ContextVar("desk_ticket_number", default=None)

# What a request id may look like when it comes from outside: no spaces, quotes or
# control characters that could forge a log line, and not long enough to carry data.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_FIELDS = (
    ("request_id", request_id),
    ("conversation_id", conversation_id),
    ("ticket", ticket_number),
)


def valid(value: object) -> bool:
    """Whether ``value`` is acceptable as a request id from outside."""
    return isinstance(value, str) and bool(_VALID.match(value))


def begin(incoming: object = None, *, conversation: str | None = None) -> str:
    """Start the work on one message or request: its id (``incoming`` if valid, else new)."""
    rid = incoming if isinstance(incoming, str) and valid(incoming) else uuid.uuid4().hex
    request_id.set(rid)
    conversation_id.set(conversation)
    ticket_number.set(None)
    return rid


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the desk's context, errors."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, variable in _FIELDS:
            value = getattr(record, name, None) or variable.get()
            if value:
                line[name] = value
        extra = getattr(record, "desk", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _to_console(handler: logging.Handler) -> bool:
    """A handler writing to this process's stdout or stderr (not a test's capture)."""
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and stream in (
        sys.stdout,
        sys.stderr,
        sys.__stdout__,
        sys.__stderr__,
    )


def install(service: str, *, level: str | None = None) -> None:
    """Write every logger's lines to stdout as JSON (plain text with DESK_LOG_FORMAT=text).

    The console handlers others installed (Rasa's coloured one, uvicorn's, Sanic's) are
    replaced or reformatted; other handlers (a test's log capture) are left alone.
    Calling it again changes nothing.
    """
    if os.environ.get("DESK_LOG_FORMAT", "json").strip().lower() == "text":
        formatter: logging.Formatter = logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s - %(message)s"
        )
    else:
        formatter = JsonFormatter(service)
    root = logging.getLogger()
    for old in [h for h in root.handlers if _to_console(h) or getattr(h, "desk", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stdout)
    handler.desk = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("DESK_LOG_LEVEL", "INFO"))
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            for own in logger.handlers:
                if _to_console(own):
                    own.setFormatter(formatter)
