"""How the desk's launchers give their processes ports (scripts/desk.py, desk_scaled.py).

The launcher binds every port itself (0: the kernel picks) and hands each process its
listening socket; nothing is chosen, released and bound again later.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from scripts.desk import (
    PortTaken,
    Service,
    desk_services,
    listening_socket,
    port_of,
    write_ports,
)

# A child that answers one HTTP request on the socket it inherited, by descriptor number.
ANSWER_ONCE = (
    "import socket, sys\n"
    "listener = socket.socket(fileno=int(sys.argv[1]))\n"
    "connection, _ = listener.accept()\n"
    "connection.recv(1024)\n"
    "connection.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok')\n"
    "connection.close()\n"
)


def test_port_zero_is_a_port_the_kernel_picked_and_nobody_else_can_bind() -> None:
    with listening_socket(0) as sock:
        port = port_of(sock)
        assert port > 0
        with socket.socket() as other:
            # Even with SO_REUSEADDR: the port is listened on, not merely reserved.
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError):
                other.bind(("127.0.0.1", port))


def test_a_taken_port_is_a_clear_error() -> None:
    with listening_socket(0) as taken, pytest.raises(PortTaken, match=str(port_of(taken))):
        listening_socket(port_of(taken))


def test_a_service_serves_the_socket_it_inherits_and_the_launcher_lets_go_of_it(
    tmp_path: Path,
) -> None:
    sock = listening_socket(0)
    port = port_of(sock)
    service = Service(
        "answer",
        [sys.executable, "-c", ANSWER_ONCE, str(sock.fileno())],
        f"http://127.0.0.1:{port}/",
        sockets=(sock,),
    )
    service.start({}, tmp_path)
    try:
        # The launcher's copy is closed: when the service ends, the port closes with it.
        assert sock.fileno() == -1
        with urllib.request.urlopen(service.health_url, timeout=30) as response:
            assert response.read() == b"ok"
        assert service.process is not None
        assert service.process.wait(timeout=30) == 0
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # refused: nothing holds the port any more
    finally:
        service.stop()


def test_each_process_is_started_on_its_own_socket(tmp_path: Path) -> None:
    api, actions, rasa = (listening_socket(0) for _ in range(3))
    try:
        services = desk_services(
            model="m.tar.gz", endpoints=tmp_path / "e.yml", api=api, actions=actions, rasa=rasa
        )
        for service, sock in zip(services, (api, actions, rasa), strict=True):
            assert service.sockets == (sock,)
            assert service.command[-2:] == ["--fd", str(sock.fileno())]
            assert f":{port_of(sock)}/" in service.health_url
            assert "--port" not in service.command
    finally:
        for sock in (api, actions, rasa):
            sock.close()


def test_the_ports_are_written_where_a_starter_reads_them(tmp_path: Path) -> None:
    path = write_ports(tmp_path, {"api": 41001, "rasa": 41002, "actions": 41003})
    assert path == tmp_path / "ports.json"
    assert json.loads(path.read_text()) == {"api": 41001, "rasa": 41002, "actions": 41003}
