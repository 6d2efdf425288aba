"""``make bench-bot``: simulated customers through Rasa's REST channel, beside the parse ceiling.

    .venv-bot/bin/python scripts/bench_bot.py                       # starts its own desk
    .venv-bot/bin/python scripts/bench_bot.py --rasa-url http://127.0.0.1:5005 \\
        --api-port 8000 --actions-port 5055   # with DESK_RASA_JWT_SECRET in the environment

Without ``--rasa-url`` it starts the whole desk with ``scripts/desk.py run`` on ports of
its own (``DATABASE_URL`` and ``REDIS_URL`` pass through, as for ``make demo``) and stops
it at the end. Then, in one run and on loopback only:

1. warm-up: a few conversations of each kind, not measured;
2. the ceiling: bare ``POST /model/parse`` of the customers' messages, back to back
   (NLU only: no dialogue, no actions, no tracker store);
3. stress: N customers back to back (no think time), for each N of ``--stress``;
4. human pace: ``--customers`` customers at once, each waiting 3-8 s before every
   message; a customer who finishes is replaced by a new one until the phase ends.

Customers speak Chinese or English (half each). ``--ticket-share`` of them (30 %)
report a problem and answer the ticket form's questions (order number, contact) until
the reply carries an ``SD-`` number, then ask that ticket's status; the others ask an
FAQ question and then the status of a ticket number. A ticket or status reply without
the number counts as an error, as do HTTP errors, timeouts and empty replies.

Reported per phase: turn latency p50/p95/p99, turns/s, errors by cause; per desk
process (found by the port it listens on, with its children) CPU seconds, cores used,
CPU milliseconds per turn and resident memory; the client's own CPU; and the CPU the
rest of the machine used meanwhile (other work on shared cores makes figures noisy).
Each phase is bounded by its duration (turns in flight then get ``--timeout``).
Results are appended to ``BENCHMARKS.md`` (section "The bot under load") unless
``--no-write``. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import jwt

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PYTHON = ROOT / ".venv" / "bin" / "python"
SECTION = "## The bot under load"
# py-spy is not in the locks: `--profile` needs it installed by hand (pip install py-spy).
PY_SPY = os.environ.get("PY_SPY", "py-spy")
TICKET = re.compile(r"SD-\d{6,}")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def say(message: str) -> None:
    """Progress for the person running the benchmark."""
    print(f"[bench-bot] {message}", flush=True)


# What simulated customers say. Problems are technical ones (no order number asked) and
# order ones (the form asks for it); FAQ questions are phrased unlike the training data.
LINES: dict[str, dict[str, list[str]]] = {
    "en": {
        "problem": [
            "my internet has been down since yesterday",
            "my router has no lights on",
            "the broadband is painfully slow tonight",
            "i never got my parcel, it's been two weeks",
        ],
        "faq": [
            "how much do you charge to deliver",
            "how many days do i get to send something back",
            "how many days until the refund shows up on my card",
            "can the recipient address still be edited",
            "what payment methods do you take",
            "how do i reset my password",
        ],
        "status": ["what's the status of {number}", "any news on ticket {number}?"],
        "contact": ["13800138000", "sam@example.com"],
        "order": ["DD2026112001"],
    },
    "zh": {
        "problem": [
            "我的宽带从昨天开始就连不上了",
            "路由器一直闪红灯，上不了网",
            "家里的wifi一直连不上，手机电脑都不行",
            "我的快递到现在还没收到",
        ],
        "faq": [
            "快递费怎么收",
            "普通快递一般要几天",
            "收件地址能不能改成公司",
            "还没发货可以取消订单吗",
            "可以用什么方式付款",
            "密码忘了怎么办",
        ],
        "status": ["{number} 现在什么进度", "帮我查一下工单{number}"],
        "contact": ["13912345678", "我的手机是13912345670"],
        "order": ["DD2026112001"],
    },
}
# What the ticket form asks, recognised in its questions (bot/domain/*.yml).
ASKS_ORDER = re.compile(r"order number|订单号")
ASKS_CONTACT = re.compile(r"phone number or e-mail|手机号或邮箱|手机号|e-mail address")
ASKS_DESCRIPTION = re.compile(r"describe the problem|描述一下")


@dataclass
class Turn:
    """One customer message and what came of it."""

    kind: str
    started: float
    ms: float
    error: str | None = None


@dataclass
class Phase:
    """Everything measured in one phase."""

    name: str
    customers: int
    think: tuple[float, float] | None
    seconds: float = 0.0
    turns: list[Turn] = field(default_factory=list)
    conversations: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    rss_mb: dict[str, float] = field(default_factory=dict)  # process -> peak RSS
    machine_busy: float = 0.0  # CPU seconds of the whole machine
    client_cpu: float = 0.0
    profile: dict[str, float] = field(default_factory=dict)  # Rasa's stage -> share of samples

    @property
    def ok(self) -> list[float]:
        return [t.ms for t in self.turns if t.error is None]

    @property
    def errors(self) -> Counter[str]:
        return Counter(t.error for t in self.turns if t.error is not None)

    def percentile(self, share: float) -> float:
        values = sorted(self.ok)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(share * len(values)))]

    @property
    def per_second(self) -> float:
        return len(self.turns) / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- processes and CPU


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on a TCP port (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process that owns the listening socket of a port (same user only)."""
    inodes = {f"socket:[{inode}]" for inode in listening_inodes(port)}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def with_children(pid: int) -> list[int]:
    """A process and its descendants (uvicorn workers, Rasa's helpers)."""
    parents = parent_map()
    family, frontier = [pid], [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in parents.items() if parent == current]
        family.extend(children)
        frontier.extend(children)
    return family


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except OSError:
            continue
    return total / 1024 / 1024


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


