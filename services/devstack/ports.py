"""Ports for the servers a stack starts."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: The lowest port :func:`free_port` hands out.
LOWEST_PORT = 10_000
#: Ports this process has handed out: the server meant for one may not listen on it yet,
#: so the probe alone could hand it out twice (a stack once got one port for two services).
_handed_out: set[int] = set()


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux's default when it
    does not say)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return 32768, 60999
    return int(low), int(high)


def free_port() -> int:
    """A TCP port nobody listens on right now, below the kernel's ephemeral range: a port
    the kernel picked from that range could go to another process's outgoing connection
    (a service's first connection to PostgreSQL or Kafka) before the server it was meant
    for binds it, and that server then fails to start. Never one this process handed out
    before."""
    below = _ephemeral_ports()[0]
    for _ in range(200):
        port = random.randrange(LOWEST_PORT, below)  # noqa: S311 - not a secret
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port between {LOWEST_PORT} and {below}")
