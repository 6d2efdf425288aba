"""ASGI middleware: the request body size limit, no NUL characters anywhere, the
browser security headers, and the request id with one access line per request.

PostgreSQL text cannot hold NUL (0x00); SQLite can. Refusing NUL at the edge keeps the
two databases answering the same, and keeps it out of logs and exports as well.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.web import content_security_policy
from ticketing import jsonlog
from ticketing.conversations import rasa_conversation_id
from ticketing.metrics import route_label

access_log = logging.getLogger("desk.access")


class SecurityHeaders:
    """Every response: ``nosniff`` and no referrer. Every HTML page: never framed; the
    desk's own pages (console, dashboard, widget demo): their Content-Security-Policy.

    The widget script and its stylesheet get no CSP or frame header of their own (they
    mean nothing on a script) and no Cross-Origin-Resource-Policy, so any site can still
    load them with a script tag.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = content_security_policy(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("X-Frame-Options", "DENY")
                    if policy is not None:
                        headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while reading chunks.

    ``uploads`` names the exact paths that take files (path -> their own limit); their
    bodies are binary (an XLSX holds NUL bytes), so the NUL check leaves them to the
    reader of the file.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, uploads: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload_limit = (
            self.uploads.get(scope.get("path", "")) if scope["method"] == "POST" else None
        )
        limit = upload_limit or self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return

        # Read the (bounded) body up front so an undeclared chunked body is limited too.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break

        if _carries_nul(scope, b"" if upload_limit else bytes(body)):
            response = error_response(
                422,
                "nul_character",
                "The request contains a NUL character (\\u0000), which no field accepts.",
                [],
            )
            await response(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"The request body is larger than {limit} bytes.",
            {"max_bytes": limit},
        )
        await response(scope, receive, send)


def _carries_nul(scope: Scope, body: bytes) -> bool:
    """A raw or JSON-escaped NUL in the body, or an encoded one in the path or query."""
    target = (scope.get("raw_path") or scope.get("path", "").encode()) + scope.get(
        "query_string", b""
    )
    if b"\x00" in target or b"%00" in target or "\x00" in scope.get("path", ""):
        return True
    return b"\x00" in body or b"\\u0000" in body.lower()


_TICKET_IN_PATH = re.compile(r"/tickets/(SD-\d+)", re.IGNORECASE)


def _conversation(channel: str | None, sender: str | None) -> str | None:
    """The conversation the bot's call names, for the log (authentication checks it)."""
    if not channel or not sender:
        return None
    try:
        return rasa_conversation_id(channel, sender)
    except ValueError:  # not a conversation channel: refused with 403 further in
        return None


class RequestLog:
    """Every request: a request id (the caller's valid ``X-Request-ID``, else a new one),
    echoed in the response and on every log line written while serving it, with the
    conversation (the bot's calls name it) and the ticket in the path; one access line
    at the end: method, route template, status, milliseconds. No query strings, bodies
    or personal data (ticketing/jsonlog.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        conversation = _conversation(headers.get("x-desk-channel"), headers.get("x-desk-sender"))
        rid = jsonlog.begin(headers.get(jsonlog.HEADER), conversation=conversation)
        number = _TICKET_IN_PATH.search(scope.get("path", ""))
        if number:
            jsonlog.ticket_number.set(number.group(1).upper())
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[jsonlog.HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                route_label(scope),
                status,
                extra={
                    "request_id": rid,
                    "conversation_id": conversation,
                    "ticket": number.group(1).upper() if number else None,
                    "desk": {
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                },
            )