# Where a sample of Rasa's main thread is, by the first frame that matches (py-spy's raw
# output: one "frame;frame;... count" line per distinct stack).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("action response validation (jsonschema)", ("jsonschema",)),
    ("slot-mapping custom actions (ActionExtractSlots)", ("ActionExtractSlots.run",)),
    ("other custom-action calls (tracker to JSON, HTTP, events)", ("RemoteAction.run",)),
    ("NLU: sentence encoder", ("SentenceEncoder",)),
    ("NLU: the rest of the pipeline", ("MessageProcessor._parse_message",)),
    ("dialogue policies (prediction)", ("predict_next_with_tracker_if_should",)),
    ("tracker store: load and save", ("tracker_store.py",)),
    ("lock store", ("lock_store.py",)),
]
OTHER_STAGE = "the rest (HTTP server, event loop, responses)"
# The kinds of customer turn, in the order a report shows them.
TURN_KINDS = ("faq", "status", "problem", "order", "contact")


def summarise_profile(path: Path) -> dict[str, float]:
    """Share of samples per stage of a py-spy raw profile."""
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        stage = next(
            (name for name, marks in STAGES if any(m in stack for m in marks)), OTHER_STAGE
        )
        counts[stage] += int(n)
    total = sum(counts.values())
    return {stage: n / total for stage, n in counts.items()} if total else {}


class Processes:
    """The desk's processes, watched for CPU and memory (and Rasa sampled by py-spy)."""

    def __init__(self, ports: dict[str, int], profile_dir: Path | None = None) -> None:
        self.ports = ports
        self.pids: dict[str, list[int]] = {}
        self.profile_dir = profile_dir

    def start_profile(
        self, phase: str, seconds: float
    ) -> tuple[subprocess.Popen[bytes], Path] | None:
        """py-spy on Rasa's process for the phase, if asked for."""
        if self.profile_dir is None or "rasa" not in self.pids:
            return None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{phase.replace(' ', '-')}.txt"
        command = [
            PY_SPY,
            "record",
            "-p",
            str(self.pids["rasa"][0]),
            "-d",
            str(int(seconds)),
            "-r",
            "50",
            "--nonblocking",
            "-f",
            "raw",
            "-o",
            str(out),
        ]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out

    @staticmethod
    def finish_profile(started: tuple[subprocess.Popen[bytes], Path] | None) -> dict[str, float]:
        if started is None:
            return {}
        process, out = started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.terminate()
            return {}
        return summarise_profile(out) if out.exists() else {}

    def find(self) -> None:
        for name, port in self.ports.items():
            pid = pid_listening_on(port)
            if pid is None:
                say(f"no process listens on {port} ({name}); its CPU is not measured")
                continue
            self.pids[name] = with_children(pid)
        found = ", ".join(
            f"{n} {p[0]}" + (f" (+{len(p) - 1})" if len(p) > 1 else "")
            for n, p in self.pids.items()
        )
        say(f"watching {found}")

    def cpu(self) -> dict[str, float]:
        sample = {name: cpu_seconds(pids) for name, pids in self.pids.items()}
        sample["client"] = cpu_seconds([os.getpid()])
        return sample

    def rss(self) -> dict[str, float]:
        return {name: rss_mb(pids) for name, pids in self.pids.items()}


