"""Start the whole service desk: API, action server and Rasa, on embedded defaults.

    python scripts/desk.py run            # what `make demo` runs
    python scripts/desk.py run --no-seed --api-port 18000 ...

It creates the local secrets on first use (``.run/desk.env``, never committed),
migrates and seeds the database, writes Rasa's endpoints for the ports in use,
starts the three processes with their logs in ``.run/logs/``, waits until each
answers its health check, prints where everything is, and stops all three on
Ctrl-C (or when one of them dies). ``DATABASE_URL`` and ``REDIS_URL`` switch
storage to PostgreSQL and Redis; Rasa's tracker and lock stores follow REDIS_URL.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PYTHON = ROOT / ".venv" / "bin" / "python"
BOT_BIN = ROOT / ".venv-bot" / "bin"


def say(message: str) -> None:
    """Progress for the person running the desk."""
    print(f"[desk] {message}", flush=True)


SECRET_FACTORIES = {
    "DESK_SERVICE_TOKEN": lambda: secrets.token_urlsafe(32),
    # Signs the JWTs Rasa's HTTP API accepts (the relay mints them; bot/serve.py).
    "DESK_RASA_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    # Rasa sends it to the action server, which refuses calls without it (actions/server.py).
    "DESK_ACTION_SECRET": lambda: secrets.token_urlsafe(32),
    "DESK_DATA_KEYS": lambda: "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "DESK_BLIND_INDEX_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "DESK_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    # The password of the seeded demo staff accounts (printed when the desk is up).
    "DESK_DEMO_PASSWORD": lambda: secrets.token_urlsafe(9),
    # The WeChat push token; copy it into the official account's console to connect one.
    "WECHAT_TOKEN": lambda: secrets.token_hex(16),
    # Shared with the phone gateway, which signs each transcribed turn with it.
    "VOICE_GATEWAY_SECRET": lambda: secrets.token_urlsafe(32),
    # What a Prometheus scraper sends to read the action server's and Rasa's /metrics.
    "DESK_METRICS_TOKEN": lambda: secrets.token_urlsafe(32),
}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file; comments and blank lines ignored."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def load_secrets(run_dir: Path) -> dict[str, str]:
    """The desk's local secrets, generated once per checkout and kept in run_dir.

    Secrets added in a newer version of the desk are appended to an existing file;
    existing values are never replaced (the data keys decrypt stored personal data).
    """
    path = run_dir / "desk.env"
    run_dir.mkdir(parents=True, exist_ok=True)
    values = read_env_file(path) if path.exists() else {}
    missing = {name: make() for name, make in SECRET_FACTORIES.items() if name not in values}
    if missing:
        with path.open("a") as handle:
            handle.write("".join(f"{k}={v}\n" for k, v in missing.items()))
        path.chmod(0o600)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        say(f"generated local secrets ({', '.join(missing)}) in {shown}")
        values.update(missing)
    return values


# The desk's tracker stores (bot/tracker_store.py): Rasa's Redis and SQL stores, sealing
# conversations with DESK_DATA_KEYS and forgetting them after DESK_CONVERSATION_RETENTION_DAYS.
REDIS_TRACKER_STORE = "bot.tracker_store.EncryptedRedisTrackerStore"
SQL_TRACKER_STORE = "bot.tracker_store.EncryptedSQLTrackerStore"


def redis_endpoints(redis_url: str) -> str:
    """Rasa tracker store (encrypted, expiring) and lock store on the Redis of REDIS_URL."""
    block = _redis_block(redis_url)
    return (
        f"tracker_store:\n  type: {REDIS_TRACKER_STORE}\n{block}\n  key_prefix: desk\n"
        + redis_lock_endpoint(redis_url)
    )


def redis_lock_endpoint(redis_url: str) -> str:
    """Rasa's Redis lock store (one conversation's messages in order across instances)."""
    return f"lock_store:\n  type: redis\n{_redis_block(redis_url)}\n  key_prefix: desk\n"


def _redis_block(redis_url: str) -> str:
    parts = urlsplit(redis_url)
    db = (parts.path or "/0").lstrip("/") or "0"
    common = [
        f"  url: {parts.hostname or '127.0.0.1'}",
        f"  port: {parts.port or 6379}",
        f"  db: {db}",
    ]
    if parts.password:
        common.append(f"  password: {parts.password}")
    if parts.scheme == "rediss":
        common.append("  use_ssl: true")
    return "\n".join(common)


def conversation_store_url(env: dict[str, str]) -> str:
    """Where Rasa keeps conversations, by the rule the API follows
    (``ticketing.conversation_store.store_url``): DESK_CONVERSATION_STORE when set, else
    the Redis of REDIS_URL, else the desk's PostgreSQL database, else ``conversations.db``
    beside the desk's SQLite file."""
    explicit = env.get("DESK_CONVERSATION_STORE", "").strip()
    if explicit:
        return explicit
    if env.get("REDIS_URL"):
        return env["REDIS_URL"]
    database = env["DATABASE_URL"]
    if database.startswith("postgres"):
        return database
    path = Path(unquote(urlsplit(database).path[1:]))  # sqlite:///<absolute path>
    return f"sqlite:///{path.parent / 'conversations.db'}"


