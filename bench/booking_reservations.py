"""Reservations per second and latency of the booking service at 32 concurrent clients,
next to the same machine's raw PostgreSQL insert rate.

    .venv/bin/python -m bench.booking_reservations [--reservations 4000] [--clients 32]
        [--workers 2] [--no-pre-ping] [--relay process|in-api] [--profile DIR]

Uses DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else starts the embedded
PostgreSQL and Apache Kafka like `make dev`. The service runs as a deployment scales it
(deploy/k8s/booking.yaml): ``--workers`` API processes, each `python -m booking serve`
(uvicorn, uvloop, httptools) on a port of its own with BOOKING_RUN_WORKERS=false, as
replicas behind a load balancer, and the outbox relay as its own `python -m booking relay`
process (``--relay in-api``: inside each API process instead), on its real database,
constraints and outbox. The load generator is this process, keep-alive HTTP/1.1 on raw
asyncio streams (bench/booking_load.py), its clients spread evenly over the API
processes as a load balancer would; each reservation is one POST /v1/appointments that
succeeds (distinct free slots), so the figure is the cost of a booking: checks, exclusion
constraints, event in the outbox. It also reports the CPU each part spent per reservation
and the machine's load average.
``--profile DIR``: one API process under cProfile (bench/booking_profile.py).
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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import uvloop
from sqlalchemy.engine import make_url

from bench.booking_load import Connection, Run, cpu_seconds, reserve_all
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
PATH = "/v1/appointments"


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


@dataclass(frozen=True)
class Layout:
    """How the service runs during the benchmark."""

    workers: int  # uvicorn worker processes of the API
    relay: str  # "process": its own `python -m booking relay`; "in-api": in each API worker
    pre_ping: bool  # the pool's ping before each checkout (BOOKING_DB_POOL_PRE_PING)
    profile: Path | None  # one API process under cProfile, results written here


@dataclass
class Served:
    bases: list[str]  # one per API process, as replicas behind a load balancer
    api: list[int]  # process ids
    relay: list[int]


@contextlib.contextmanager
def serving(url: str, servers: str, layout: Layout, pool_size: int, log: Path) -> Iterator[Served]:
    """The booking API processes (``python -m booking serve``, each on its own port) and
    the relay, each a process of its own."""
    env = {
        **os.environ,
        "BOOKING_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "BOOKING_DB_POOL_SIZE": str(pool_size),
        "BOOKING_DB_POOL_PRE_PING": str(layout.pre_ping).lower(),
        "BOOKING_RUN_WORKERS": str(layout.relay == "in-api").lower(),
        "LOG_LEVEL": "WARNING",
    }
    ports = [free_port() for _ in range(1 if layout.profile else layout.workers)]
    if layout.profile is not None:
        profiled = ["bench.booking_profile", str(ports[0]), str(layout.profile)]
        commands = [[sys.executable, "-m", *profiled]]
    else:
        commands = [
            [sys.executable, "-m", "booking", "serve", "--host", "127.0.0.1", "--port", str(port)]
            for port in ports
        ]
    if layout.relay == "process":
        commands.append([sys.executable, "-m", "booking", "relay"])
    with log.open("wb") as out:
        processes = [
            subprocess.Popen(command, env=env, stdout=out, stderr=out)  # noqa: S603
            for command in commands
        ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for base in bases:
            while not _ready(base):
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    raise RuntimeError(f"booking did not start; see {log}")
                time.sleep(0.2)
        api, relay = processes[: len(ports)], processes[len(ports) :]
        yield Served(bases, [p.pid for p in api], [p.pid for p in relay])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


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


@dataclass
class Measured:
    run: Run
    cpu: dict[str, float]  # CPU seconds per part during the measured run
    load_average: tuple[float, float]  # 1-minute load average before and after
    relay_lag: float  # seconds from the last answer until the outbox was empty


async def _backend_cpu(connection: asyncpg.Connection) -> dict[int, float]:
    pids = await connection.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    return {row["pid"]: cpu_seconds([row["pid"]]) for row in pids}


async def _outbox_drained(connection: asyncpg.Connection) -> float:
    """Seconds until the relay has published every staged event (polled, at most 2 min)."""
    started = time.perf_counter()
    query = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    while await connection.fetchval(query) and time.perf_counter() - started < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def load(served: Served, dsn: str, bookings: list[dict[str, Any]], clients: int) -> Measured:
    token = issue_staff_token(
        DEV_JWT_SECRET, subject="bench", role=Role.STAFF, now=datetime.now(UTC)
    )
    headers = {"Authorization": f"Bearer {token}"}
    # Client i talks to API process i mod n: the even spread of a load balancer in front
    # of replicas (a shared accept socket, as `uvicorn --workers`, is far from even).
    addresses = [urlsplit(base) for base in served.bases]
    connections = [
        Connection(address.hostname or "", address.port or 0, headers)
        for address in (addresses[i % len(addresses)] for i in range(clients))
    ]
    watcher = await asyncpg.connect(dsn)
    try:
        await reserve_all(connections, PATH, bookings[: clients * 4])  # warm up
        await _outbox_drained(watcher)
        parts = {"api": served.api, "relay": served.relay, "load generator": [os.getpid()]}
        before = {name: cpu_seconds(processes) for name, processes in parts.items()}
        backends_before = await _backend_cpu(watcher)
        load_before = os.getloadavg()[0]
        run = await reserve_all(connections, PATH, bookings[clients * 4 :])
        relay_lag = await _outbox_drained(watcher)
        cpu = {name: cpu_seconds(processes) - before[name] for name, processes in parts.items()}
        backends = await _backend_cpu(watcher)
        cpu["postgres backends"] = sum(t - backends_before.get(p, 0.0) for p, t in backends.items())
        return Measured(run, cpu, (load_before, os.getloadavg()[0]), relay_lag)
    finally:
        await watcher.close()
        for connection in connections:
            await connection.close()


def run(
    server_url: str, servers: str, count: int, clients: int, layout: Layout, scratch: Path
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
        pool_size = max(4, clients // layout.workers)
        with serving(url, servers, layout, pool_size, scratch / "booking.log") as served:
            measured = uvloop.run(load(served, dsn, bookings, clients))
        raw = asyncio.run(raw_inserts(dsn, count, clients))
        report(measured, clients, layout, raw)
    finally:
        asyncio.run(drop_database(url))


def report(measured: Measured, clients: int, layout: Layout, raw: float) -> None:
    run, done = measured.run, len(measured.run.latencies)
    relay = "its own process" if layout.relay == "process" else "each API process"
    print(
        f"booking API: {layout.workers} process(es), relay in {relay}, "
        f"pool pre-ping {'on' if layout.pre_ping else 'off'}; load from this process"
    )
    failed = run.failures or "none"
    print(f"reservations: {done} by {clients} clients in {run.elapsed:.2f} s, failed: {failed}")
    print(f"  {done / run.elapsed:.0f} reservations/s")
    print(f"  p50 {statistics.median(run.latencies) * 1000:.1f} ms, "
          f"p99 {percentile(run.latencies, 0.99) * 1000:.1f} ms")  # fmt: skip
    print(f"  outbox empty {measured.relay_lag:.2f} s after the last answer")
    print("  CPU ms per reservation: " + ", ".join(
        f"{name} {seconds / done * 1000:.2f}" for name, seconds in measured.cpu.items()
    ))  # fmt: skip
    before, after = measured.load_average
    print(f"  load average (1 min) {before:.1f} before, {after:.1f} after")
    print(f"raw PostgreSQL single-row inserts, {clients} connections: {raw:.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reservations", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--relay", choices=["process", "in-api"], default="process")
    parser.add_argument("--no-pre-ping", dest="pre_ping", action="store_false")
    parser.add_argument("--profile", type=Path, help="one API process under cProfile")
    args = parser.parse_args()
    layout = Layout(args.workers, args.relay, args.pre_ping, args.profile)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        layout = Layout(1, args.relay, args.pre_ping, args.profile.resolve())
    with (
        tempfile.TemporaryDirectory() as scratch,
        postgres_server(Path(scratch) / "postgres") as server_url,
        kafka_broker(Path(scratch) / "broker.log") as servers,
    ):
        run(server_url, servers, args.reservations, args.clients, layout, Path(scratch))


if __name__ == "__main__":
    main()