# ---------------------------------------------------------------- customers


class Desk:
    """The REST channel and the parse endpoint of a running Rasa."""

    def __init__(self, rasa_url: str, jwt_secret: str | None, timeout: float) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.jwt_secret = jwt_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Desk:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=self.timeout
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def say(self, sender: str, message: str) -> tuple[list[str], str | None]:
        """The texts of the replies, or an error cause."""
        assert self.session is not None
        try:
            async with self.session.post(
                f"{self.rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": message},
            ) as response:
                if response.status != 200:
                    return [], f"http {response.status}"
                body = await response.json()
        except TimeoutError:
            return [], "timeout"
        except aiohttp.ClientError as error:
            return [], f"connection ({type(error).__name__})"
        texts = [str(m["text"]) for m in body if isinstance(m, dict) and m.get("text")]
        return texts, None if texts else "empty reply"

    def authorization(self) -> dict[str, str]:
        """A short-lived admin JWT for Rasa's HTTP API (bot/serve.py), as the relay sends."""
        if not self.jwt_secret:
            return {}
        now = int(time.time())
        claims = {"user": {"username": "bench-bot", "role": "admin"}, "iat": now, "exp": now + 300}
        return {"Authorization": f"Bearer {jwt.encode(claims, self.jwt_secret, 'HS256')}"}

    async def model_id(self) -> str:
        """The model Rasa serves (GET /status), for the report."""
        assert self.session is not None
        try:
            async with self.session.get(
                f"{self.rasa_url}/status", headers=self.authorization()
            ) as response:
                body = await response.json() if response.status == 200 else {}
        except (TimeoutError, aiohttp.ClientError, ValueError):
            body = {}
        return str(body.get("model_id") or "unknown")

    async def parse(self, text: str) -> str | None:
        assert self.session is not None
        try:
            async with self.session.post(
                f"{self.rasa_url}/model/parse", headers=self.authorization(), json={"text": text}
            ) as response:
                await response.read()
                return None if response.status == 200 else f"http {response.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as error:
            return f"connection ({type(error).__name__})"


class Customer:
    """One simulated customer: a conversation of a few turns, recorded into a phase."""

    def __init__(
        self, desk: Desk, phase: Phase, rng: random.Random, run_id: str, n: int, ticket_share: float
    ) -> None:
        self.desk = desk
        self.phase = phase
        self.rng = rng
        self.language = "zh" if n % 2 else "en"
        self.sender = f"bench-{run_id}-{phase.name}-{n}-{self.language}"
        self.opens_ticket = rng.random() < ticket_share
        self.lines = LINES[self.language]

    async def pause(self, deadline: float) -> bool:
        """Think before the next message; False when the phase is over."""
        if self.phase.think:
            await asyncio.sleep(self.rng.uniform(*self.phase.think))
        return time.monotonic() < deadline

    async def turn(self, kind: str, message: str) -> tuple[list[str], str | None]:
        started = time.monotonic()
        texts, error = await self.desk.say(self.sender, message)
        self.phase.turns.append(Turn(kind, started, (time.monotonic() - started) * 1000, error))
        return texts, error

    def fail_last(self, cause: str) -> None:
        self.phase.turns[-1].error = cause

    async def run(self, deadline: float) -> None:
        if self.opens_ticket:
            number = await self.open_ticket(deadline)
        else:
            texts, error = await self.turn("faq", self.rng.choice(self.lines["faq"]))
            number = f"SD-{self.rng.randint(100001, 100006)}" if error is None else None
        if number and await self.pause(deadline):
            asked = self.rng.choice(self.lines["status"]).format(number=number)
            texts, error = await self.turn("status", asked)
            if error is None and number not in " ".join(texts):
                self.fail_last("status reply without the ticket number")
        self.phase.conversations += 1

    async def open_ticket(self, deadline: float) -> str | None:
        """Report a problem and answer the form until the reply names the ticket."""
        problem = self.rng.choice(self.lines["problem"])
        texts, error = await self.turn("problem", problem)
        for _ in range(4):
            if error is not None:
                return None
            reply = " ".join(texts)
            numbers = TICKET.findall(reply)
            if numbers:
                return numbers[0]
            if ASKS_ORDER.search(reply):
                kind, message = "order", self.rng.choice(self.lines["order"])
            elif ASKS_CONTACT.search(reply):
                kind, message = "contact", self.rng.choice(self.lines["contact"])
            elif ASKS_DESCRIPTION.search(reply):
                kind, message = "problem", problem
            else:
                self.fail_last(f"ticket flow: unexpected reply {reply[:60]!r}")
                return None
            if not await self.pause(deadline):
                return None
            texts, error = await self.turn(kind, message)
        if error is None:
            self.fail_last("ticket flow: no SD- number after the form")
        return None