def sql_endpoints(url: str) -> str:
    """The encrypted SQL tracker store on the database of an SQLAlchemy URL (SQLite or
    PostgreSQL; a search_path in the URL's options keeps Rasa's table in that schema)."""
    if url.startswith("sqlite"):
        path = unquote(urlsplit(url).path[1:])
        return f"tracker_store:\n  type: {SQL_TRACKER_STORE}\n  dialect: sqlite\n  db: {path}\n"
    parts = urlsplit(url)
    lines = [
        "tracker_store:",
        f"  type: {SQL_TRACKER_STORE}",
        "  dialect: postgresql",  # Rasa's SQLAlchemy 1.4 with psycopg2
        f"  url: {parts.hostname or '127.0.0.1'}",
        f"  port: {parts.port or 5432}",
        f"  db: {json.dumps(unquote(parts.path.lstrip('/')))}",
    ]
    if parts.username:
        lines.append(f"  username: {json.dumps(unquote(parts.username))}")
    if parts.password:
        lines.append(f"  password: {json.dumps(unquote(parts.password))}")
    query = parse_qsl(parts.query)
    if query:
        lines.append("  query:")
        lines += [f"    {name}: {json.dumps(value)}" for name, value in query]
    return "\n".join(lines) + "\n"


def write_endpoints(
    run_dir: Path,
    actions_port: int,
    redis_url: str | None,
    conversations: str | None = None,
) -> Path:
    """Rasa's endpoints for this run: the action server, the responses (bot/nlg.py), and
    where conversations live (``conversations``, a URL as :func:`conversation_store_url`
    gives; by default the Redis of ``redis_url``, else ``conversations.db`` in run_dir).

    The action server's secret is a ${...} reference that Rasa fills from its
    environment, so the file holds no secret. Selective domain: only the form validators
    (validate_*, which read the form's slots) get the domain; without it Rasa sends all of
    it (about 60 KiB of JSON, every bilingual response) with every custom-action call.
    """
    lines = (
        "action_endpoint:\n"
        f"  url: http://127.0.0.1:{actions_port}/webhook\n"
        "  enable_selective_domain: true\n"
        "  headers:\n"
        "    X-Desk-Action-Secret: ${DESK_ACTION_SECRET}\n"
        # The domain's responses, with FAQ answers as supervisors last edited them.
        "nlg:\n"
        "  type: bot.nlg.DeskNaturalLanguageGenerator\n"
        "  url: ${DESK_API_URL}\n"
    )
    store = conversations or redis_url or f"sqlite:///{run_dir / 'conversations.db'}"
    if store.startswith(("redis://", "rediss://", "unix://")):
        lines += redis_endpoints(store)
    else:
        # Conversations survive a restart: in the desk's PostgreSQL database, or in the
        # demo's SQLite file next to the desk's.
        lines += sql_endpoints(store)
        if redis_url:  # the lock store still follows REDIS_URL
            lines += redis_lock_endpoint(redis_url)
    path = run_dir / "endpoints.yml"
    path.write_text(lines)
    return path


