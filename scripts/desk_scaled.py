"""The desk scaled out on one machine: N Rasa, N action servers, N API workers behind nginx.

    python scripts/desk_scaled.py run                 # what `make demo-scaled` runs
    python scripts/desk_scaled.py nginx-conf          # rewrite deploy/nginx/desk.conf

Needs PostgreSQL (``DATABASE_URL``; unset: the local server's database ``desk``, created
when missing) and Redis (``REDIS_URL``; unset: the local one): the instances share the
database, Rasa's tracker and lock stores and the live events, and keep no state another
instance needs (README, "Scaling out"). Debian's nginx (``apt-get install nginx``) is the
balancer, run from the run directory as an ordinary process with the configuration this
script writes: ``deploy/nginx/desk.conf`` is the same file for the default ports.

Front ports (nginx, loopback): the API on ``--api-port`` (8000), Rasa on ``--rasa-port``
(5005), the action servers on ``--actions-port`` (5055); instance i listens on the front
port + i (front ports 0: every port is any free one). This script binds every port
itself before it starts anything, hands each process its listening socket (nginx takes
its own through the ``NGINX`` variable) and writes them all to ``ports.json`` in the run
directory. Rasa's REST, WeChat and voice channels go to any instance (the Redis lock store
keeps each conversation's messages in order); ``/socket.io/`` is sticky by client address
(``ip_hash``), since long-polling must reach the instance that holds the session. Every
Rasa calls the action servers and every action server the API through nginx.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from desk import (
    ROOT,
    SERVICE_PYTHON,
    PortTaken,
    Service,
    actions_interface,
    desk_services,
    listening_socket,
    load_secrets,
    port_of,
    process_environment,
    rasa_interface,
    run_step,
    say,
    tail,
    write_endpoints,
    write_ports,
)

NGINX_CONF = ROOT / "deploy" / "nginx" / "desk.conf"
# Where the instances meet when DATABASE_URL / REDIS_URL are not set: the local servers.
LOCAL_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/desk"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
# Run with the service's Python (SQLAlchemy): CREATE DATABASE when it does not exist yet.
CREATE_DATABASE = """
import sys
import sqlalchemy as sa
url = sa.engine.make_url(sys.argv[1])
server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
with server.connect() as connection:
    query = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
    if connection.execute(query, {"name": url.database}).first() is None:
        connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
        print(f"[desk] created the database {url.database}", flush=True)