async def run_phase(
    desk: Desk,
    phase: Phase,
    seconds: float,
    rng: random.Random,
    run_id: str,
    ticket_share: float,
    processes: Processes,
) -> None:
    """Keep phase.customers conversations going for `seconds`, then let them finish."""
    counter = iter(range(10**9))
    started = time.monotonic()
    deadline = started + seconds

    async def seat(slot: int) -> None:
        if phase.think:  # arrivals spread over one think time, not all at once
            await asyncio.sleep(rng.uniform(0, phase.think[1]))
        while time.monotonic() < deadline:
            customer = Customer(desk, phase, rng, run_id, next(counter), ticket_share)
            await customer.run(deadline)
            if phase.think:  # the next customer on this seat thinks before writing too
                await asyncio.sleep(rng.uniform(*phase.think))

    cpu_before, busy_before = processes.cpu(), machine_busy_seconds()
    profiling = processes.start_profile(phase.name, seconds)
    peak: dict[str, float] = {}
    tasks = [asyncio.create_task(seat(slot)) for slot in range(phase.customers)]
    last = started
    while not all(task.done() for task in tasks):
        await asyncio.sleep(0.5)
        for name, mb in processes.rss().items():
            peak[name] = max(peak.get(name, 0.0), mb)
        now = time.monotonic()
        if now - last >= 5:
            last = now
            recent = [t.ms for t in phase.turns if t.started >= now - 10 and t.error is None]
            recent.sort()
            p95 = f"{recent[int(0.95 * len(recent))]:.0f} ms" if recent else "-"
            say(
                f"{phase.name}: {now - started:5.0f} s, {len(phase.turns)} turns, "
                f"{sum(phase.errors.values())} errors, last 10 s p95 {p95}"
                + (" (finishing turns in flight)" if now > deadline else "")
            )
    for task in tasks:
        task.result()
    phase.seconds = time.monotonic() - started
    cpu_after = processes.cpu()
    phase.machine_busy = machine_busy_seconds() - busy_before
    phase.client_cpu = cpu_after.pop("client") - cpu_before.pop("client")
    phase.cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    phase.rss_mb = peak
    phase.profile = processes.finish_profile(profiling)


async def run_ceiling(desk: Desk, phase: Phase, seconds: float, processes: Processes) -> None:
    """Bare /model/parse back to back with phase.customers clients."""
    messages = [
        m for lang in LINES.values() for key in ("problem", "faq", "contact") for m in lang[key]
    ]
    deadline = time.monotonic() + seconds

    async def client(offset: int) -> None:
        n = offset
        while time.monotonic() < deadline:
            started = time.monotonic()
            error = await desk.parse(messages[n % len(messages)])
            phase.turns.append(Turn("parse", started, (time.monotonic() - started) * 1000, error))
            n += 1

    cpu_before, busy_before = processes.cpu(), machine_busy_seconds()
    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(phase.customers)))
    phase.seconds = time.monotonic() - started
    cpu_after = processes.cpu()
    phase.machine_busy = machine_busy_seconds() - busy_before
    phase.client_cpu = cpu_after.pop("client") - cpu_before.pop("client")
    phase.cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
    phase.rss_mb = processes.rss()
    say(
        f"ceiling: {len(phase.turns)} parses in {phase.seconds:.0f} s, "
        f"p50 {phase.percentile(0.5):.0f} ms, {sum(phase.errors.values())} errors"
    )


