"""The load side of the booking benchmark: a lean HTTP/1.1 keep-alive client on raw
asyncio streams (so the generator costs little of the two cores it shares with the
service), and the CPU each process spent during a run."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Connection:
    """One keep-alive HTTP/1.1 connection: GET, or POST a JSON body; read the answer."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str]) -> None:
        self._host, self._port = host, port
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: Any) -> tuple[int, bytes]:
        return await self.request("POST", path, json.dumps(body).encode())

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request("GET", path)

    async def request(self, method: str, path: str, payload: bytes = b"") -> tuple[int, bytes]:
        """Send one request (with ``payload`` as its JSON body unless a GET), read its answer."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        content = f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._head}"
            f"{content if method != 'GET' else ''}\r\n".encode()
            + payload
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@dataclass
class Run:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: dict[int, int] = field(default_factory=dict)


async def reserve_all(
    connections: list[Connection], path: str, bookings: Iterable[dict[str, Any]]
) -> Run:
    """Each connection is one client posting the next booking as soon as it has an answer."""
    queue = list(bookings)
    queue.reverse()
    run = Run()

    async def client(connection: Connection) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            status, _ = await connection.post(path, body)
            run.latencies.append(time.perf_counter() - started)
            if status != 201:
                run.failures[status] = run.failures.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    run.elapsed = time.perf_counter() - started
    return run


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # the fields after "(name)"


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes so far (gone ones count as 0); Linux."""
    ticks = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
