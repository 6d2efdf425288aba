"""A local stand-in for the ticketing API, at the HTTP edge of the action server.

It speaks the API's contract (paths, auth header, JSON shapes, error envelope),
records what it receives so tests can check it, and can be told to fail. Every request
and every answer is checked against the API's own OpenAPI document (tests/actions/
contract.py): what does not fit lands in ``violations`` and fails the test. Its rules
are the real API's: tickets are routed by ticketing/routing.yml, a conversation sees and
changes only its own tickets, a customer writing on a pending or recently resolved
ticket hands it back or reopens it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.actions import contract

TOKEN = "test-service-token-0123456789"
ROUTING = Path(__file__).resolve().parents[2] / "ticketing" / "routing.yml"
ACTIVE = ("new", "open", "pending", "escalated")
PRIORITIES = ("low", "normal", "high", "urgent")


def _routing() -> dict[str, Any]:
    return dict(yaml.safe_load(ROUTING.read_text(encoding="utf-8")))


def error(status: int, code: str, message: str = "") -> web.Response:
    """The API's error envelope (api/errors.py)."""
    return web.json_response(
        {"error": {"code": code, "message": message or code, "details": None}}, status=status
    )


def _raised(priority: str, steps: int) -> str:
    return PRIORITIES[min(PRIORITIES.index(priority) + steps, len(PRIORITIES) - 1)]


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
    # What did not fit the API's contract (tests/actions/contract.py); must stay empty.
    violations: list[str] = field(default_factory=list)
    routing: dict[str, Any] = field(default_factory=_routing)

    def queue_names(self, queue: str) -> dict[str, str]:
        names = self.routing["queues"][queue]
        return {"en": names["name_en"], "zh": names["name_zh"]}

    def ticket_json(self, ticket: dict[str, Any], *, listed: bool = False) -> dict[str, Any]:
        """The ticket as the API shows it to the bot: every field of TicketRead."""
        full = {
            "subject": "",
            "description": "",
            "channel": "rest",
            "language": "zh",
            "customer_id": 1,
            "created_at": "2026-11-20T08:00:00Z",
            "updated_at": "2026-11-20T08:00:00Z",
            "first_response_due_at": "2026-11-23T08:00:00Z",
            "resolution_due_at": "2026-11-24T08:00:00Z",
            "assignee": None,
            "escalation_level": 0,
            "escalation_reason": None,
            "first_responded_at": None,
            "resolved_at": None,
            "closed_at": None,
            "sla_state": "ok",
            "version": 1,
            "masked_texts": [],
            "queue_names": self.queue_names(ticket.get("queue", "general")),
            "messages": [
                {
                    "id": index,
                    "author_type": m.get("author_type") or "customer",
                    "author_name": None,
                    "body": m["body"],
                    "public": True,
                    "created_at": "2026-11-20T08:00:00Z",
                }
                for index, m in enumerate(self.messages.get(ticket["number"], []), start=1)
            ],
        }
        full.update({k: v for k, v in ticket.items() if k not in ("position",)})
        if listed:
            full.pop("messages")
        return full

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
            "first_response_due_at": "2026-11-23T08:00:00Z",
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
            # A fault the test asked for: outside the contract on purpose.
            return error(self.fail_next.pop(0), "unavailable")
        query = {key: request.query.getall(key) for key in request.query}
        self.violations += contract.check_request(request.method, request.path, query, body)
        response = await self._answer(request, body, handler)
        answer = json.loads(response.body) if isinstance(response.body, bytes) else None
        self.violations += contract.check_response(
            request.method, request.path, response.status, answer
        )
        return response

    async def _answer(self, request: web.Request, body: Any, handler: Any) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return error(401, "unauthorized")
        # Like the real API: the service token acts for one named conversation.
        conversation = (request.headers.get("X-Desk-Channel"), request.headers.get("X-Desk-Sender"))
        if not all(conversation):
            return error(403, "conversation_required")
        named = None
        if isinstance(body, dict) and isinstance(body.get("customer"), dict):
            named = (body["customer"].get("channel"), body["customer"].get("external_id"))
        elif "external_id" in request.query:
            named = (request.query.get("channel"), request.query.get("external_id"))
        if named is not None and named != conversation:
            return error(403, "not_your_conversation")
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

    def _not_found(self) -> web.Response:
        return error(404, "ticket_not_found")

    async def _create_ticket(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = request["json"]
        if key in self.by_idempotency_key:
            if self.bodies_by_key[key] != body:
                return error(409, "idempotency_key_reused")
            replay = self.tickets[self.by_idempotency_key[key]]
            return web.json_response(self.ticket_json(replay), status=200)
        category = body.get("category") or "general"
        route = self.routing["categories"][category]
        priority = route["priority"]
        if body.get("priority") in PRIORITIES and PRIORITIES.index(
            body["priority"]
        ) > PRIORITIES.index(priority):
            priority = body["priority"]  # the client's urgency may raise it, never lower it
        number = f"SD-{self.next_id}"
        self.next_id += 1
        ticket = {
            "number": number,
            "status": "new",
            "priority": priority,
            "queue": route["queue"],
            "category": category,
            "channel": body["channel"],
            "language": body.get("language") or "zh",
            "subject": body.get("subject") or body["description"][:80],
            "description": body["description"],
            "customer_id": 1,
            "first_response_due_at": "2026-11-23T08:00:00Z",
        }
        self.tickets[number] = ticket
        if key:
            self.by_idempotency_key[key] = number
            self.bodies_by_key[key] = body
        self.owners[number] = request["conversation"]
        if self.create_answer_delay:
            await asyncio.sleep(self.create_answer_delay)
        return web.json_response(self.ticket_json(ticket), status=201)

    async def _get_ticket(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        return web.json_response(self.ticket_json(ticket))

    async def _escalate(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        if ticket["status"] not in ACTIVE:
            return error(409, "invalid_transition")
        level = int(ticket.get("escalation_level", 0)) + 1
        tiers = {tier["level"]: tier for tier in self.routing["escalation"]}
        tier = tiers.get(level, tiers[max(tiers)])
        ticket.update(
            status="escalated",
            escalation_level=level,
            escalation_reason=f"customer: {request['json']['reason']}",
            priority=_raised(ticket.get("priority", "normal"), tier.get("raise_priority", 0)),
        )
        if tier.get("queue") and tier["queue"] != ticket.get("queue"):
            ticket.update(queue=tier["queue"], assignee=None)
        return web.json_response(self.ticket_json(ticket))

    async def _queue_position(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        held = ticket.get("assignee")
        queue = ticket.get("queue", "general")
        return web.json_response(
            {
                "number": ticket["number"],
                "status": ticket["status"],
                "queue": queue,
                "queue_names": ticket.get("queue_names") or self.queue_names(queue),
                "position": None if held else ticket.get("position", 1),
                "waiting": 0 if held else ticket.get("position", 1),
                "assignee": held,
            }
        )

    async def _find_customer(self, request: web.Request) -> web.Response:
        key = (request.query["channel"], request.query["external_id"])
        customer = self.customers.get(key)
        if customer is None:
            return error(404, "customer_not_found")
        full = {"language": "zh", "phone_masked": None, "email_masked": None, **customer}
        if full.get("has_phone") and full["phone_masked"] is None:
            full["phone_masked"] = "138****8000"
        if full.get("has_email") and full["email_masked"] is None:
            full["email_masked"] = "c***@example.com"
        return web.json_response(full)

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
            {
                "items": [self.ticket_json(t, listed=True) for t in mine[:limit]],
                "total": len(mine),
                "limit": limit,
                "offset": 0,
            }
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        if ticket["status"] not in ACTIVE:
            return error(409, "not_cancellable")
        ticket["status"] = "closed"
        self.messages.setdefault(ticket["number"], []).append(
            {"author_type": "system", "body": request["json"]["reason"]}
        )
        return web.json_response(self.ticket_json(ticket))

    async def _post_message(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        if ticket["status"] == "closed":
            return error(409, "ticket_closed")
        message = request["json"]
        self.messages.setdefault(ticket["number"], []).append(message)
        if message.get("author_type", "customer") == "customer":
            if ticket["status"] == "pending":
                ticket["status"] = "open"
            elif ticket["status"] == "resolved":
                # Resolved tickets in the fake are recent: within the reopen window.
                ticket["status"] = "open" if ticket.get("assignee") else "new"
        return web.json_response(self.ticket_json(ticket), status=201)

    async def _rate(self, request: web.Request) -> web.Response:
        ticket = self._visible(request)
        if ticket is None:
            return self._not_found()
        body = request["json"]
        if not isinstance(body.get("score"), int) or not 1 <= body["score"] <= 5:
            return error(422, "validation_failed")
        if ticket["status"] not in ("resolved", "closed"):
            return error(409, "not_resolved")
        if ticket["number"] in self.ratings:
            return error(409, "already_rated")
        self.ratings[ticket["number"]] = body
        return web.json_response(
            {
                "ticket": ticket["number"],
                "score": body["score"],
                "comment": body.get("comment"),
                "created_at": "2026-11-20T08:00:00Z",
            },
            status=201,
        )
