"""What sealing personal data in ticket text costs: a message written, a thread read.

``python scripts/bench_ticket_text.py`` (the service env; SQLite in a temp dir, or
``DATABASE_URL`` for PostgreSQL — it creates and drops its own schema there). Prints the
per-call costs of detection and sealing, and over HTTP (in process) the median time of
posting a message and of reading a 50-message thread, with and without personal data in
every message, as an agent (masked copy) and as a supervisor (decrypt and re-mask).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from tests.support_service.database import create_schema, empty_database
from tests.support_service.factories import (
    SERVICE_TOKEN,
    STAFF_PASSWORD,
    make_settings,
    make_staff,
    ticket_payload,
)
from ticketing.db import Database
from ticketing.privacy import Vault
from ticketing.privacy_text import mask_text, seal, show

PERSONAL = "我的电话 13812345678，邮箱 zhang.san@example.com，麻烦尽快回电"
PLAIN = "路由器重启以后还是连不上，指示灯一直是红色的，麻烦尽快处理"
BOT = {"X-Desk-Channel": "rest", "X-Desk-Sender": "sender-123"}


def per_call(label: str, fn: Callable[[], object], n: int = 2000) -> None:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    print(f"{label:<52} {(time.perf_counter() - started) / n * 1e6:8.1f} µs")


def main() -> None:
    vault = Vault({"b1": os.urandom(32)}, os.urandom(32))
    sealed = seal(PERSONAL, vault=vault)
    per_call("detect + mask, no personal data", lambda: mask_text(PLAIN))
    per_call("detect + mask, phone and e-mail", lambda: mask_text(PERSONAL))
    per_call("seal (detect, mask, AES-GCM), phone and e-mail", lambda: seal(PERSONAL, vault=vault))
    per_call(
        "show to a supervisor (decrypt, detect, re-mask)",
        lambda: show(sealed.masked, sealed.token, clear=frozenset({"phone", "email"}), vault=vault),
    )
    with tempfile.TemporaryDirectory() as tmp, empty_database(Path(tmp), label="bench") as url:
        settings = make_settings(url, sla_scheduler=False, relay=False)
        database = Database.from_settings(settings)
        create_schema(database.engine)
        with database.sessions() as session:
            make_staff(session, "wang.fang", queues=["technical_support"], presence="offline")
            make_staff(session, "zhao.min", role="supervisor", presence="offline")
        from api.app import create_app

        with TestClient(create_app(settings)) as web:
            bot = {"Authorization": f"Bearer {SERVICE_TOKEN}", **BOT}

            def login(user: str) -> dict[str, str]:
                token = web.post(
                    "/api/v1/auth/login", json={"username": user, "password": STAFF_PASSWORD}
                ).json()["access_token"]
                return {"Authorization": f"Bearer {token}"}

            agent, boss = login("wang.fang"), login("zhao.min")
            print(f"HTTP on {database.engine.dialect.name}, median ms (interleaved runs):")
            paths = {}
            for label, text in (("no personal data", PLAIN), ("phone + e-mail", PERSONAL)):
                number = web.post(
                    "/api/v1/tickets", json=ticket_payload(description=text), headers=bot
                ).json()["number"]
                paths[label] = (f"/api/v1/tickets/{number}", text)
            timings: dict[tuple[str, str], list[float]] = {}

            def timed(
                key: tuple[str, str], fn: Callable[..., object], *args: object, **kw: object
            ) -> None:
                started = time.perf_counter()
                fn(*args, **kw)
                timings.setdefault(key, []).append((time.perf_counter() - started) * 1000)

            # 49 posts make a 50-message thread; each read returns the whole thread.
            for _ in range(49):
                for label, (path, text) in paths.items():
                    timed(
                        (label, "post"),
                        web.post,
                        f"{path}/messages",
                        json={"body": text},
                        headers=bot,
                    )
            for _ in range(40):
                for label, (path, _text) in paths.items():
                    timed((label, "agent"), web.get, path, headers=agent)
                    timed((label, "boss"), web.get, path, headers=boss)
            for label in paths:
                post, read_agent, read_boss = (
                    statistics.median(timings[(label, kind)][5:])
                    for kind in ("post", "agent", "boss")
                )
                print(
                    f"  {label:<18} post a message {post:6.2f}   read 50-message thread: "
                    f"agent {read_agent:6.2f}, supervisor {read_boss:6.2f}"
                )
        database.dispose()


if __name__ == "__main__":
    main()
