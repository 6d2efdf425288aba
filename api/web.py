"""Public web assets: the chat widget, the agent console, the supervisor dashboard.

They are served without authentication on purpose: a company's website loads the
widget from here with one script tag, and the console and dashboard are plain static
pages whose every piece of data comes from authenticated ``/api/v1`` calls. Only
``/api/v1`` needs a token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"


def mount_web_assets(app: FastAPI) -> None:
    """Serve /widget, /console, /dashboard, /staff (their shared code) and /vendor."""
    app.mount("/widget", StaticFiles(directory=STATIC_DIR / "widget"), name="widget")
    app.mount("/console", StaticFiles(directory=STATIC_DIR / "console", html=True), name="console")
    app.mount(
        "/dashboard", StaticFiles(directory=STATIC_DIR / "dashboard", html=True), name="dashboard"
    )
    app.mount("/staff", StaticFiles(directory=STATIC_DIR / "staff"), name="staff")
    app.mount("/vendor", StaticFiles(directory=STATIC_DIR / "vendor"), name="vendor")
