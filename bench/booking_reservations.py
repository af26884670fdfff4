"""Reservations per second and latency of the booking service at 32 concurrent clients,
next to the same machine's raw PostgreSQL insert rate.

    .venv/bin/python -m bench.booking_reservations [--reservations 4000] [--clients 32]
        [--workers 2]

Uses DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else starts the embedded
PostgreSQL and Tansu like `make dev`. The service runs as it does in production: uvicorn
(uvloop, httptools) with ``--workers`` processes, each with its relay, consumers and
sweeper, its real database, constraints and outbox. The load generator is this process,
an aiohttp client over loopback HTTP; each reservation is one POST /v1/appointments that
succeeds (distinct free slots), so the figure is the cost of a booking: checks, exclusion
constraints, event in the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import httpx
from sqlalchemy.engine import make_url

from booking.app import service
from devstack.infra import free_port, kafka_broker, postgres_server
from shared.auth import Role, issue_staff_token
from shared.db import create_database_if_missing, drop_database
from shared.migrate import upgrade
from shared.settings import DEV_JWT_SECRET

PARIS = ZoneInfo("Europe/Paris")
PRACTITIONERS = 32
SLOT = timedelta(minutes=45)  # a 30-minute session plus its 15 minutes of buffers
PER_DAY = 16  # 08:00 to 20:00


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def seed(dsn: str, count: int, first_day: date) -> list[dict[str, Any]]:
    """A location, practitioners and rooms, and one open booking request per reservation."""
    connection = await asyncpg.connect(dsn)
    try:
        location = uuid.uuid4()
        await connection.execute(
            "INSERT INTO location (id, name, time_zone) VALUES ($1, 'Bench', 'Europe/Paris')",
            location,
        )
        practitioners = [uuid.uuid4() for _ in range(PRACTITIONERS)]
        rooms = [uuid.uuid4() for _ in range(PRACTITIONERS)]
        await connection.executemany(
            "INSERT INTO practitioner (id, location_id, full_name, indications) "
            "VALUES ($1, $2, 'Dr Bench', ARRAY['cellulite'])",
            [(p, location) for p in practitioners],
        )
        await connection.executemany(
            "INSERT INTO room (id, location_id, name) VALUES ($1, $2, 'Room')",
            [(r, location) for r in rooms],
        )
        bookings, rows = [], []
        for i in range(count):
            lane, turn = i % PRACTITIONERS, i // PRACTITIONERS
            day = first_day + timedelta(days=turn // PER_DAY)
            starts = datetime.combine(day, datetime.min.time(), PARIS) + timedelta(hours=8)
            request = uuid.uuid4()
            rows.append((request, uuid.uuid4(), uuid.uuid4(), day))
            bookings.append(
                {
                    "booking_request_id": str(request),
                    "practitioner_id": str(practitioners[lane]),
                    "room_id": str(rooms[lane]),
                    "starts_at": (starts + SLOT * (turn % PER_DAY)).isoformat(),
                }
            )
        await connection.executemany(
            "INSERT INTO booking_request (id, plan_id, patient_id, session_number, total_sessions,"
            " target_date, earliest_date, latest_date, indication, treatment, session_minutes,"
            " numbing_cream_advised, time_zone, status, created_at) VALUES"
            " ($1, $2, $3, 1, 1, $4, $4, $4, 'cellulite', 'Bench', 30, false, 'Europe/Paris',"
            " 'open', now())",
            rows,
        )
        return bookings
    finally:
        await connection.close()


async def reserve_all(
    client: aiohttp.ClientSession, url: str, bookings: list[dict[str, Any]], clients: int
) -> tuple[float, list[float], int]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for booking in bookings:
        queue.put_nowait(booking)
    latencies: list[float] = []
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with client.post(url, json=body) as response:
                await response.read()
                status = response.status
            latencies.append(time.perf_counter() - started)
            if status != 201:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, latencies, failures


@contextlib.contextmanager
def serving(url: str, servers: str, workers: int, pool_size: int, log: Path) -> Iterator[str]:
    """The booking service under uvicorn in processes of its own; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "BOOKING_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "BOOKING_DB_POOL_SIZE": str(pool_size),
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable, "-m", "uvicorn", "booking.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"booking did not start; see {log}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def raw_inserts(dsn: str, count: int, clients: int) -> float:
    """Single-row INSERT transactions of a row like an appointment's, ``clients`` at once."""
    pool = await asyncpg.create_pool(dsn, min_size=clients, max_size=clients)
    assert pool is not None
    try:
        await pool.execute(
            "CREATE TABLE raw_insert (id uuid PRIMARY KEY, a uuid, b uuid, c uuid, "
            "starts_at timestamptz, ends_at timestamptz, status text, version int)"
        )
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                now = datetime.now(UTC)
                await pool.execute(
                    "INSERT INTO raw_insert VALUES ($1, $2, $3, $4, $5, $6, 'booked', 1)",
                    uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), now, now,
                )  # fmt: skip

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return count / (time.perf_counter() - started)
    finally:
        await pool.close()


async def load(
    base: str, bookings: list[dict[str, Any]], clients: int
) -> tuple[float, list[float], int]:
    token = issue_staff_token(
        DEV_JWT_SECRET, subject="bench", role=Role.STAFF, now=datetime.now(UTC)
    )
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as client:
        await reserve_all(client, "/v1/appointments", bookings[: clients * 4], clients)  # warm up
        return await reserve_all(client, "/v1/appointments", bookings[clients * 4 :], clients)


def run(
    server_url: str, servers: str, count: int, clients: int, workers: int, scratch: Path
) -> None:
    url = (
        make_url(server_url)
        .set(drivername="postgresql+asyncpg", database=f"bench_booking_{uuid.uuid4().hex[:6]}")
        .render_as_string(hide_password=False)
    )
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(create_database_if_missing(url))
    try:
        asyncio.run(upgrade(service().spec.migrations, url))
        first_day = datetime.now(PARIS).date() + timedelta(days=2)
        bookings = asyncio.run(seed(dsn, count, first_day=first_day))
        pool_size = max(4, clients // workers)
        with serving(url, servers, workers, pool_size, scratch / "booking.log") as base:
            elapsed, latencies, failures = asyncio.run(load(base, bookings, clients))
        done = len(latencies)
        raw = asyncio.run(raw_inserts(dsn, count, clients))
        print(f"booking under uvicorn, {workers} worker process(es); load from another process")
        print(f"reservations: {done} by {clients} clients in {elapsed:.2f} s, {failures} failed")
        print(f"  {done / elapsed:.0f} reservations/s")
        print(f"  p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms")  # fmt: skip
        print(f"raw PostgreSQL single-row inserts, {clients} connections: {raw:.0f} rows/s")
    finally:
        asyncio.run(drop_database(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reservations", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        postgres_server(Path(scratch) / "postgres") as server_url,
        kafka_broker(Path(scratch) / "broker.log") as servers,
    ):
        run(server_url, servers, args.reservations, args.clients, args.workers, Path(scratch))


if __name__ == "__main__":
    main()