async def measure(
    args: argparse.Namespace, rasa_url: str, jwt_secret: str | None, processes: Processes
) -> list[Phase]:
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:6]
    phases: list[Phase] = []
    async with Desk(rasa_url, jwt_secret, args.timeout) as desk:
        args.model_id = await desk.model_id()
        say("warm-up: 4 conversations of each kind, not measured")
        warm = Phase("warm-up", 4, None)
        await asyncio.gather(
            *(
                Customer(desk, warm, rng, run_id, n, 1.0 if n < 4 else 0.0).run(
                    time.monotonic() + 60
                )
                for n in range(8)
            )
        )
        if warm.errors:
            say(f"warm-up errors: {dict(warm.errors)}")
        if args.ceiling_seconds > 0:
            ceiling = Phase("parse ceiling", args.ceiling_clients, None)
            say(
                f"ceiling: bare /model/parse, {args.ceiling_clients} clients back to back, "
                f"{args.ceiling_seconds:.0f} s"
            )
            await run_ceiling(desk, ceiling, args.ceiling_seconds, processes)
            phases.append(ceiling)
        for customers in args.stress:
            phase = Phase(f"stress {customers}", customers, None)
            say(f"stress: {customers} customers back to back for {args.stress_seconds:.0f} s")
            await run_phase(
                desk, phase, args.stress_seconds, rng, run_id, args.ticket_share, processes
            )
            phases.append(phase)
        if args.customers > 0:
            phase = Phase(f"human {args.customers}", args.customers, tuple(args.think))
            say(
                f"human pace: {args.customers} customers, {args.think[0]:.0f}-{args.think[1]:.0f} s "
                f"between messages, for {args.human_seconds:.0f} s"
            )
            await run_phase(
                desk, phase, args.human_seconds, rng, run_id, args.ticket_share, processes
            )
            phases.append(phase)
    return phases


# ---------------------------------------------------------------- the desk and the report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


