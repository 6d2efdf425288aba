"""Start the desk's Rasa server: ``rasa run`` with the desk's run-time settings.

    python -m bot.serve --model models/desk.tar.gz --endpoints .run/endpoints.yml \\
        --credentials bot/credentials.yml --port 5005     # or --fd N: an inherited socket

What it adds to ``rasa run --enable-api``:

- **Secrets stay off the command line.** The HTTP API (conversations, trigger_intent,
  the tracker) accepts only JWTs signed with ``DESK_RASA_JWT_SECRET`` (HS256, sent as
  ``Authorization: Bearer``), read from the environment; there is no ``?token=`` secret
  that would land in URLs and logs.
- **Loopback by default.** It binds ``DESK_RASA_INTERFACE`` (127.0.0.1 unless set); a
  deployment exposes only the channels' paths through its load balancer
  (``deploy/`` and README, "Trust boundaries").
- **CORS for the widget's origins only**, ``DESK_WIDGET_ORIGINS`` (comma-separated),
  instead of ``--cors "*"``.
- **Log lines that connect**: JSON with the request id of the customer message being
  served (``ticketing/jsonlog.py``), like the action server's and the API's.
- **One action-response validator.** Rasa checks every custom action's answer with
  ``jsonschema.validate``, which re-checks the schema against its meta-schema on every
  call: two thirds of a busy Rasa process's CPU (py-spy, BENCHMARKS.md). The same schema
  is compiled once here, and each answer is validated against it, with Rasa's own error
  message when it does not fit.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import Any

from bot.metrics import CONTENT_TYPE, BotMetrics, actions_of_last_turn
from ticketing.scrape_access import ScrapeAccess

logger = logging.getLogger(__name__)

DEFAULT_INTERFACE = "127.0.0.1"


def install_action_result_validator() -> None:
    """Validate custom actions' answers with one compiled validator (same schema, same errors)."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of on every answer
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise

    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]


def install_json_logging(metrics: BotMetrics | None = None) -> None:
    """JSON log lines (ticketing/jsonlog.py) instead of Rasa's coloured console, Sanic's
    loggers included (they get their handlers when Rasa builds its app)."""
    import rasa.server
    import rasa.utils.io

    from ticketing import jsonlog

    def configure_logging(loglevel: Any = None) -> None:
        jsonlog.install("rasa", level=loglevel or None)

    build_app = rasa.server.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = build_app(*args, **kwargs)
        jsonlog.install("rasa", level=logging.getLogger().level)
        return app

    rasa.utils.io.configure_colored_logging = configure_logging  # type: ignore[assignment]
    rasa.server.create_app = create_app  # type: ignore[assignment]
    install_turn_log(metrics)


def install_metrics(metrics: BotMetrics, access: ScrapeAccess) -> None:
    """Count fallbacks and handoffs per turn, and serve ``GET /metrics`` on Rasa's app."""
    import rasa.server
    from rasa.core.processor import MessageProcessor

    loop = MessageProcessor._run_prediction_loop

    async def run_prediction_loop(
        self: MessageProcessor, output_channel: Any, tracker: Any
    ) -> None:
        await loop(self, output_channel, tracker)
        metrics.predicted(
            channel=tracker.get_latest_input_channel(),
            intent=(tracker.latest_message.intent or {}).get("name"),
            actions=actions_of_last_turn(tracker.events),
        )

    MessageProcessor._run_prediction_loop = run_prediction_loop  # type: ignore[method-assign]

    build_app = rasa.server.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = build_app(*args, **kwargs)
        add_metrics_route(app, metrics, access)
        return app

    rasa.server.create_app = create_app  # type: ignore[assignment]


def add_metrics_route(app: Any, metrics: BotMetrics, access: ScrapeAccess) -> None:
    """``GET /metrics``: the scrape token or an allowed address; 401/403 otherwise."""
    from sanic import response
    from sanic.request import Request

    async def read_metrics(request: Request) -> Any:
        status = access.status(request.ip or None, request.headers.get("Authorization"))
        if status != 200:
            code = "unauthorized" if status == 401 else "forbidden"
            return response.json({"error": {"code": code}}, status=status)
        return response.raw(metrics.exposition(), content_type=CONTENT_TYPE)

    app.add_route(read_metrics, "/metrics", methods=["GET"], name="desk_metrics")


