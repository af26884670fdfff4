"""Reservations per second and latency of the booking service at 32 concurrent clients,
next to the same machine's raw PostgreSQL insert rate.

    .venv/bin/python -m bench.booking_reservations [--reservations 4000] [--clients 32]

Uses DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else starts the embedded
PostgreSQL and Tansu like `make dev`. The service runs in this process (its FastAPI app
over httpx's ASGI transport, no socket), with its real database, constraints and outbox;
each reservation is one POST /v1/appointments that succeeds (distinct free slots), so the
figure is the cost of a booking: checks, exclusion constraints, event in the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from booking.app import service
from booking.settings import BookingSettings
from devstack.infra import kafka_broker, postgres_server
from shared.auth import Role, issue_staff_token
from shared.clock import ManualClock
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
    client: httpx.AsyncClient, bookings: list[dict[str, Any]], clients: int
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
            response = await client.post("/v1/appointments", json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 201:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, latencies, failures


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


async def run(server_url: str, servers: str, count: int, clients: int) -> None:
    url = (
        make_url(server_url)
        .set(drivername="postgresql+asyncpg", database=f"bench_booking_{uuid.uuid4().hex[:6]}")
        .render_as_string(hide_password=False)
    )
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    await create_database_if_missing(url)
    try:
        migrations = service().spec.migrations
        await upgrade(migrations, url)
        now = datetime(2026, 1, 5, 6, tzinfo=UTC)
        bookings = await seed(dsn, count, first_day=now.date() + timedelta(days=1))
        settings = BookingSettings.model_validate(
            {"database_url": url, "kafka_bootstrap_servers": servers, "db_pool_size": clients}
        )
        app = service(settings, clock=ManualClock(now)).app(workers=())
        token = issue_staff_token(
            DEV_JWT_SECRET, subject="bench", role=Role.STAFF, now=datetime.now(UTC)
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://booking", headers=headers, timeout=30
            ) as client:
                await reserve_all(client, bookings[: clients * 2], clients)  # warm up
                elapsed, latencies, failures = await reserve_all(
                    client, bookings[clients * 2 :], clients
                )
        done = len(latencies)
        raw = await raw_inserts(dsn, count, clients)
        print(f"reservations: {done} by {clients} clients in {elapsed:.2f} s, {failures} failed")
        print(f"  {done / elapsed:.0f} reservations/s")
        print(f"  p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms")  # fmt: skip
        print(f"raw PostgreSQL single-row inserts, {clients} connections: {raw:.0f} rows/s")
    finally:
        await drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reservations", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        postgres_server(Path(scratch) / "postgres") as server_url,
        kafka_broker(Path(scratch) / "broker.log") as servers,
    ):
        asyncio.run(run(server_url, servers, args.reservations, args.clients))


if __name__ == "__main__":
    main()