"""


def upstream(name: str, ports: list[int], policy: str) -> str:
    # Passive health checks (nginx's open-source build has no active ones): an instance
    # that refused or dropped a connection is left out for 5 s, then tried again.
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in ports
    )
    return f"upstream {name} {{\n    {policy};\n{servers}    keepalive 16;\n}}\n"


def memory_only(size: str) -> str:
    """Keep request and response bodies in memory, never in nginx's temporary files.

    Run as root, nginx's workers are ``nobody``, who may not enter the run directory
    (a test's temporary directory is private): a body written to a temporary file (a
    tracker sent to the action server is larger than nginx's 16 KiB default) failed
    with a 500.
    """
    return f"    client_body_buffer_size {size};\n    proxy_max_temp_file_size 0;\n"


def nginx_site(
    api_port: int,
    rasa_port: int,
    actions_port: int,
    instances: int,
    instance_ports: dict[str, list[int]] | None = None,
) -> str:
    """The balancer's http-level configuration (upstreams and servers) for these ports.

    ``instance_ports`` ("api", "rasa", "actions": one port per instance) are where the
    instances listen; without it, instance i of each process is on its front port + i.
    """
    backends = instance_ports or {
        kind: [front + i for i in range(1, instances + 1)]
        for kind, front in (("api", api_port), ("rasa", rasa_port), ("actions", actions_port))
    }
    common = (
        "        proxy_http_version 1.1;\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        proxy_connect_timeout 2s;\n"
        "        proxy_read_timeout 120s;\n"
        # A request that never reached an instance (refused, reset before it was sent)
        # goes to the next one. nginx never resends a POST that an instance had received
        # (no `non_idempotent` here): a customer's message that reached a Rasa instance
        # which then died is answered 502, and the client sends it again with its
        # message id, which the desk recognises (README, "Scaling out").
        "        proxy_next_upstream error timeout;\n"
        "        proxy_next_upstream_tries 2;\n"
    )
    proxy = '        proxy_set_header Connection "";\n' + common
    # socket.io upgrades to a WebSocket: the Upgrade and Connection headers must pass.
    websocket = (
        "        proxy_set_header Upgrade $http_upgrade;\n"
        "        proxy_set_header Connection $desk_connection_upgrade;\n" + common
    )
    return (
        f"# Generated by scripts/desk_scaled.py for {instances} instances of each process;\n"
        "# `python scripts/desk_scaled.py nginx-conf` writes it again.\n"
        + "map $http_upgrade $desk_connection_upgrade {\n    default upgrade;\n    '' \"\";\n}\n"
        + upstream("desk_api", backends["api"], "least_conn")
        + upstream("desk_rasa", backends["rasa"], "least_conn")
        # Long-polling socket.io sessions live in one Rasa process: same client, same one.
        + upstream("desk_rasa_sticky", backends["rasa"], "ip_hash")
        + upstream("desk_actions", backends["actions"], "least_conn")
        + f"server {{\n    listen 127.0.0.1:{api_port};\n    client_max_body_size 1m;\n"
        + memory_only("1m")
        + "    location / {\n        proxy_pass http://desk_api;\n"
        + proxy
        # Live pages hold a stream open; nginx must not buffer it.
        + "        proxy_buffering off;\n    }\n}\n"
        f"server {{\n    listen 127.0.0.1:{rasa_port};\n    client_max_body_size 1m;\n"
        + memory_only("1m")
        + "    location /socket.io/ {\n        proxy_pass http://desk_rasa_sticky;\n"
        + websocket
        + "        proxy_buffering off;\n    }\n"
        "    location / {\n        proxy_pass http://desk_rasa;\n" + proxy + "    }\n}\n"
        f"server {{\n    listen 127.0.0.1:{actions_port};\n    client_max_body_size 8m;\n"
        + memory_only("8m")
        + "    location / {\n        proxy_pass http://desk_actions;\n"
        + proxy
        + "    }\n}\n"
    )


def nginx_main_conf(run_dir: Path, site: Path) -> Path:
    """A complete nginx.conf that keeps its pid, logs and temporary files in run_dir."""
    nginx_dir = run_dir / "nginx"
    for sub in ("client", "proxy", "logs"):
        (nginx_dir / sub).mkdir(parents=True, exist_ok=True)
    conf = nginx_dir / "nginx.conf"
    conf.write_text(
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {nginx_dir / 'nginx.pid'};\n"
        f"error_log {nginx_dir / 'logs' / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {nginx_dir / 'logs' / 'access.log'};\n"
        f"    client_body_temp_path {nginx_dir / 'client'};\n"
        f"    proxy_temp_path {nginx_dir / 'proxy'};\n"
        "    fastcgi_temp_path /tmp; uwsgi_temp_path /tmp; scgi_temp_path /tmp;\n"
        f"    include {site};\n"
        "}\n"
    )
    return conf


def instance_sockets(
    args: argparse.Namespace, env: dict[str, str]
) -> list[dict[str, socket.socket]]:
    """Each instance's listening sockets ("api", "actions", "rasa"): on the front port + i,
    or on any free port when the front port is 0."""

    def port(front: int, i: int) -> int:
        return front + i if front else 0

    return [
        {
            "api": listening_socket(port(args.api_port, i)),
            "actions": listening_socket(port(args.actions_port, i), actions_interface(env)),
            "rasa": listening_socket(port(args.rasa_port, i), rasa_interface(env)),
        }
        for i in range(1, args.instances + 1)
    ]


def services(
    args: argparse.Namespace, endpoints: Path, sockets: list[dict[str, socket.socket]]
) -> list[Service]:
    """N of each process on the sockets behind nginx (the same commands as scripts/desk.py)."""
    found: list[Service] = []
    for i, own in enumerate(sockets, start=1):
        found += desk_services(
            model=args.model,
            endpoints=endpoints,
            api=own["api"],
            actions=own["actions"],
            rasa=own["rasa"],
            suffix=f"-{i}",
        )
    return found


def storage(env: dict[str, str]) -> str:
    """Where the instances meet, without credentials: "PostgreSQL desk and Redis db 0"."""
    database = env["DATABASE_URL"].rsplit("/", 1)[-1].split("?", 1)[0]
    redis_db = env["REDIS_URL"].rsplit("/", 1)[-1] or "0"
    return f"PostgreSQL {database} and Redis db {redis_db}"


def kind(service: Service) -> str:
    """The process a replica is one of: "rasa-2" -> "rasa"."""
    return service.name.rsplit("-", 1)[0]


def watch(everything: list[Service], log_dir: Path, stopping: Callable[[], bool]) -> int:
    """Serve until Ctrl-C; an instance that dies is reported, the others carry on.

    The desk stops only when nginx or the last instance of a process is gone: the
    survivors share every conversation, ticket and lock through Redis and PostgreSQL.
    """
    dead: set[str] = set()
    while not stopping():
        for service in everything:
            if service.name in dead or service.exited() is None:
                continue
            dead.add(service.name)
            left = [s.name for s in everything if kind(s) == kind(service) and s.name not in dead]
            say(f"{service.name} died (exit {service.exited()}); still serving: {left or 'none'}")
            print(tail(log_dir / f"{service.name}.log", lines=10), flush=True)
            if not left or service.name == "nginx":
                say(f"no {kind(service)} left; stopping the desk")
                return 1
        time.sleep(0.5)
    return 0


def run(args: argparse.Namespace) -> int:
    """Start everything, wait for health through nginx, run until Ctrl-C or a death."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        say("nginx is missing: apt-get install nginx (Debian's package)")
        return 2
    run_dir = Path(args.run_dir).resolve()
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**load_secrets(run_dir), **os.environ}
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = LOCAL_DATABASE
        say(f"DATABASE_URL not set: the local PostgreSQL's database desk ({LOCAL_DATABASE})")
        run_step(
            "creating the database desk when missing",
            [str(SERVICE_PYTHON), "-c", CREATE_DATABASE, LOCAL_DATABASE],
            env,
        )
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = LOCAL_REDIS
        say(f"REDIS_URL not set: the local Redis ({LOCAL_REDIS})")
    if not env["DATABASE_URL"].startswith("postgres"):
        say("the scaled desk needs PostgreSQL (DATABASE_URL): the instances share it")
        return 2
    if not Path(args.model).exists():
        say(f"no trained model at {args.model}: run `make train` first")
        return 2
    try:
        front = {
            "api": listening_socket(args.api_port),
            "actions": listening_socket(args.actions_port, actions_interface(env)),
            "rasa": listening_socket(args.rasa_port, rasa_interface(env)),
        }
        own = instance_sockets(args, env)
    except PortTaken as error:
        say(
            f"{error}: choose other ports (--api-port, --actions-port, --rasa-port; 0 = any free ones)"
        )
        return 2
    fronts = {kind: port_of(sock) for kind, sock in front.items()}
    backends = {kind: [port_of(sockets[kind]) for sockets in own] for kind in front}
    write_ports(
        run_dir,
        {
            **fronts,
            **{f"{kind}-{i}": port for kind in front for i, port in enumerate(backends[kind], 1)},
        },
    )
    say(
        "listening: "
        + ", ".join(f"{kind} {fronts[kind]} (instances {backends[kind]})" for kind in front)
    )
    # Everything reaches the other processes through the balancer's ports.
    process_environment(env, api_port=fronts["api"], rasa_port=fronts["rasa"])
    # The API's scheduled backups go with this run's other files (not another run's).
    env.setdefault("DESK_BACKUP_DIR", str(run_dir / "backups"))
    # A Rasa instance that dies while answering leaves its conversation locked in Redis
    # until the lock's ticket expires (Rasa's default: 60 s, during which the customer's
    # next message waits on the surviving instance). A turn has a few seconds of budget
    # (DESK_TURN_BUDGET_SECONDS), so 15 s is ample for a live one.
    env.setdefault("TICKET_LOCK_LIFETIME", "15")

    run_step(
        "applying database migrations",
        [str(SERVICE_PYTHON), "-m", "alembic", "upgrade", "head"],
        env,
    )
    run_step("seeding demo data", [str(SERVICE_PYTHON), "-m", "ticketing.seed"], env)
    endpoints = write_endpoints(run_dir, fronts["actions"], env["REDIS_URL"])
    site = run_dir / "nginx-desk.conf"
    site.write_text(
        nginx_site(fronts["api"], fronts["rasa"], fronts["actions"], args.instances, backends)
    )
    balancer = Service(
        "nginx",
        [nginx, "-p", str(run_dir / "nginx"), "-c", str(nginx_main_conf(run_dir, site))],
        f"http://127.0.0.1:{fronts['api']}/healthz",
        sockets=tuple(front.values()),
        # nginx takes over listening sockets named in NGINX (its way of handing them to a
        # new binary on an upgrade) when its configuration listens on the same addresses.
        extra_env={"NGINX": "".join(f"{sock.fileno()};" for sock in front.values())},
    )
    started = services(args, endpoints, own)

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    everything = [*started, balancer]
    say(f"starting {args.instances} x (api, action server, rasa) and nginx (logs in {log_dir})")
    for service in everything:
        service.start(env, log_dir)
    try:
        began, waiting, last = time.monotonic(), list(everything), 0.0
        while waiting and not stopping:
            for service in list(waiting):
                if service.exited() is not None:
                    say(f"{service.name} exited while starting; its log ends with:")
                    print(tail(log_dir / f"{service.name}.log"), flush=True)
                    return 1
                if service.healthy():
                    say(f"{service.name} is up after {time.monotonic() - began:.0f} s")
                    waiting.remove(service)
            elapsed = time.monotonic() - began
            if elapsed > args.startup_timeout:
                say(f"gave up waiting for {', '.join(s.name for s in waiting)}")
                return 1
            if waiting and elapsed - last >= 15:
                say(f"waiting for {', '.join(s.name for s in waiting)} ({elapsed:.0f} s)")
                last = elapsed
            time.sleep(0.5)
        if stopping:
            return 130
        api, rasa, n = fronts["api"], fronts["rasa"], args.instances

        def ports(kind: str) -> str:
            return ", ".join(map(str, backends[kind]))

        print(
            "\n  The scaled service desk is up (nginx in front of "
            f"{n} of each process, on {storage(env)}).\n"
            f"  Ticketing API       http://127.0.0.1:{api}/api/v1   (OpenAPI: /docs)\n"
            f"  Chat (REST)         POST http://127.0.0.1:{rasa}/webhooks/rest/webhook\n"
            f"  Chat widget demo    http://127.0.0.1:{api}/widget/demo.html"
            f"?rasa=http://127.0.0.1:{rasa}\n"
            f"  Agent console       http://127.0.0.1:{api}/console/\n"
            f"  Supervisor board    http://127.0.0.1:{api}/dashboard/\n"
            "  Staff log-in        wang.fang, li.na, sam.taylor, chen.jie (agents), zhao.min,"
            f" admin; password: {env.get('DESK_DEMO_PASSWORD', '(see desk.env)')}\n"
            f"  Instances           api {ports('api')}, rasa {ports('rasa')},"
            f" actions {ports('actions')} (127.0.0.1)\n"
            f"  Balancer config     {site}\n"
            f"  Local secrets       {run_dir / 'desk.env'}\n"
            f"  Logs                {log_dir}\n"
            "\n  One instance may die: the others carry on (its death is reported here)."
            "\n  Press Ctrl-C to stop.",
            flush=True,
        )
        for service in everything:
            assert service.process is not None
            say(f"{service.name} pid {service.process.pid}")
        print("READY", flush=True)
        return watch(everything, log_dir, lambda: stopping)
    finally:
        say("stopping")
        for service in reversed(everything):
            service.stop()
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "nginx-conf"):
        command = sub.add_parser(name)
        command.add_argument("--instances", type=int, default=2)
        command.add_argument("--api-port", type=int, default=8000)
        command.add_argument("--rasa-port", type=int, default=5005)
        command.add_argument("--actions-port", type=int, default=5055)
    sub.choices["run"].add_argument("--model", default=str(ROOT / "models" / "desk.tar.gz"))
    sub.choices["run"].add_argument("--run-dir", default=str(ROOT / ".run" / "scaled"))
    sub.choices["run"].add_argument("--startup-timeout", type=float, default=420.0)
    sub.choices["nginx-conf"].add_argument("--out", default=str(NGINX_CONF))
    args = parser.parse_args(argv)
    if args.command == "nginx-conf":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(nginx_site(args.api_port, args.rasa_port, args.actions_port, args.instances))
        say(f"wrote {out}")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
