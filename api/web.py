"""Public web assets: the chat widget, its demo page and vendored browser libraries.

They are served without authentication on purpose: a company's website loads the
widget from here with one script tag. Only ``/api/v1`` needs a token.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"


def mount_web_assets(app: FastAPI) -> None:
    """Serve ``/widget`` (the chat widget) and ``/vendor`` (third-party browser files)."""
    app.mount("/widget", StaticFiles(directory=STATIC_DIR / "widget"), name="widget")
    app.mount("/vendor", StaticFiles(directory=STATIC_DIR / "vendor"), name="vendor")