def install_turn_log(metrics: BotMetrics | None = None) -> None:
    """One line per customer message handled: channel, replies, milliseconds (no text).

    The connector has set the message's request id and conversation (ticketing/jsonlog.py)
    in the task that runs it, so the line joins the action server's and the API's. The
    turn is counted in ``metrics`` when given."""
    import time

    from rasa.core.agent import Agent

    handle = Agent.handle_message
    turns = logging.getLogger("desk.turns")

    async def handle_message(self: Agent, message: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await handle(self, message)
            outcome = "answered"
            return result
        finally:
            seconds = time.perf_counter() - started
            if metrics is not None:
                metrics.turn(channel=message.input_channel, outcome=outcome, seconds=seconds)
            turns.info(
                "turn %s",
                outcome,
                extra={
                    "desk": {
                        "channel": message.input_channel,
                        "duration_ms": round(seconds * 1000, 1),
                    }
                },
            )

    Agent.handle_message = handle_message  # type: ignore[method-assign]


def widget_origins(value: str | None) -> list[str]:
    """The origins allowed to call Rasa from a browser (the widget's pages)."""
    return [origin.strip().rstrip("/") for origin in (value or "").split(",") if origin.strip()]


def rasa_arguments(args: argparse.Namespace, environ: dict[str, str]) -> list[str]:
    """The ``rasa run`` arguments for this start (the JWT secret is passed in process)."""
    secret = environ.get("DESK_RASA_JWT_SECRET", "")
    if len(secret) < 32:
        raise SystemExit(
            "DESK_RASA_JWT_SECRET must be set to at least 32 characters: it protects Rasa's "
            "HTTP API (scripts/desk.py generates one into .run/desk.env)"
        )
    argv = [
        "run",
        "--enable-api",
        f"--jwt-secret={secret}",
        "--jwt-method=HS256",
        "--model",
        args.model,
        "--endpoints",
        args.endpoints,
        "--credentials",
        args.credentials,
        "--interface",
        environ.get("DESK_RASA_INTERFACE") or DEFAULT_INTERFACE,
        "--port",
        str(args.port),
    ]
    origins = widget_origins(environ.get("DESK_WIDGET_ORIGINS"))
    if origins:
        argv += ["--cors", *origins]
    return argv


def serve_on_inherited_socket(fd: int) -> None:
    """Make Rasa's server listen on the socket with descriptor ``fd`` (in place).

    ``rasa run`` binds ``--interface``/``--port`` itself, through ``Sanic.run(host=...,
    port=...)``; Sanic reads port 0 as 8000, so it cannot take a port the kernel picks.
    ``scripts/desk.py`` binds the port instead and passes the listening socket; Sanic
    serves a given socket (``sock=``) and then must not be given a host or port.
    """
    from sanic import Sanic

    listener = socket.socket(fileno=fd)  # family and address read from the descriptor
    run = Sanic.run

    def run_on_listener(self: Sanic, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        logger.info("Rasa listens on http://%s:%s", *listener.getsockname()[:2])
        run(self, *args, sock=listener, **kwargs)

    Sanic.run = run_on_listener  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """Parse the desk's arguments and hand over to Rasa's CLI, in this process."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--endpoints", required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--fd", type=int, help="serve this inherited listening socket instead")
    args = parser.parse_args(argv)
    if args.fd is not None:
        serve_on_inherited_socket(args.fd)

    try:
        access = ScrapeAccess.from_environ(os.environ)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    metrics = BotMetrics()
    install_action_result_validator()
    install_json_logging(metrics)
    install_metrics(metrics, access)
    from rasa.__main__ import main as rasa_main

    # Rasa's CLI reads sys.argv; this process's own command line (what `ps` shows)
    # is still the one above, without the secret.
    sys.argv = ["rasa", *rasa_arguments(args, dict(os.environ))]
    rasa_main()


if __name__ == "__main__":
    main()
