"""Who may read a process's ``/metrics``: a scraper address or a scrape token. Stdlib only.

Used by the API (with an admin's staff token as well) and by the action server and Rasa
(bot environment), which have no staff accounts: they take ``DESK_METRICS_TOKEN`` as a
Bearer token, or a client address inside ``DESK_METRICS_ALLOW`` (IP addresses or CIDR,
comma-separated). With neither configured nobody reads them.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MIN_TOKEN_LENGTH = 16


def parse_networks(value: str) -> tuple[Network, ...]:
    """``10.0.0.5, 10.1.0.0/16`` -> networks; a ValueError naming DESK_METRICS_ALLOW otherwise."""
    networks: list[Network] = []
    for item in value.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as error:
            message = f"DESK_METRICS_ALLOW: {item.strip()!r} is not an IP address or CIDR"
            raise ValueError(message) from error
    return tuple(networks)


def address_allowed(host: str | None, networks: Iterable[Network]) -> bool:
    """Whether a client address (as the server saw it) lies in one of the networks."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


@dataclass(frozen=True)
class ScrapeAccess:
    """The scrapers' addresses and the scrape token of a bot-side process."""

    networks: tuple[Network, ...] = ()
    token: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ScrapeAccess:
        """From DESK_METRICS_ALLOW and DESK_METRICS_TOKEN; a ValueError when either is bad."""
        token = environ.get("DESK_METRICS_TOKEN", "").strip()
        if token and len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"DESK_METRICS_TOKEN needs at least {MIN_TOKEN_LENGTH} characters")
        return cls(parse_networks(environ.get("DESK_METRICS_ALLOW", "")), token)

    def status(self, host: str | None, authorization: str | None) -> int:
        """200 when this caller may read, else 401 (no or a wrong token) or 403 (no way in)."""
        if address_allowed(host, self.networks):
            return 200
        if not self.token:
            return 403
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return 401
        return 200 if hmac.compare_digest(given.strip().encode(), self.token.encode()) else 401
