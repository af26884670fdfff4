"""PostgreSQL's own CPU per reservation, statement sequence by statement sequence: the
floor's transaction and the service's, each on one connection, one at a time.

    .venv/bin/python -m bench.reservation_statements [--rounds 3] [--per-round 1000]
        [--sessions 1] [--explain]

Uses DATABASE_URL when set, else starts the embedded PostgreSQL like `make dev` (and
Kafka, which it does not use). On a fresh booking database seeded as
``bench.booking_reservations`` seeds it (each plan ``--sessions`` long, session 1 booked),
each round runs ``--per-round`` transactions of each kind in turn, so both meet the same
table as it grows:
- floor: BEGIN; the request read; booking's ``INSERT_APPOINTMENT``; the outbox row with
  the request's status (``STAGE_EVENT_WITH_REQUEST_STATUS``); COMMIT (bench/floor_app.py);
- service: BEGIN; ``LOCK_COURSE_FOR_PLACING`` (the course locked, then the course, hours
  and time off read); ``INSERT_APPOINTMENT_ANNOUNCED`` (the appointment, the same outbox
  row and the request's status in one statement); COMMIT: the round trips of a
  reservation through the booking API;
- pooled: the same, in the pooled transaction the API runs it in
  (``shared.db.transaction`` on booking's engine): the client's CPU beyond the service
  line's is that frame's own (the pool's checkout and checkin, begin, commit).
Each line gives the backend's CPU (user + system, /proc) and the client's per
transaction. Without the HTTP, the ORM and other clients, what is left is what each
sequence costs PostgreSQL, and how that grows with the table: how the planner's choices
were found (docs/performance.md). ``--explain`` ends with the plans of the service's
placing read (auto_explain, nested statements).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.booking_load import cpu_seconds
from bench.booking_reservations import Seed, plan_seed, write_seed
from bench.floor_app import REQUEST
from bench.harness import (
    Database,
    add_requests,
    argument_parser,
    booking_database,
    infrastructure,
)
from booking.adapters.store import (
    APPOINTMENT_COLUMNS,
    AROUND,
    INSERT_APPOINTMENT,
    INSERT_APPOINTMENT_ANNOUNCED,
    LOCK_COURSE_FOR_PLACING,
    STAGE_EVENT_WITH_REQUEST_STATUS,
)
from booking.settings import BookingSettings
from shared.contracts.booking import AppointmentBooked
from shared.db import create_engine, transaction

KINDS = ("floor", "service", "pooled")


async def reservations(database: Database, kind: str, seed: Seed) -> tuple[float, float]:
    """Book every reservation of ``seed`` as ``kind``; CPU seconds per transaction of the
    backend and of this process."""
    settings = BookingSettings()
    async with _transactions(database, kind) as (backend, begin):
        patients = {r.id: r.patient_id for r in seed.requests}
        started, own = cpu_seconds([backend]), time.process_time()
        for booking in seed.bookings:
            request_id = uuid.UUID(booking["booking_request_id"])
            practitioner = uuid.UUID(booking["practitioner_id"])
            room = uuid.UUID(booking["room_id"])
            starts = datetime.fromisoformat(booking["starts_at"])
            ends, now = starts + timedelta(minutes=30), datetime.now(UTC)
            values = {
                "id": uuid.uuid4(), "version": 1, "status": "booked",
                "patient_id": patients[request_id], "booking_request_id": request_id,
                "practitioner_id": practitioner, "room_id": room, "location_id": seed.location,
                "starts_at": starts, "ends_at": ends,
                "blocked_from": starts - settings.buffer_before,
                "blocked_until": ends + settings.buffer_after, "created_at": now,
                "updated_at": now, "hold_expires_at": None, "changed_by": "staff",
            }  # fmt: skip
            locks = sorted((str(practitioner), str(room)))
            row = [values[c] for c in APPOINTMENT_COLUMNS]
            staged = (
                uuid.uuid4(), AppointmentBooked.topic, str(values["patient_id"]),
                AppointmentBooked.type, "/bench", str(values["id"]), now, None, None,
                json.dumps({"appointment_id": str(values["id"])}), request_id, "booked",
            )  # fmt: skip
            async with begin() as connection:
                if kind == "floor":
                    await connection.fetchrow(REQUEST, request_id)
                    inserted = await connection.fetchrow(INSERT_APPOINTMENT, *locks, *row)
                    await connection.execute(STAGE_EVENT_WITH_REQUEST_STATUS, *staged)
                else:
                    await connection.fetch(
                        LOCK_COURSE_FOR_PLACING, request_id, [seed.location, practitioner, room],
                        starts - AROUND, starts + AROUND,
                    )  # fmt: skip
                    inserted = await connection.fetchrow(
                        INSERT_APPOINTMENT_ANNOUNCED, *locks, *row, *staged
                    )
                assert inserted is not None, "a reservation of the seed found its time taken"
        count = len(seed.bookings)
        return (cpu_seconds([backend]) - started) / count, (time.process_time() - own) / count


Transaction = Callable[[], contextlib.AbstractAsyncContextManager[asyncpg.Connection]]


@contextlib.asynccontextmanager
async def _transactions(database: Database, kind: str) -> AsyncIterator[tuple[int, Transaction]]:
    """The backend's pid, and transactions on its connection: asyncpg's own, or (kind
    "pooled") shared.db's pooled transaction on booking's engine."""
    if kind != "pooled":
        connection = await asyncpg.connect(database.dsn)

        @contextlib.asynccontextmanager
        async def plain() -> AsyncIterator[asyncpg.Connection]:
            async with connection.transaction():
                yield connection

        try:
            yield await connection.fetchval("SELECT pg_backend_pid()"), plain
        finally:
            await connection.close()
        return
    engine = create_engine(database.url, pool_size=1)

    @contextlib.asynccontextmanager
    async def pooled() -> AsyncIterator[asyncpg.Connection]:
        async with transaction(engine) as db:
            yield await db.connection()

    try:
        async with pooled() as connection:
            backend = await connection.fetchval("SELECT pg_backend_pid()")
        yield backend, pooled
    finally:
        await engine.dispose()


async def with_later_sessions(dsn: str, seed: Seed, sessions: int) -> None:
    """Sessions 2 to ``sessions`` of each plan, open (session 1 is the one booked)."""
    connection = await asyncpg.connect(dsn)
    try:
        await add_requests(connection, [
            replace(r, id=uuid.uuid4(), session_number=n, total_sessions=sessions)
            for r in seed.requests for n in range(2, sessions + 1)
        ])  # fmt: skip
    finally:
        await connection.close()


async def explain(dsn: str, seed: Seed) -> None:
    """The plans of one more service placing read, statement by statement."""
    connection = await asyncpg.connect(dsn)
    try:
        booking = seed.bookings[-1]
        starts = datetime.fromisoformat(booking["starts_at"])
        arguments = (
            uuid.UUID(booking["booking_request_id"]), [seed.location],
            starts - AROUND, starts + AROUND,
        )  # fmt: skip
        # Once before, so asyncpg's own look at the row type is not among the plans.
        await connection.fetch(LOCK_COURSE_FOR_PLACING, *arguments)
        connection.add_log_listener(lambda _, message: print(message.message))
        await connection.execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
            " SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;"
            " SET client_min_messages = log"
        )
        await connection.fetch(LOCK_COURSE_FOR_PLACING, *arguments)
    finally:
        await connection.close()


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=1000, help="transactions of each kind")
    parser.add_argument("--sessions", type=int, default=1, help="sessions per plan")
    parser.add_argument("--explain", action="store_true", help="plans of the placing read")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-statements-") as scratch,
        infrastructure(Path(scratch)) as infra,
        booking_database(infra.server_url) as database,
    ):
        seeds = {}
        for n in range(args.rounds * len(KINDS)):
            # A year of days apart: no two seeds' reservations share a time.
            seed = plan_seed(args.per_round, date(2027, 1, 4) + timedelta(days=366 * n))
            asyncio.run(write_seed(database.dsn, seed))
            asyncio.run(with_later_sessions(database.dsn, seed, args.sessions))
            seeds[n] = seed
        print(
            f"PostgreSQL CPU per reservation transaction, one connection, {args.per_round} of"
            f" each kind a round, plans of {args.sessions} session(s)"
        )
        for n in range(args.rounds * len(KINDS)):
            kind, booked = KINDS[n % len(KINDS)], n * args.per_round
            backend, client = asyncio.run(reservations(database, kind, seeds[n]))
            print(
                f"  round {n // len(KINDS) + 1}, {kind:7s} ({booked:6d} appointments before):"
                f" backend {backend * 1000:.3f} ms, client {client * 1000:.3f} ms"
            )
        if args.explain:
            asyncio.run(explain(database.dsn, seeds[len(seeds) - 1]))


if __name__ == "__main__":
    main()
