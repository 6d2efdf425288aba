"""The action server, accepting calls from the desk's Rasa only.

    python -m actions.server --port 5055
    python -m actions.server --fd 3       # on a listening socket it inherited (scripts/desk.py)

rasa-sdk's own server (``python -m rasa_sdk``) listens on every interface and runs any
action for any tracker anyone posts, which would let a made-up tracker list another
customer's tickets. This one is rasa-sdk's app with two checks in front of it:

- **Who calls.** Every request but ``GET /health`` must carry the shared secret
  ``DESK_ACTION_SECRET`` in the ``X-Desk-Action-Secret`` header (Rasa sends it: the
  ``headers`` of ``action_endpoint`` in endpoints.yml); anything else is 401. The
  server refuses to start without a secret.
- **What it is told.** A tracker whose customer messages came in on another channel
  than its conversation id says (``actions.conversation.check_channel_facts``) is
  refused with 403: the actions believe a caller number only in a ``voice:``
  conversation, and only Rasa's connectors make those.

All the ticketing-API calls of one action call share a time budget
(``DESK_TURN_BUDGET_SECONDS``, 3.5 s), retries included (``actions/desk_api.py``).

It binds ``DESK_ACTIONS_HOST`` (127.0.0.1 by default: on one machine only Rasa needs
it; a scaled deployment names its private interface). With ``--fd`` it serves a socket
its parent bound (``scripts/desk.py`` binds every port itself, 0 meaning any free one,
so the port is known before the processes that call it start).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import socket
import time
import zlib
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.categories import warm_up_category_model
from actions.conversation import UntrustedTracker, check_channel_facts
from actions.desk_api import start_turn_budget
from actions.metrics import ActionMetrics
from ticketing import jsonlog
from ticketing.scrape_access import ScrapeAccess

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Desk-Action-Secret"
# Seconds the API calls of one action call may take in all (DESK_TURN_BUDGET_SECONDS): a
# hung API gets the customer an honest answer in about this long, not after every retry's
# own timeout (WeChat waits 5 s for a passive reply).
DEFAULT_TURN_BUDGET_SECONDS = 3.5
OPEN_PATHS = frozenset({"/health"})
# Checked by its own rule (scrape token or address), not the action secret.
METRICS_PATH = "/metrics"


def _refusal(status: int, code: str, message: str) -> HTTPResponse:
    return response.json({"error": {"code": code, "message": message}}, status=status)


def _action_call(request: Request) -> dict[str, Any] | None:
    """The JSON body of a webhook call (Rasa may deflate it), or None."""
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            return json.loads(zlib.decompress(request.body))
        body = request.json
    except Exception:
        return None
    return body if isinstance(body, dict) else None


def _follow_request(tracker: dict[str, Any]) -> None:
    """Log this call under the request id the customer's message came in with (its
    metadata, set by the desk's connector), and pass it on to the API."""
    latest = tracker.get("latest_message")
    metadata = latest.get("metadata") if isinstance(latest, dict) else None
    incoming = metadata.get(jsonlog.METADATA_KEY) if isinstance(metadata, dict) else None
    sender = tracker.get("sender_id")
    jsonlog.begin(incoming, conversation=sender if isinstance(sender, str) else None)


def _action_names(package: str) -> frozenset[str]:
    executor = ActionExecutor()
    executor.register_package(package)
    return frozenset(executor.actions)


def build_app(
    secret: str,
    *,
    package: str = "actions",
    budget: float = DEFAULT_TURN_BUDGET_SECONDS,
    scrape: ScrapeAccess | None = None,
) -> Sanic:
    """rasa-sdk's action app for ``package`` behind the secret and the tracker check; the
    API calls of one action call share ``budget`` seconds; ``/metrics`` for ``scrape``."""
    if not secret:
        raise ValueError("DESK_ACTION_SECRET is empty: the action server would accept anyone")
    app = create_app(package, cors_origins=None)
    expected = secret.encode()
    metrics = ActionMetrics(_action_names(package))
    access = scrape or ScrapeAccess()

    @app.get(METRICS_PATH)
    async def read_metrics(request: Request) -> HTTPResponse:
        status = access.status(request.ip or None, request.headers.get("Authorization"))
        if status == 401:
            return _refusal(401, "unauthorized", "a valid scrape token is required")
        if status == 403:
            return _refusal(403, "forbidden", "not an allowed scraper address")
        return response.raw(
            metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.middleware("response")
    async def count(request: Request, answer: HTTPResponse) -> None:
        started = getattr(request.ctx, "action_started", None)
        if started is not None:
            metrics.observe(
                action=request.ctx.action_name,
                status=answer.status,
                seconds=time.perf_counter() - started,
            )

    @app.middleware("request")
    async def guard(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS or request.path == METRICS_PATH:
            return None
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return _refusal(401, "unauthorized", f"{SECRET_HEADER} is missing or wrong")
        if request.path == "/webhook" and request.method == "POST":
            # All the API calls of this action share one budget (handled in this task).
            start_turn_budget(budget)
            call = _action_call(request)
            if call is None or not isinstance(call.get("tracker"), dict):
                return _refusal(400, "bad_request", "an action call with a tracker is required")
            _follow_request(call["tracker"])
            logger.info("action %s", call.get("next_action"))
            request.ctx.action_started = time.perf_counter()
            request.ctx.action_name = call.get("next_action")
            try:
                check_channel_facts(Tracker.from_dict(call["tracker"]))
            except UntrustedTracker as error:
                logger.warning("refused an action call: %s", error)
                return _refusal(403, "untrusted_tracker", str(error))
            except (KeyError, TypeError, ValueError):
                return _refusal(400, "bad_request", "the tracker is malformed")
        return None

    return app


def main(argv: list[str] | None = None) -> None:
    """Start the action server on DESK_ACTIONS_HOST and --port."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--fd", type=int, help="serve this inherited listening socket instead")
    parser.add_argument("--actions", default="actions", help="package of the actions")
    args = parser.parse_args(argv)
    jsonlog.install("actions")
    secret = os.environ.get("DESK_ACTION_SECRET", "")
    if not secret:
        raise SystemExit("DESK_ACTION_SECRET is not set: refusing to start an open action server")
    host = os.environ.get("DESK_ACTIONS_HOST", "127.0.0.1")
    budget = float(os.environ.get("DESK_TURN_BUDGET_SECONDS", DEFAULT_TURN_BUDGET_SECONDS))
    try:
        scrape = ScrapeAccess.from_environ(os.environ)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    app = build_app(secret, package=args.actions, budget=budget, scrape=scrape)
    # The ticket category model and its sentence encoder load now, not on the first ticket.
    warm_up_category_model()
    if args.fd is not None:
        # The family and address are read from the descriptor; Sanic takes it as is.
        listener = socket.socket(fileno=args.fd)
        logger.info("action server on http://%s:%s", *listener.getsockname()[:2])
        app.run(sock=listener, workers=1, access_log=False, motd=False)
        return
    logger.info("action server on http://%s:%s", host, args.port)
    app.run(host=host, port=args.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