class StartedDesk:
    """scripts/desk.py run in the background, stopped with Ctrl-C."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.process: subprocess.Popen[str] | None = None
        self.ready = threading.Event()
        self.output: list[str] = []

    def start(self) -> None:
        a = self.args
        command = [
            str(SERVICE_PYTHON),
            str(ROOT / "scripts" / "desk.py"),
            "run",
            "--run-dir",
            str(a.run_dir),
            "--api-port",
            str(a.api_port),
            "--actions-port",
            str(a.actions_port),
            "--rasa-port",
            str(a.rasa_port),
            "--model",
            str(a.model),
        ]
        say("starting the desk: " + " ".join(command[1:]))
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                if line.startswith("[desk]"):
                    print(f"  {line.rstrip()}", flush=True)
                if line.strip() == "READY":
                    self.ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + a.startup_timeout
        while not self.ready.is_set() and self.process.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if not self.ready.is_set():
            self.stop()
            raise SystemExit("the desk did not start:\n" + "\n".join(self.output[-40:]))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        say("stopping the desk")
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=30)


def machine() -> str:
    model = "unknown CPU"
    found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    model = found.group(1).strip() if found else model
    mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
    memory = f", {int(mem.group(1)) / 1024 / 1024:.0f} GiB RAM" if mem else ""
    return f"{os.cpu_count()} cores ({model}){memory}, Python {platform.python_version()}"


def revision() -> str:
    def git(*cmd: str) -> str:
        result = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    # BENCHMARKS.md itself changes between runs; only code changes matter here.
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md")
    dirty = " with uncommitted changes" if changed else ""
    return (
        f"{git('rev-parse', '--abbrev-ref', 'HEAD')} {git('rev-parse', '--short', 'HEAD')}{dirty}"
    )


def report(
    args: argparse.Namespace, phases: list[Phase], storage: str, load: float, command: str
) -> str:
    now = datetime.now(UTC)
    label = f": {args.label}" if args.label else ""
    lines = [
        f"### {now:%Y-%m-%d %H:%M} UTC{label}",
        "",
        f"{machine()}; the whole desk and the client on the same cores; {storage}. "
        f"Code: {revision()}, model {getattr(args, 'model_id', 'unknown')}. "
        f"1-minute load average before the run: {load:.1f}. "
        f"Command: `{command}`.",
        "",
        "| phase | customers | s | turns | turns/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in phases:
        errors = sum(p.errors.values())
        causes = "; ".join(f"{n} {cause}" for cause, n in p.errors.most_common(3))
        who = f"{p.customers} clients" if p.name == "parse ceiling" else str(p.customers)
        if p.think:
            who += f" ({p.think[0]:.0f}-{p.think[1]:.0f} s think)"
        lines.append(
            f"| {p.name} | {who} | {p.seconds:.0f} | {len(p.turns)} | {p.per_second:.1f} "
            f"| {p.percentile(0.5):.0f} | {p.percentile(0.95):.0f} | {p.percentile(0.99):.0f} "
            f"| {errors}{f' ({causes})' if causes else ''} |"
        )
    kinds = [k for k in TURN_KINDS if any(t.kind == k for p in phases for t in p.turns)]
    lines += [
        "",
        "Turn latency by kind of turn, p50 / p95 ms (`problem`: the report that starts the "
        "ticket form; `order`, `contact`: answers to its questions, the last one creates "
        "the ticket; `faq`: an FAQ question; `status`: a ticket's status):",
        "",
        "| phase | " + " | ".join(kinds) + " |",
        "| --- | " + " | ".join("---:" for _ in kinds) + " |",
    ]
    for p in phases:
        if p.name == "parse ceiling":
            continue
        cells = []
        for k in kinds:
            ms = sorted(t.ms for t in p.turns if t.kind == k and t.error is None)
            cells.append(
                f"{ms[len(ms) // 2]:.0f} / {ms[min(len(ms) - 1, int(0.95 * len(ms)))]:.0f}"
                if ms
                else "-"
            )
        lines.append(f"| {p.name} | " + " | ".join(cells) + " |")
    names = sorted({name for p in phases for name in p.cpu}, key=["rasa", "actions", "api"].index)
    lines += [
        "",
        "CPU per process: cores used on average over the phase, CPU milliseconds per turn "
        "(per parse for the ceiling), peak resident memory; `other` is the rest of the "
        "machine (other work on the shared cores), `client` this load generator.",
        "",
        "| phase | "
        + " | ".join(f"{n} cores | {n} ms/turn | {n} MB" for n in names)
        + " | client cores | other cores |",
        "| --- | " + " | ".join("---: | ---: | ---:" for _ in names) + " | ---: | ---: |",
    ]
    for p in phases:
        cells = []
        for n in names:
            used = p.cpu.get(n, 0.0)
            per_turn = used / len(p.turns) * 1000 if p.turns else 0.0
            cells.append(f"{used / p.seconds:.2f} | {per_turn:.0f} | {p.rss_mb.get(n, 0):.0f}")
        other = max(0.0, p.machine_busy - sum(p.cpu.values()) - p.client_cpu)
        lines.append(
            f"| {p.name} | "
            + " | ".join(cells)
            + f" | {p.client_cpu / p.seconds:.2f} | {other / p.seconds:.2f} |"
        )
    profiled = [p for p in phases if p.profile]
    if profiled:
        lines += [
            "",
            "Rasa's main thread by stage (py-spy, 50 samples/s over the phase; share of the "
            "samples in which it was running or waiting for a core):",
            "",
            "| stage | " + " | ".join(p.name for p in profiled) + " |",
            "| --- | " + " | ".join("---:" for _ in profiled) + " |",
        ]
        for stage in [name for name, _ in STAGES] + [OTHER_STAGE]:
            shares = [p.profile.get(stage, 0.0) for p in profiled]
            if any(shares):
                lines.append(f"| {stage} | " + " | ".join(f"{v:.1%}" for v in shares) + " |")
    return "\n".join(lines) + "\n"


INTRO = f"""{SECTION}

