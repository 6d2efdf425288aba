"""Test support for tests that run the whole desk (browser, end to end).

``running_desk()`` starts ``scripts/desk.py run`` (API, action server and Rasa on the
trained model), or with ``instances=2`` ``scripts/desk_scaled.py run`` (two of each
behind nginx), on ports the desk binds itself (port 0: the kernel picks them; the desk
reports them in its run directory's ports.json), with a throw-away database: a fresh
PostgreSQL schema when DATABASE_URL names a PostgreSQL server, otherwise a SQLite file. Rasa keeps
conversations in Redis when REDIS_URL is set. Ctrl-C stops it at the end.
"""

from __future__ import annotations

import json
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
# A desk that is starting keeps its processes busy (migrations, seeding, Rasa loading
# TensorFlow and the model); on a machine whose cores other work shares, that takes
# minutes longer than on an idle one. So a start is judged by progress, not by the
# clock: it has failed when the desk's processes used less than STALL_CPU_SECONDS of CPU
# in STALL_SECONDS (hung, or waiting on something that will not come), or stopped.
# STARTUP_CAP_SECONDS only keeps a run from hanging for ever.
STALL_SECONDS = 120
STALL_CPU_SECONDS = 1.0
STARTUP_CAP_SECONDS = 1800


class DeskDidNotStart(RuntimeError):
    """The desk's processes did not all answer their health checks."""


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused for as long as the context lasts.

    The port is bound (not listening) for the whole context, without SO_REUSEADDR, so no
    other program can listen on it meanwhile: a connection to it is refused, never served.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def work_done(launcher_pid: int) -> float:
    """CPU seconds used by the desk's processes so far: the launcher's finished steps
    (migrations, seeding) and every process it started, with theirs (from /proc). The
    launcher's own polling is left out: it runs whether or not the desk gets anywhere."""
    ticks: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid = int(proc.name)
        children.setdefault(int(fields[1]), []).append(pid)
        # utime, stime, and the times of its children that ended (cutime, cstime)
        ticks[pid] = sum(int(value) for value in fields[11:15])
    try:
        launcher = (Path("/proc") / str(launcher_pid) / "stat").read_text().rsplit(")", 1)[1]
    except OSError:
        return 0.0  # the launcher is gone: its output ends too, and the wait with it
    total = int(launcher.split()[13]) + int(launcher.split()[14])
    pending = list(children.get(launcher_pid, []))
    while pending:
        pid = pending.pop()
        total += ticks.get(pid, 0)
        pending.extend(children.get(pid, []))
    return total / os.sysconf("SC_CLK_TCK")


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
    # Where each process listens, as the desk bound and reported them (ports.json):
    # "api", "rasa", "actions" and, on the scaled desk, "rasa-1", "api-2", ...
    ports: dict[str, int] = field(default_factory=dict)
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

    def instance_url(self, kind: str, instance: int) -> str:
        """The address of one instance behind the balancer (scaled desk): ("rasa", 2)."""
        return f"http://127.0.0.1:{self.ports[f'{kind}-{instance}']}"

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
        launcher = ["desk_scaled.py", "run", "--instances", str(instances)]
    else:
        launcher = ["desk.py", "run"]
    run_dir = tmp_path / "run"
    # Port 0 everywhere: the desk binds each port itself (the kernel picks a free one),
    # hands the listening sockets to its processes and writes them to ports.json.
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / launcher[0]),
            *launcher[1:],
            "--api-port",
            "0",
            "--actions-port",
            "0",
            "--rasa-port",
            "0",
            "--run-dir",
            str(run_dir),
            # The launcher's own clock would stop a slow start; progress is judged here.
            "--startup-timeout",
            str(STARTUP_CAP_SECONDS),
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

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # Until READY, the end of the desk's output (it stopped), or no progress (see above).
    started = last_progress = time.monotonic()
    last_cpu = work_done(process.pid)
    stalled = ""
    while not ready.wait(timeout=5) and reader.is_alive():
        now, cpu = time.monotonic(), work_done(process.pid)
        if cpu >= last_cpu + STALL_CPU_SECONDS:
            last_progress, last_cpu = now, cpu
        elif now - last_progress > STALL_SECONDS:
            stalled = f"no progress for {STALL_SECONDS} s ({cpu - last_cpu:.1f} s of CPU)"
            break
        if now - started > STARTUP_CAP_SECONDS:
            stalled = f"still starting after {STARTUP_CAP_SECONDS} s"
            break
    engine = sa.create_engine(url)
    try:
        if not ready.is_set():
            raise DeskDidNotStart(
                f"the desk did not start ({stalled or 'it stopped'}):\n" + "\n".join(output[-60:])
            )
        ports = {k: int(v) for k, v in json.loads((run_dir / "ports.json").read_text()).items()}
        desk = Desk(
            api_url=f"http://127.0.0.1:{ports['api']}",
            rasa_url=f"http://127.0.0.1:{ports['rasa']}",
            actions_url=f"http://127.0.0.1:{ports['actions']}",
            run_dir=run_dir,
            engine=engine,
            output=output,
            ports=ports,
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
