"""The balancer configuration of the scaled desk (scripts/desk_scaled.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import desk_scaled


def site() -> str:
    return desk_scaled.nginx_site(api_port=8000, rasa_port=5005, actions_port=5055, instances=2)


def upstream_block(text: str, name: str) -> str:
    found = re.search(rf"upstream {name} \{{(.*?)\}}", text, re.S)
    assert found, name
    return found.group(1)


def test_every_process_has_two_instances_behind_the_balancer() -> None:
    text = site()
    # Passive health checks: an instance that failed is left out for 5 s.
    server = r"server (127\.0\.0\.1:\d+) max_fails=1 fail_timeout=5s;"
    assert re.findall(server, upstream_block(text, "desk_api")) == [
        "127.0.0.1:8001",
        "127.0.0.1:8002",
    ]
    assert "127.0.0.1:5056" in upstream_block(text, "desk_actions")
    assert "127.0.0.1:5007" in upstream_block(text, "desk_rasa")


def test_socketio_is_sticky_and_the_rest_is_not() -> None:
    text = site()
    assert "ip_hash" in upstream_block(text, "desk_rasa_sticky")
    assert "ip_hash" not in upstream_block(text, "desk_rasa")
    socketio = re.search(r"location /socket\.io/ \{(.*?)\}", text, re.S)
    assert socketio and "proxy_pass http://desk_rasa_sticky;" in socketio.group(1)


def test_socketio_passes_websocket_upgrades() -> None:
    socketio = re.search(r"location /socket\.io/ \{(.*?)\}", site(), re.S)
    assert socketio
    assert "proxy_set_header Upgrade $http_upgrade;" in socketio.group(1)
    assert "proxy_set_header Connection $desk_connection_upgrade;" in socketio.group(1)


def test_a_request_an_instance_received_is_never_sent_to_another() -> None:
    text = site()
    # Only requests that never reached an instance go to the next one; a POST that did
    # (a customer's message) is not replayed by nginx: the client repeats it with its id.
    assert "non_idempotent" not in text
    assert text.count("proxy_next_upstream error timeout;") == 4


def test_the_balancer_listens_on_loopback_only() -> None:
    assert re.findall(r"listen ([^;]+);", site()) == [
        "127.0.0.1:8000",
        "127.0.0.1:5005",
        "127.0.0.1:5055",
    ]


def test_the_committed_configuration_is_the_generated_one() -> None:
    assert desk_scaled.NGINX_CONF.read_text() == site()


def test_bodies_stay_in_memory() -> None:
    # Run as root, nginx's workers (nobody) may not enter the run directory: a body
    # spilled to a temporary file failed with a 500 (a tracker sent to the action server).
    servers = re.findall(r"server \{(.*?)\n\}", site(), re.S)
    assert len(servers) == 3
    for server in servers:
        limit = re.search(r"client_max_body_size (\w+);", server)
        assert limit and f"client_body_buffer_size {limit.group(1)};" in server
        assert "proxy_max_temp_file_size 0;" in server


def test_instances_on_ports_the_kernel_picked_are_the_upstreams() -> None:
    backends = {"api": [41011, 41022], "rasa": [41033, 41044], "actions": [41055, 41066]}
    text = desk_scaled.nginx_site(41000, 41001, 41002, 2, backends)
    server = r"server 127\.0\.0\.1:(\d+) max_fails"
    for upstream, kind in [
        ("desk_api", "api"),
        ("desk_rasa", "rasa"),
        ("desk_rasa_sticky", "rasa"),
        ("desk_actions", "actions"),
    ]:
        found = [int(port) for port in re.findall(server, upstream_block(text, upstream))]
        assert found == backends[kind], upstream
    assert re.findall(r"listen 127\.0\.0\.1:(\d+);", text) == ["41000", "41001", "41002"]