`make bench-bot` (`scripts/bench_bot.py`): simulated customers through the REST channel
of a running desk, Chinese and English, beside the bare `/model/parse` ceiling measured
in the same run; see the script's docstring for the load. Each run is appended below;
the machine is shared, so compare runs only with their ceiling and the `other cores`
column beside them.
"""


def append_report(block: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Append a run at the end of the section (created at the end of the file if missing)."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION not in current:
        current = current.rstrip() + "\n\n" + INTRO
    start = current.index(SECTION)
    following = re.search(r"\n## ", current[start + len(SECTION) :])
    end = start + len(SECTION) + following.start() if following else len(current)
    updated = current[:end].rstrip() + "\n\n" + block + current[end:]
    path.write_text(updated if updated.endswith("\n") else updated + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-url", help="a running desk's Rasa; without it, start one")
    parser.add_argument("--api-port", type=int, default=18100)
    parser.add_argument("--rasa-port", type=int, default=15105)
    parser.add_argument("--actions-port", type=int, default=15155)
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run" / "bench-bot")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "desk.tar.gz")
    parser.add_argument("--startup-timeout", type=float, default=420)
    parser.add_argument("--customers", type=int, default=100, help="human-pace customers (0: skip)")
    parser.add_argument("--think", type=float, nargs=2, default=[3.0, 8.0], metavar=("MIN", "MAX"))
    parser.add_argument("--human-seconds", type=float, default=120)
    parser.add_argument(
        "--stress",
        type=lambda s: [int(n) for n in s.split(",") if n],
        default=[1, 20],
        help="back-to-back customer counts, e.g. 1,20 ('' skips)",
    )
    parser.add_argument("--stress-seconds", type=float, default=45)
    parser.add_argument("--ceiling-seconds", type=float, default=20)
    parser.add_argument("--ceiling-clients", type=int, default=4)
    parser.add_argument("--ticket-share", type=float, default=0.3)
    parser.add_argument("--timeout", type=float, default=30, help="seconds per turn")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--label", default="", help="what this run measures (in BENCHMARKS.md)")
    parser.add_argument(
        "--profile",
        type=Path,
        help="record Rasa with py-spy ($PY_SPY or py-spy on PATH) during each phase into DIR",
    )
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.customers > 500 or any(n > 200 for n in args.stress):
        parser.error("at most 500 human-pace and 200 back-to-back customers")
    if args.human_seconds > 900 or args.stress_seconds > 900:
        parser.error("at most 900 s per phase")

    load = os.getloadavg()[0]
    started_desk: StartedDesk | None = None
    if args.rasa_url:
        rasa_url = args.rasa_url
        rasa_port = int(rasa_url.rsplit(":", 1)[1].split("/")[0])
        jwt_secret = os.environ.get("DESK_RASA_JWT_SECRET")
        storage = "storage as the running desk has it"
    else:
        if not args.model.exists():
            say(f"no trained model at {args.model}: run `make train` first")
            return 2
        started_desk = StartedDesk(args)
        rasa_url, rasa_port = f"http://127.0.0.1:{args.rasa_port}", args.rasa_port
        db = os.environ.get("DATABASE_URL", "")
        storage = ("PostgreSQL" if db.startswith("postgres") else "SQLite") + (
            " + Redis tracker and lock stores" if os.environ.get("REDIS_URL") else ", no Redis"
        )
    if not rasa_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        parser.error("load goes to loopback only")
    processes = Processes(
        {"rasa": rasa_port, "actions": args.actions_port, "api": args.api_port}, args.profile
    )
    try:
        if started_desk is not None:
            started_desk.start()
            jwt_secret = os.environ.get("DESK_RASA_JWT_SECRET") or read_env_file(
                args.run_dir / "desk.env"
            ).get("DESK_RASA_JWT_SECRET")
        processes.find()
        phases = asyncio.run(measure(args, rasa_url, jwt_secret, processes))
    finally:
        if started_desk is not None:
            started_desk.stop()
    shown = list(argv if argv is not None else sys.argv[1:])
    command = " ".join(["scripts/bench_bot.py", *shown])
    block = report(args, phases, storage, load, command)
    print("\n" + block, flush=True)
    if not args.no_write:
        append_report(block)
        say("appended to BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
