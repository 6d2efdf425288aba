"""Serve the ticketing API with uvicorn on a listening socket this process inherited.

    python scripts/serve_api.py --fd 3        # what scripts/desk.py starts

``scripts/desk.py`` binds the API's port itself (0: any free port) and passes the socket
by descriptor number, so the port is known before anything starts and never released
between being chosen and being served. uvicorn's own ``--fd`` option would do the same,
but it wraps the descriptor as a Unix-domain socket, and asyncio then leaves Nagle's
algorithm on for every accepted TCP connection; here the socket keeps its real family.
Same settings as ``uvicorn --factory api.app:create_app --no-access-log
--no-proxy-headers`` (the app reads X-Forwarded-For from DESK_TRUSTED_PROXIES only).
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    """Parse --fd and serve the API on that socket until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    args = parser.parse_args(argv)
    # The family, type and protocol are read from the descriptor (AF_INET, a TCP socket).
    listener = socket.socket(fileno=args.fd)
    sys.path.insert(0, str(ROOT))
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        access_log=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
