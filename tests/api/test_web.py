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
            ("/vendor/socket.io.min.js", "text/javascript"),
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
