"""A local stand-in for the ticketing API, at the HTTP edge of the action server.

It speaks the API's contract (paths, auth header, JSON shapes, error envelope),
records what it receives so tests can check it, and can be told to fail.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "test-service-token-0123456789"


@dataclass
class FakeDeskApi:
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    # Idempotency key -> the body it was first used with (the real API replays a key
    # only for the very same request: 409 idempotency_key_reused otherwise).
    bodies_by_key: dict[str, Any] = field(default_factory=dict)
    # Seconds a ticket creation takes to answer after the ticket is stored (a slow API
    # whose answer comes after the caller gave up: the ticket lands late).
    create_answer_delay: float = 0.0
    # Ticket number -> conversation (channel, sender) of its customer. Tickets put in
    # ``tickets`` by a test without an owner belong to every conversation.
    owners: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ratings: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 100001

    def add_ticket(
        self, number: str, status: str = "new", *, owner: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """Put a ticket of ``owner`` (default: the tests' rest conversation) in the fake."""
        ticket = {
            "number": number,
            "status": status,
            "priority": "normal",
            "queue": "technical_support",
            "category": "technical_support",
            "first_response_due_at": None,
            "updated_at": f"2026-11-2{len(self.tickets) % 10}T08:00:00Z",
        }
        self.tickets[number] = ticket
        self.owners[number] = owner or ("rest", "customer-1")
        return ticket

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_check])
        app.router.add_post("/api/v1/tickets", self._create_ticket)
        app.router.add_get("/api/v1/tickets/{number}", self._get_ticket)
        app.router.add_get("/api/v1/customers/by-identity", self._find_customer)
        app.router.add_post("/api/v1/tickets/{number}/escalate", self._escalate)
        app.router.add_get("/api/v1/tickets", self._list_tickets)
        app.router.add_post("/api/v1/tickets/{number}/cancel", self._cancel)
        app.router.add_post("/api/v1/tickets/{number}/messages", self._post_message)
        app.router.add_post("/api/v1/tickets/{number}/rating", self._rate)
        app.router.add_get("/api/v1/tickets/{number}/queue-position", self._queue_position)
        return app

    def server(self) -> TestServer:
        return TestServer(self.app())

    @web.middleware
    async def _record_and_check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "query_all": {key: request.query.getall(key) for key in request.query},
                "headers": dict(request.headers),
                "json": body,
            }
        )
        if self.fail_next:
            return web.json_response(
                {"error": {"code": "unavailable"}}, status=self.fail_next.pop(0)
            )
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": {"code": "unauthorized"}}, status=401)
        # Like the real API: the service token acts for one named conversation.
        conversation = (request.headers.get("X-Desk-Channel"), request.headers.get("X-Desk-Sender"))
        if not all(conversation):
            return web.json_response({"error": {"code": "conversation_required"}}, status=403)
        named = None
        if isinstance(body, dict) and isinstance(body.get("customer"), dict):
            named = (body["customer"].get("channel"), body["customer"].get("external_id"))
        elif "external_id" in request.query:
            named = (request.query.get("channel"), request.query.get("external_id"))
        if named is not None and named != conversation:
            return web.json_response({"error": {"code": "not_your_conversation"}}, status=403)
        request["json"] = body
        request["conversation"] = conversation
        return await handler(request)

    def _visible(self, request: web.Request) -> dict[str, Any] | None:
        """The ticket in the path, if the conversation's customer may see it (else 404)."""
        number = request.match_info["number"].upper()
        ticket = self.tickets.get(number)
        owner = self.owners.get(number)
        if ticket is None or (owner is not None and owner != request["conversation"]):
            return None
        return ticket

    async def _create_ticket(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = request["json"]
        if key in self.by_idempotency_key:
            if self.bodies_by_key[key] != body:
                return web.json_response({"error": {"code": "idempotency_key_reused"}}, status=409)
            return web.json_response(self.tickets[self.by_idempotency_key[key]], status=200)
        number = f"SD-{self.next_id}"
        self.next_id += 1
        ticket = {
            "number": number,
            "status": "new",
            "priority": "normal",
            "queue": body.get("category") or "general",
            "category": body.get("category") or "general",
            "channel": body["channel"],
            "customer_id": 1,
            "first_response_due_at": "2026-11-23T08:00:00Z",
            "queue_names": {"en": "General enquiries", "zh": "综合咨询"},
        }
        self.tickets[number] = ticket
        if key:
            self.by_idempotency_key[key] = number
            self.bodies_by_key[key] = body
        self.owners[number] = request["conversation"]
        if self.create_answer_delay:
            await asyncio.sleep(self.create_answer_delay)
        return web.json_response(ticket, status=201)

    async def _get_ticket(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        return web.json_response(ticket)

    async def _escalate(self, request: web.Request) -> web.Response:
        ticket = self.tickets.get(request.match_info["number"].upper())
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        if ticket["status"] in ("resolved", "closed"):
            return web.json_response({"error": {"code": "invalid_transition"}}, status=409)
        ticket.update(status="escalated", priority="high")
        return web.json_response(ticket)

    async def _queue_position(self, request: web.Request) -> web.Response:
        ticket = self.tickets.get(request.match_info["number"].upper())
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        held = ticket.get("assignee")
        return web.json_response(
            {
                "number": ticket["number"],
                "status": ticket["status"],
                "queue": ticket["queue"],
                "queue_names": ticket["queue_names"],
                "position": None if held else ticket.get("position", 1),
                "waiting": 0 if held else ticket.get("position", 1),
                "assignee": held,
            }
        )

    async def _find_customer(self, request: web.Request) -> web.Response:
        key = (request.query["channel"], request.query["external_id"])
        customer = self.customers.get(key)
        if customer is None:
            return web.json_response({"error": {"code": "customer_not_found"}}, status=404)
        return web.json_response(customer)

    async def _list_tickets(self, request: web.Request) -> web.Response:
        statuses = set(request.query.getall("status", []))
        mine = [
            t
            for number, t in self.tickets.items()
            if self.owners.get(number, request["conversation"]) == request["conversation"]
            and (not statuses or t["status"] in statuses)
        ]
        mine.sort(key=lambda t: str(t.get("updated_at") or ""), reverse=True)
        limit = int(request.query.get("limit", "50"))
        return web.json_response(
            {"items": mine[:limit], "total": len(mine), "limit": limit, "offset": 0}
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        if ticket["status"] in ("resolved", "closed"):
            return web.json_response({"error": {"code": "not_cancellable"}}, status=409)
        ticket["status"] = "closed"
        self.messages.setdefault(ticket["number"], []).append(
            {"author_type": "system", "body": request["json"]["reason"]}
        )
        return web.json_response(ticket)

    async def _post_message(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        if ticket["status"] == "closed":
            return web.json_response({"error": {"code": "ticket_closed"}}, status=409)
        self.messages.setdefault(ticket["number"], []).append(request["json"])
        if ticket["status"] == "pending":
            ticket["status"] = "open"
        return web.json_response(ticket, status=201)

    async def _rate(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return web.json_response({"error": {"code": "ticket_not_found"}}, status=404)
        body = request["json"]
        if not isinstance(body.get("score"), int) or not 1 <= body["score"] <= 5:
            return web.json_response({"error": {"code": "validation_failed"}}, status=422)
        if ticket["status"] not in ("resolved", "closed"):
            return web.json_response({"error": {"code": "not_resolved"}}, status=409)
        if ticket["number"] in self.ratings:
            return web.json_response({"error": {"code": "already_rated"}}, status=409)
        self.ratings[ticket["number"]] = body
        return web.json_response(
            {"ticket": ticket["number"], "score": body["score"], "comment": body.get("comment")},
            status=201,
        )
