"""Serving the action server's Sanic app on a free loopback port inside a test."""

from __future__ import annotations

import socket
from typing import Any

from sanic import Sanic


async def start(app: Sanic) -> tuple[Any, int]:
    """The started server and its port. Sanic reads ``port=0`` as 8000, so it gets a
    socket already bound to a free port instead (the port is the kernel's, not guessed)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=listener, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    return server, int(server.server.sockets[0].getsockname()[1])
