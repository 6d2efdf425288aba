"""Test support for tests that run the whole desk (browser, end to end).

``running_desk()`` starts ``scripts/desk.py run`` (API, action server and Rasa on the
trained model), or with ``instances=2`` ``scripts/desk_scaled.py run`` (two of each
behind nginx), on free ports with a throw-away database: a fresh PostgreSQL schema when
DATABASE_URL names a PostgreSQL server, otherwise a SQLite file. Rasa keeps
conversations in Redis when REDIS_URL is set. Ctrl-C stops it at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "desk.tar.gz"
STARTUP_SECONDS = 420


class DeskDidNotStart(RuntimeError):
    """The desk's processes did not all answer their health checks."""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> int:
    """A port p such that p, p + 1, ... p + count - 1 are free right now."""
    for _ in range(50):
        base = free_port()
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"found no {count} free ports in a row")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the desk's generated secrets."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


@dataclass
class Desk:
    """A running desk and the ways tests reach into it."""

    api_url: str
    rasa_url: str
    actions_url: str
    run_dir: Path
    engine: sa.Engine
    output: list[str] = field(default_factory=list)
    # How the desk's process ended once the context closed (None while it runs).
    exit_code: int | None = None

    def pid(self, service: str) -> int:
        """The process id of one of the desk's services ("rasa-1"), as the scaled desk
        prints it."""
        for line in self.output:
            if line.startswith(f"[desk] {service} pid "):
                return int(line.rsplit(" ", 1)[1])
        raise LookupError(f"the desk printed no pid for {service}")

    def instance_url(self, front_url: str, instance: int) -> str:
        """The address of one instance behind the balancer's front port (scaled desk)."""
        host, port = front_url.rsplit(":", 1)
        return f"{host}:{int(port) + instance}"

    def say(self, sender: str, message: str) -> list[str]:
        """A customer's message through Rasa's REST channel; the texts of the replies."""
        response = httpx.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        response.raise_for_status()
        return [m["text"] for m in response.json() if "text" in m]

    def secret(self, name: str) -> str:
        """One of the desk's generated secrets (desk.env in its run directory)."""
        return read_env_file(self.run_dir / "desk.env")[name]

    def staff_headers(self, username: str) -> dict[str, str]:
        """Log a seeded staff account in; the Authorization header for its token."""
        response = httpx.post(
            f"{self.api_url}/api/v1/auth/login",
            json={"username": username, "password": self.secret("DESK_DEMO_PASSWORD")},
            timeout=30,
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    @property
    def rasa_headers(self) -> dict[str, str]:
        """Authorization for Rasa's HTTP API: a short-lived admin JWT, as the relay sends."""
        now = int(time.time())
        claims = {"user": {"username": "tests", "role": "admin"}, "iat": now, "exp": now + 300}
        token = jwt.encode(claims, self.secret("DESK_RASA_JWT_SECRET"), "HS256")
        return {"Authorization": f"Bearer {token}"}

    def ticket_row(self, number: str) -> sa.Row[Any] | None:
        """The ticket as stored, with its queue's key, or None."""
        with self.engine.connect() as connection:
            return connection.execute(
                sa.text(
                    "SELECT t.number, t.status, t.description, t.channel, t.language,"
                    " q.key AS queue FROM tickets t JOIN queues q ON q.id = t.queue_id"
                    " WHERE t.number = :n"
                ),
                {"n": number},
            ).first()

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        """Rasa's tracker of one conversation."""
        response = httpx.get(
            f"{self.rasa_url}/conversations/{conversation_id}/tracker",
            headers=self.rasa_headers,
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())

    def push_bot_message(self, conversation_id: str, text: str, **data: Any) -> None:
        """Send a bot message into a conversation on the channel it last used.

        The way an agent's reply or any out-of-turn message reaches the customer:
        Rasa appends the event and delivers it through the latest input channel.
        """
        event = {"event": "bot", "text": text, "data": data, "timestamp": time.time()}
        response = httpx.post(
            f"{self.rasa_url}/conversations/{conversation_id}/tracker/events",
            params={"output_channel": "latest", "execute_side_effects": "true"},
            headers=self.rasa_headers,
            json=[event],
            timeout=30,
        )
        response.raise_for_status()


def _database_url(tmp_path: Path) -> tuple[str, str | None]:
    """A database for this run: a fresh PostgreSQL schema, or a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp_path / 'desk.db'}", None
    schema = f"desk_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", schema


@contextmanager
def running_desk(tmp_path: Path, *, instances: int = 1) -> Iterator[Desk]:
    """Start the desk in tmp_path, yield it, stop it with Ctrl-C and drop its database.

    With ``instances`` > 1: that many of each process behind nginx; the URLs are nginx's.
    """
    if not MODEL.exists():
        raise DeskDidNotStart(f"no trained model at {MODEL}; run `make train`")
    url, schema = _database_url(tmp_path)
    if instances > 1:
        # The scaled desk puts instance i on the front port + i.
        api_port, actions_port, rasa_port = (free_ports(instances + 1) for _ in range(3))
        launcher = ["desk_scaled.py", "run", "--instances", str(instances)]
    else:
        api_port, actions_port, rasa_port = free_port(), free_port(), free_port()
        launcher = ["desk.py", "run"]
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / launcher[0]),
            *launcher[1:],
            "--api-port",
            str(api_port),
            "--actions-port",
            str(actions_port),
            "--rasa-port",
            str(rasa_port),
            "--run-dir",
            str(run_dir),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            if line.strip() == "READY":
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready.is_set() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    engine = sa.create_engine(url)
    try:
        if not ready.is_set():
            raise DeskDidNotStart("the desk did not start:\n" + "\n".join(output[-60:]))
        desk = Desk(
            api_url=f"http://127.0.0.1:{api_port}",
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            actions_url=f"http://127.0.0.1:{actions_port}",
            run_dir=run_dir,
            engine=engine,
            output=output,
        )
        yield desk
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -1
        if ready.is_set():
            desk.exit_code = code
        engine.dispose()
        if schema:
            with sa.create_engine(os.environ["DATABASE_URL"]).begin() as connection:
                connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
