"""Reservations per second and latency of the booking service at 32 concurrent clients,
as a ratio to a floor run in the same invocation on the same database server, next to
the same machine's raw PostgreSQL insert rate.

    .venv/bin/python -m bench.booking_reservations [--reservations 4000] [--clients 32]
        [--workers 2] [--no-pre-ping] [--relay process|in-api] [--profile DIR] [--no-floor]

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

The floor (bench/floor_app.py) then takes the same bodies from the same load generator,
behind the same number of processes (uvicorn, uvloop, httptools, a port each), on a
second database of the same server with booking's schema and the same seed, with a
booking relay process publishing its outbox: the smallest FastAPI + asyncpg endpoint
running the same SQL (the appointment insert under its exclusion constraints and the
outbox row, one transaction). ``ratio = reservations/s / floor req/s`` survives a change
of machine where the absolute rate does not.
``--profile DIR``: one API process under cProfile (bench/booking_profile.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import uvloop

from bench.booking_load import Connection, Run, cpu_seconds, reserve_all
from bench.harness import (
    Database,
    Infrastructure,
    Layout,
    RequestRow,
    Served,
    add_location,
    add_practitioners,
    add_requests,
    add_rooms,
    argument_parser,
    booking_database,
    booking_env,
    infrastructure,
    machine_lines,
    percentile,
    processes,
    serving,
    staff_headers,
)
from devstack.ports import free_port

PARIS = ZoneInfo("Europe/Paris")
PRACTITIONERS = 32
SLOT = timedelta(minutes=45)  # a 30-minute session plus its 15 minutes of buffers
PER_DAY = 16  # 08:00 to 20:00
PATH = "/v1/appointments"
#: Targets of issue #18 (32 clients, 2 cores).
RATIO_TARGET, P99_TARGET, DRAIN_TARGET = 0.7, 0.150, 1.0


@dataclass(frozen=True)
class Seed:
    """A location, practitioners and rooms, one open booking request per reservation,
    and each reservation's body; written the same into every database it is given to."""

    location: uuid.UUID
    practitioners: list[uuid.UUID]
    rooms: list[uuid.UUID]
    requests: list[RequestRow]
    bookings: list[dict[str, Any]]


def plan_seed(count: int, first_day: date) -> Seed:
    practitioners = [uuid.uuid4() for _ in range(PRACTITIONERS)]
    rooms = [uuid.uuid4() for _ in range(PRACTITIONERS)]
    requests, bookings = [], []
    for i in range(count):
        lane, turn = i % PRACTITIONERS, i // PRACTITIONERS
        day = first_day + timedelta(days=turn // PER_DAY)
        starts = datetime.combine(day, datetime.min.time(), PARIS) + timedelta(hours=8)
        request = RequestRow(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), day, day, day)
        requests.append(request)
        bookings.append(
            {
                "booking_request_id": str(request.id),
                "practitioner_id": str(practitioners[lane]),
                "room_id": str(rooms[lane]),
                "starts_at": (starts + SLOT * (turn % PER_DAY)).isoformat(),
            }
        )
    return Seed(uuid.uuid4(), practitioners, rooms, requests, bookings)


async def write_seed(dsn: str, seed: Seed) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await add_location(connection, id_=seed.location)
        await add_practitioners(connection, seed.location, seed.practitioners, "cellulite")
        await add_rooms(connection, seed.location, seed.rooms)
        await add_requests(connection, seed.requests)
    finally:
        await connection.close()


def floor_serving(
    database: Database, servers: str, workers: int, pool_size: int, log: Path
) -> contextlib.AbstractContextManager[Served]:
    """The floor's processes (``python -m bench.floor_app``, each on its own port) and a
    booking relay publishing the floor database's outbox."""
    ports = [free_port() for _ in range(workers)]
    api = [
        ["-m", "bench.floor_app", "--port", str(port), "--pool", str(pool_size)] for port in ports
    ]
    relay = [["-m", "booking", "relay"]]
    layout = Layout(workers, "process", pre_ping=False)
    env = booking_env(
        database.url, servers, layout, pool_size, {"FLOOR_DATABASE_URL": database.dsn}
    )
    return processes(ports, api, relay, env, log, what="the floor")