@dataclass
class Service:
    """One process of the desk and how to tell it is up."""

    name: str
    command: list[str]
    health_url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], log_dir: Path) -> None:
        """Start the process in its own group, logging to log_dir/<name>.log."""
        log = (log_dir / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy(self) -> bool:
        """Whether the health URL answers 200."""
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def exited(self) -> int | None:
        """The exit code if the process has stopped."""
        return self.process.poll() if self.process else None

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after 15 s."""
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def process_environment(env: dict[str, str], *, api_port: int, rasa_port: int) -> None:
    """What the desk's processes need in their environment besides the secrets (in place)."""
    env.setdefault("DESK_ENV", "development")
    # bot/credentials.yml names these as ${...}; Rasa refuses to start on an unset one.
    # Empty means "not configured": no customer-service API for WeChat, the default base.
    for optional in ("WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_API_BASE", "WECHAT_TEMPLATE_ID"):
        env.setdefault(optional, "")
    env["DESK_API_URL"] = f"http://127.0.0.1:{api_port}"
    # Where the API's handoff relay delivers agents' replies (Rasa's HTTP API).
    env["DESK_RASA_URL"] = f"http://127.0.0.1:{rasa_port}"
    # The pages allowed to talk to Rasa from a browser: the API's own (the widget's demo
    # page); a company adds its site's origin.
    env.setdefault(
        "DESK_WIDGET_ORIGINS", f"http://127.0.0.1:{api_port},http://localhost:{api_port}"
    )
    env["PYTHONUNBUFFERED"] = "1"
    # Rasa keeps idle connections to the action server for 15 s (aiohttp's default) and
    # Sanic closes them after 5 s: under load Rasa then wrote turns into connections the
    # action server was closing ("Cannot write to closing transport": the form's validation
    # or the action is lost). The server side waits longer than the client side.
    env.setdefault("SANIC_KEEP_ALIVE_TIMEOUT", "75")
    # One BLAS/OpenMP thread per process: the sentence encoder's and TensorFlow's small
    # matrices gain nothing from a second thread, and on two shared cores the threads
    # waited for each other (Rasa: 61-67 -> 47-49 ms of CPU per turn, BENCHMARKS.md).
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")


def desk_services(
    *,
    model: str,
    endpoints: Path,
    api_port: int,
    actions_port: int,
    rasa_port: int,
    suffix: str = "",
) -> list[Service]:
    """The API, the action server and Rasa on these ports (``suffix`` names a replica)."""
    return [
        Service(
            f"api{suffix}",
            [
                str(SERVICE_PYTHON),
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--no-access-log",
                # The app itself reads X-Forwarded-For from DESK_TRUSTED_PROXIES only.
                "--no-proxy-headers",
            ],
            f"http://127.0.0.1:{api_port}/healthz",
        ),
        Service(
            f"actions{suffix}",
            [str(BOT_BIN / "python"), "-m", "actions.server", "--port", str(actions_port)],
            f"http://127.0.0.1:{actions_port}/health",
        ),
        Service(
            f"rasa{suffix}",
            [
                str(BOT_BIN / "python"),
                "-m",
                "bot.serve",
                "--model",
                model,
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(ROOT / "bot" / "credentials.yml"),
                "--port",
                str(rasa_port),
            ],
            f"http://127.0.0.1:{rasa_port}/",
        ),
    ]


def run_step(description: str, command: list[str], env: dict[str, str]) -> None:
    """Run a set-up step in the foreground, stopping the start on failure."""
    say(description)
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        say(f"failed: {' '.join(command)} (exit {result.returncode})")
        raise SystemExit(result.returncode)


def tail(path: Path, lines: int = 30) -> str:
    """The end of a log file."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the desk."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start API, action server and Rasa")
    run.add_argument("--api-port", type=int, default=8000)
    run.add_argument("--actions-port", type=int, default=5055)
    run.add_argument("--rasa-port", type=int, default=5005)
    run.add_argument("--model", default=str(ROOT / "models" / "desk.tar.gz"))
    run.add_argument("--run-dir", default=str(ROOT / ".run"))
    run.add_argument("--no-seed", action="store_true", help="skip the demo data")
    run.add_argument("--startup-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    run_dir = Path(args.run_dir).resolve()
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    if not Path(args.model).exists():
        say(f"no trained model at {args.model}: run `make train` first")
        return 2

    env = {**load_secrets(run_dir), **os.environ}
    env.setdefault("DATABASE_URL", f"sqlite:///{run_dir / 'desk.db'}")
    # No SMS provider here: progress notices to callers land in this file (see README).
    env.setdefault("DESK_SMS_OUTBOX", str(run_dir / "sms-outbox.jsonl"))
    process_environment(env, api_port=args.api_port, rasa_port=args.rasa_port)
    # The API's scheduled backups go with this run's other files (not another run's).
    env.setdefault("DESK_BACKUP_DIR", str(run_dir / "backups"))
    redis_url = env.get("REDIS_URL") or None
    storage = "PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite"
    say(f"storage: {storage}; Redis: {'on' if redis_url else 'off (in-process fallbacks)'}")

    run_step(
        "applying database migrations",
        [str(SERVICE_PYTHON), "-m", "alembic", "upgrade", "head"],
        env,
    )
    if not args.no_seed:
        run_step("seeding demo data", [str(SERVICE_PYTHON), "-m", "ticketing.seed"], env)
    # One rule for Rasa's endpoints and the API's retention and erasure (which read it).
    env["DESK_CONVERSATION_STORE"] = conversation_store_url(env)
    endpoints = write_endpoints(
        run_dir, args.actions_port, redis_url, env["DESK_CONVERSATION_STORE"]
    )

    services = desk_services(
        model=args.model,
        endpoints=endpoints,
        api_port=args.api_port,
        actions_port=args.actions_port,
        rasa_port=args.rasa_port,
    )

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    say(f"starting api, action server and rasa (logs in {log_dir})")
    for service in services:
        service.start(env, log_dir)
    try:
        started = time.monotonic()
        waiting = list(services)
        last_report = 0.0
        while waiting and not stopping:
            for service in list(waiting):
                code = service.exited()
                if code is not None:
                    say(f"{service.name} exited with {code} while starting; its log ends with:")
                    print(tail(log_dir / f"{service.name}.log"), flush=True)
                    return 1
                if service.healthy():
                    say(f"{service.name} is up after {time.monotonic() - started:.0f} s")
                    waiting.remove(service)
            elapsed = time.monotonic() - started
            if elapsed > args.startup_timeout:
                say(
                    f"gave up waiting for {', '.join(s.name for s in waiting)} after {elapsed:.0f} s"
                )
                return 1
            if waiting and elapsed - last_report >= 10:
                say(
                    f"waiting for {', '.join(s.name for s in waiting)} ({elapsed:.0f} s; Rasa loads its model in about a minute)"
                )
                last_report = elapsed
            time.sleep(0.5)
        if stopping:
            return 130

        api = f"http://127.0.0.1:{args.api_port}"
        rasa = f"http://127.0.0.1:{args.rasa_port}"
        print(
            "\n"
            "  The service desk is up.\n"
            f"  Ticketing API          {api}/api/v1   (OpenAPI: {api}/docs)\n"
            f"  API health             {api}/healthz\n"
            f"  Chat (REST channel)    POST {rasa}/webhooks/rest/webhook\n"
            f'                         {{"sender": "me", "message": "my internet has been down since yesterday"}}\n'
            f"  Chat widget demo       {api}/widget/demo.html?rasa={rasa}\n"
            f"  WeChat push URL        {rasa}/webhooks/wechat/webhook   (token: WECHAT_TOKEN)\n"
            f"  Voice gateway          POST {rasa}/webhooks/voice/webhook (VOICE_GATEWAY_SECRET)\n"
            f"  Agent console          {api}/console/   (log in as an agent below)\n"
            f"  Supervisor dashboard   {api}/dashboard/ (log in as zhao.min or admin)\n"
            f"  FAQ answers            {api}/answers/   (supervisors edit, live at once)\n"
            f"  Customer imports       {api}/imports/   (supervisors and admins)\n"
            f"  Staff administration   {api}/admin/     (admin; supervisors for agents)\n"
            f"  Action server          http://127.0.0.1:{args.actions_port}/health\n"
            f"  Staff log-in           POST {api}/api/v1/auth/login   users: wang.fang, li.na,\n"
            f"                         sam.taylor, chen.jie (agents), zhao.min (supervisor),\n"
            f"                         admin; password: {env.get('DESK_DEMO_PASSWORD', '(see desk.env)')}\n"
            f"  Local secrets          {run_dir / 'desk.env'}\n"
            f"  Logs                   {log_dir}\n"
            "\n"
            "  Press Ctrl-C to stop.\n"
            "READY",
            flush=True,
        )
        while not stopping:
            for service in services:
                code = service.exited()
                if code is not None:
                    say(f"{service.name} stopped unexpectedly (exit {code}); stopping the desk")
                    print(tail(log_dir / f"{service.name}.log"), flush=True)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        say("stopping")
        for service in reversed(services):
            service.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
