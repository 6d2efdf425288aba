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

# Content-Security-Policy of the desk's own pages: scripts and styles only from the
# desk's files (no inline script anywhere), data only from the desk's API, never framed.
_STAFF_PAGE = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}
PAGE_POLICIES: dict[str, dict[str, str]] = {
    "/console/": _STAFF_PAGE,
    "/answers/": _STAFF_PAGE,
    "/admin/": _STAFF_PAGE,
    "/staff/": _STAFF_PAGE,
    "/imports/": _STAFF_PAGE,
    # ECharts writes its tooltips as HTML strings with style attributes; attributes only,
    # never a <style> element or a script.
    "/dashboard/": {**_STAFF_PAGE, "style-src-attr": "'unsafe-inline'"},
    # The demo page points the widget at whatever Rasa its ?rasa= names (http or https,
    # long-polling or websocket), and shows the images the bot sends.
    "/widget/": {
        **_STAFF_PAGE,
        "connect-src": "'self' http: https: ws: wss:",
        "img-src": "'self' data: http: https:",
    },
}


def content_security_policy(path: str) -> str | None:
    """The CSP header of the page at this path; None for what is not one of our pages."""
    for prefix, policy in PAGE_POLICIES.items():
        if path.startswith(prefix):
            return "; ".join(f"{name} {value}" for name, value in policy.items())
    return None


def mount_web_assets(app: FastAPI) -> None:
    """Serve the pages (widget, console, dashboard, imports, answers, admin), /staff, /vendor."""
    app.mount("/widget", StaticFiles(directory=STATIC_DIR / "widget"), name="widget")
    app.mount("/console", StaticFiles(directory=STATIC_DIR / "console", html=True), name="console")
    app.mount(
        "/dashboard", StaticFiles(directory=STATIC_DIR / "dashboard", html=True), name="dashboard"
    )
    app.mount("/imports", StaticFiles(directory=STATIC_DIR / "imports", html=True), name="imports")
    app.mount("/answers", StaticFiles(directory=STATIC_DIR / "answers", html=True), name="answers")
    app.mount("/admin", StaticFiles(directory=STATIC_DIR / "admin", html=True), name="admin")
    app.mount("/staff", StaticFiles(directory=STATIC_DIR / "staff"), name="staff")
    app.mount("/vendor", StaticFiles(directory=STATIC_DIR / "vendor"), name="vendor")
