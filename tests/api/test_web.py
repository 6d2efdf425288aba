"""Public web assets: the widget, its demo page and vendored libraries need no token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.web import STATIC_DIR


class TestWebAssets:
    @pytest.mark.parametrize(
        ("path", "content_type"),
        [
            ("/widget/desk-widget.js", "text/javascript"),
            ("/widget/desk-widget.css", "text/css"),
            ("/widget/demo.html", "text/html"),
            ("/widget/demo.js", "text/javascript"),
            ("/widget/demo.css", "text/css"),
            ("/vendor/socket.io.min.js", "text/javascript"),
            ("/vendor/echarts.common.min.js", "text/javascript"),
            ("/console/index.html", "text/html"),
            ("/console/console.js", "text/javascript"),
            ("/console/canned.json", "application/json"),
            ("/dashboard/index.html", "text/html"),
            ("/dashboard/dashboard.js", "text/javascript"),
            ("/staff/desk.js", "text/javascript"),
            ("/staff/i18n.js", "text/javascript"),
            ("/staff/staff.css", "text/css"),
        ],
    )
    def test_served_without_a_token(
        self, anonymous_client: TestClient, path: str, content_type: str
    ) -> None:
        response = anonymous_client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(content_type)
        assert response.content == (STATIC_DIR / path.lstrip("/")).read_bytes()

    def test_the_api_still_needs_a_token(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get("/api/v1/tickets/SD-100001")
        assert response.status_code == 401

    @pytest.mark.parametrize(
        "path",
        ["/widget/nothing.js", "/widget/../app.py", "/widget/%2e%2e/app.py", "/vendor/../web.py"],
    )
    def test_only_files_of_the_asset_folders(self, anonymous_client: TestClient, path: str) -> None:
        response = anonymous_client.get(path)
        assert response.status_code == 404
        assert b"def " not in response.content

    def test_vendored_client_names_its_version_and_licence(self) -> None:
        vendored = (STATIC_DIR / "vendor" / "socket.io.min.js").read_text()
        notes = (STATIC_DIR / "vendor" / "README.md").read_text()
        assert "Socket.IO v4.8.4" in vendored[:200]
        assert "| 4.8.4 |" in notes
        assert "MIT License" in (STATIC_DIR / "vendor" / "socket.io-client.LICENSE").read_text()
        makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
        assert re.search(r"^SOCKETIO_VERSION\s*:=\s*4\.8\.4$", makefile, re.MULTILINE)


class TestStaffPages:
    @pytest.mark.parametrize("page", ["console", "dashboard"])
    def test_reached_at_their_short_address(self, anonymous_client: TestClient, page: str) -> None:
        response = anonymous_client.get(f"/{page}/")
        assert response.status_code == 200
        assert response.text == (STATIC_DIR / page / "index.html").read_text()
        # The page itself holds no data: everything comes from authenticated API calls.
        assert "SD-1" not in response.text

    def test_pages_never_put_markup_from_data_into_the_document(self) -> None:
        # Rendering goes through h() (textContent and properties); innerHTML is not used.
        for script in ("console/console.js", "dashboard/dashboard.js", "staff/desk.js"):
            source = (STATIC_DIR / script).read_text()
            assert "innerHTML" not in source and "insertAdjacentHTML" not in source, script

    def test_the_token_lives_in_session_storage_only(self) -> None:
        source = (STATIC_DIR / "staff" / "desk.js").read_text()
        assert "sessionStorage.setItem(TOKEN_KEY" in source
        assert "localStorage.setItem(TOKEN_KEY" not in source


PAGES = ["/console/", "/dashboard/", "/widget/demo.html"]


def directives(response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in policy.split(";")
    }


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", [*PAGES, "/console/index.html", "/dashboard/index.html"])
    def test_pages_run_only_their_own_scripts_and_are_never_framed(
        self, anonymous_client: TestClient, path: str
    ) -> None:
        response = anonymous_client.get(path)
        assert response.status_code == 200
        policy = directives(response)
        assert policy["script-src"] == "'self'"
        assert policy["default-src"] == "'none'"
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"

    @pytest.mark.parametrize(
        "page", ["console/index.html", "dashboard/index.html", "widget/demo.html"]
    )
    def test_pages_need_no_inline_script_or_style(self, page: str) -> None:
        # What the CSP would block: inline <script>, handlers in attributes, <style>.
        html = (STATIC_DIR / page).read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page
        assert not re.search(r"\son[a-z]+\s*=", html), page
        assert "<style" not in html and "style=" not in html, page
        assert "javascript:" not in html, page

    def test_the_staff_pages_talk_only_to_their_own_origin(
        self, anonymous_client: TestClient
    ) -> None:
        console = directives(anonymous_client.get("/console/"))
        assert (console["connect-src"], console["style-src"]) == ("'self'", "'self'")
        assert "style-src-attr" not in console
        dashboard = directives(anonymous_client.get("/dashboard/"))
        assert dashboard["connect-src"] == "'self'"
        # ECharts' tooltips: style attributes only, never a <style> element or a script.
        assert (dashboard["style-src"], dashboard["style-src-attr"]) == (
            "'self'",
            "'unsafe-inline'",
        )

    def test_the_demo_page_reaches_rasa_on_another_origin(
        self, anonymous_client: TestClient
    ) -> None:
        demo = directives(anonymous_client.get("/widget/demo.html?rasa=http://127.0.0.1:5005"))
        assert demo["connect-src"].split() == ["'self'", "http:", "https:", "ws:", "wss:"]
        assert demo["script-src"] == "'self'"

    def test_the_widget_script_stays_loadable_from_any_site(
        self, anonymous_client: TestClient
    ) -> None:
        for path in (
            "/widget/desk-widget.js",
            "/widget/desk-widget.css",
            "/vendor/socket.io.min.js",
        ):
            response = anonymous_client.get(path, headers={"Origin": "https://shop.example.com"})
            assert response.status_code == 200
            assert "cross-origin-resource-policy" not in response.headers
            assert "content-security-policy" not in response.headers
            assert response.headers["x-content-type-options"] == "nosniff"

    def test_api_answers_are_not_sniffed_and_not_pages(self, anonymous_client: TestClient) -> None:
        response = anonymous_client.get("/api/v1/tickets")
        assert response.status_code == 401
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in response.headers
