"""Test support for browser tests: Chromium's location and flags, page logs, a static site."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage

from tests.support_desk import ROOT

CHROMIUM = Path(os.environ.get("DESK_CHROMIUM", "/usr/bin/chromium"))
# Playwright drives Debian's Chromium: no sandbox as root, nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / ".run" / "screenshots"
STATIC_DIR = ROOT / "api" / "static"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class PageLog:
    """What a page said on its console and which errors it threw."""

    console: list[ConsoleMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def messages(self, kind: str) -> list[str]:
        """Console texts of one kind: "error", "warning", "log"."""
        return [message.text for message in self.console if message.type == kind]


class StaticSite:
    """api/static served over HTTP, plus pages a test adds under /test/."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(STATIC_DIR), **kwargs)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in pages:
                    body = pages[path].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_page(self, name: str, html: str) -> str:
        """Serve html at /test/<name>; returns its URL."""
        self.pages[f"/test/{name}"] = html
        return f"{self.url}/test/{name}"