@dataclass
class Measured:
    run: Run
    cpu: dict[str, float]  # CPU seconds per part during the measured run
    load_average: tuple[float, float]  # 1-minute load average before and after
    relay_lag: float  # seconds from the last answer until the outbox was empty

    @property
    def rate(self) -> float:
        return len(self.run.latencies) / self.run.elapsed

    @property
    def p99(self) -> float:
        return percentile(self.run.latencies, 0.99)

    @property
    def cpu_per_request(self) -> float:
        """CPU seconds of every part (API, relay, load generator, PostgreSQL) per request."""
        return sum(self.cpu.values()) / len(self.run.latencies)


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
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def load(served: Served, dsn: str, bookings: list[dict[str, Any]], clients: int) -> Measured:
    headers = staff_headers()
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
    infra: Infrastructure, count: int, clients: int, layout: Layout, scratch: Path, floor: bool
) -> None:
    seed = plan_seed(count, first_day=datetime.now(PARIS).date() + timedelta(days=2))
    pool_size = max(4, clients // layout.workers)
    with (
        booking_database(infra.server_url) as service_db,
        booking_database(infra.server_url, "bench_floor") as floor_db,
    ):
        for database in (service_db, floor_db):
            asyncio.run(write_seed(database.dsn, seed))
        log = scratch / "booking.log"
        with serving(service_db.url, infra.servers, layout, pool_size, log) as served:
            measured = uvloop.run(load(served, service_db.dsn, seed.bookings, clients))
        report(measured, clients, layout)
        floor_measured = None
        if floor:
            log = scratch / "floor.log"
            with floor_serving(floor_db, infra.servers, layout.workers, pool_size, log) as served:
                floor_measured = uvloop.run(load(served, floor_db.dsn, seed.bookings, clients))
            report_floor(floor_measured, clients, layout.workers)
        if floor_measured is not None:
            report_ratio(measured, floor_measured, clients)
        for line in machine_lines(infra, service_db.dsn, inserts=count, clients=clients):
            print(line)


def _measured_lines(measured: Measured, clients: int, what: str) -> None:
    run, done = measured.run, len(measured.run.latencies)
    failed = run.failures or "none"
    print(f"{what}: {done} by {clients} clients in {run.elapsed:.2f} s, failed: {failed}")
    print(f"  {measured.rate:.0f} {what}/s")
    print(f"  p50 {statistics.median(run.latencies) * 1000:.1f} ms, "
          f"p99 {measured.p99 * 1000:.1f} ms")  # fmt: skip
    print(f"  outbox empty {measured.relay_lag:.2f} s after the last answer")
    print("  CPU ms per request: " + ", ".join(
        f"{name} {seconds / done * 1000:.2f}" for name, seconds in measured.cpu.items()
    ))  # fmt: skip
    before, after = measured.load_average
    print(f"  load average (1 min) {before:.1f} before, {after:.1f} after")


def report(measured: Measured, clients: int, layout: Layout) -> None:
    relay = "its own process" if layout.relay == "process" else "each API process"
    print(
        f"booking API: {layout.workers} process(es), relay in {relay}, "
        f"pool pre-ping {'on' if layout.pre_ping else 'off'}; load from this process"
    )
    _measured_lines(measured, clients, "reservations")


def report_floor(measured: Measured, clients: int, workers: int) -> None:
    print(
        f"floor (bench/floor_app.py): {workers} process(es), booking's relay in its own "
        "process; same bodies, same load generator, same database server"
    )
    _measured_lines(measured, clients, "floor requests")


def report_ratio(measured: Measured, floor: Measured, clients: int) -> None:
    ratio = measured.rate / floor.rate
    print(
        f"ratio = reservations/s / floor req/s = {measured.rate:.0f} / {floor.rate:.0f} "
        f"= {ratio:.2f} (target >= {RATIO_TARGET})"
    )
    print(
        f"p99 at {clients} clients: reservations {measured.p99 * 1000:.1f} ms "
        f"(target <= {P99_TARGET * 1000:.0f} ms), floor {floor.p99 * 1000:.1f} ms"
    )
    print(
        f"outbox drained after the last answer: reservations {measured.relay_lag:.2f} s "
        f"(target <= {DRAIN_TARGET:.0f} s), floor {floor.relay_lag:.2f} s"
    )
    # On a shared machine the rates follow the CPU each run got; its cost per request less so.
    service_cpu, floor_cpu = measured.cpu_per_request, floor.cpu_per_request
    print(
        f"CPU per request, every part: reservations {service_cpu * 1000:.2f} ms, "
        f"floor {floor_cpu * 1000:.2f} ms; floor / reservations = {floor_cpu / service_cpu:.2f}"
    )


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--reservations", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--relay", choices=["process", "in-api"], default="process")
    parser.add_argument("--no-pre-ping", dest="pre_ping", action="store_false")
    parser.add_argument("--profile", type=Path, help="one API process under cProfile")
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the floor (and the ratio)"
    )
    args = parser.parse_args()
    layout = Layout(args.workers, args.relay, args.pre_ping, args.profile)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        layout = Layout(1, args.relay, args.pre_ping, args.profile.resolve())
    with (
        tempfile.TemporaryDirectory(prefix="bench-reservations-") as scratch,
        infrastructure(Path(scratch)) as infra,
    ):
        run(infra, args.reservations, args.clients, layout, Path(scratch), args.floor)


if __name__ == "__main__":
    main()
