"""The reservation's hot statements, run on the session's own asyncpg connection.

Each runs inside the session's transaction (same connection, BEGIN already sent by the
first statement through SQLAlchemy), as plain SQL that asyncpg prepares once per
connection: SQLAlchemy's per-statement work (cache key, compile lookup, parameter
processing, result wrapping) was the largest single cost of a reservation in the
profile (docs/booking.md). Anything pending in the ORM is flushed first, so a raw
statement never overtakes a change the use case made before it.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from shared.outbox import CHANNEL, WRITERS

#: What a lost or shut-down database raises through asyncpg itself.
_CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)


@contextlib.contextmanager
def loss_as_connection_error() -> Iterator[None]:
    """A lost database raises ConnectionError here, as the consumer expects (it retries
    those and never dead-letters them; through SQLAlchemy it would see the same)."""
    try:
        yield
    except _CONNECTION_LOST as error:
        raise ConnectionError(f"database connection lost: {error}") from error


async def connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection of the session's open transaction (looked up once per
    transaction: a transaction keeps its connection to the end)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.get_transaction()
    kept = session.info.get(_KEPT)
    if transaction is not None and kept is not None and kept[0] is transaction:
        return cast(asyncpg.Connection, kept[1])
    raw = await (await session.connection()).get_raw_connection()
    driver = cast(asyncpg.Connection, raw.driver_connection)
    if not driver.is_in_transaction():
        raise RuntimeError("hot-path statements need the session's transaction begun")
    session.info[_KEPT] = (session.get_transaction(), driver)
    return driver


_KEPT = "hot_path_connection"

# Weekly hours and time off of resources $1 over [$2, $3), in one round trip.
HOURS_AND_TIME_OFF = (
    "SELECT resource_id, weekday, opens, closes,"
    " NULL::timestamptz AS starts_at, NULL::timestamptz AS ends_at"
    " FROM working_hours WHERE resource_id = ANY($1::uuid[])"
    " UNION ALL"
    " SELECT resource_id, NULL::smallint, NULL::time, NULL::time, starts_at, ends_at"
    " FROM time_off WHERE resource_id = ANY($1::uuid[]) AND starts_at < $3 AND ends_at > $2"
)


async def hours_and_time_off(
    session: AsyncSession, ids: list[uuid.UUID], start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Rows of HOURS_AND_TIME_OFF: weekday set for an opening span, else time off."""
    driver = await connection(session)
    with loss_as_connection_error():
        rows = await driver.fetch(HOURS_AND_TIME_OFF, ids, start, end)
    return cast(list[asyncpg.Record], rows)


APPOINTMENT_COLUMNS = {
    "id": "uuid", "version": "int", "status": "text", "patient_id": "uuid",
    "booking_request_id": "uuid", "practitioner_id": "uuid", "room_id": "uuid",
    "location_id": "uuid", "starts_at": "timestamptz", "ends_at": "timestamptz",
    "blocked_from": "timestamptz", "blocked_until": "timestamptz",
    "created_at": "timestamptz", "updated_at": "timestamptz",
    "hold_expires_at": "timestamptz", "changed_by": "text",
}  # fmt: skip

# The practitioner's and the room's advisory locks (in the caller's sorted order), then
# the row, skipped (no error, no savepoint) when an exclusion constraint or the
# one-active-per-session index finds the time taken: RETURNING then yields nothing.
# (Built from constants only; every value is a bind parameter.)
INSERT_APPOINTMENT = (
    "WITH resource_locks AS (SELECT pg_advisory_xact_lock(hashtextextended($1, 0)),"  # noqa: S608
    " pg_advisory_xact_lock(hashtextextended($2, 0)))"
    f" INSERT INTO appointment ({', '.join(APPOINTMENT_COLUMNS)})"
    " SELECT "
    + ", ".join(f"${i}::{kind}" for i, kind in enumerate(APPOINTMENT_COLUMNS.values(), start=3))
    + " FROM resource_locks ON CONFLICT DO NOTHING RETURNING id"
)


async def insert_appointment(
    session: AsyncSession, locks: tuple[str, str], values: dict[str, Any]
) -> bool:
    """Insert the appointment unless its time is taken; True if inserted."""
    driver = await connection(session)
    with loss_as_connection_error():
        row = await driver.fetchval(
            INSERT_APPOINTMENT, *locks, *[values[c] for c in APPOINTMENT_COLUMNS]
        )
    return row is not None


_OUTBOX = "event_id, topic, key, type, source, subject, time, data"
_OUTBOX_VALUES = "$1::uuid, $2, $3, $4, $5, $6, $7::timestamptz, $8::jsonb"
# Per-key advisory lock (one patient's writers take turns, so the relay sees their
# events in commit order), the row, and the NOTIFY that wakes the relays at commit.
STAGE_EVENT = (
    f"WITH key_lock AS (SELECT pg_advisory_xact_lock({WRITERS}, hashtext($3))),"  # noqa: S608
    f" wake AS (SELECT pg_notify('{CHANNEL}', ''))"
    f" INSERT INTO outbox ({_OUTBOX}) SELECT {_OUTBOX_VALUES} FROM key_lock, wake"
)
# The same, writing the booking request's new status in the same statement.
STAGE_EVENT_WITH_REQUEST_STATUS = (
    "WITH request_status AS (UPDATE booking_request SET status = $10 WHERE id = $9::uuid),"  # noqa: S608
    + STAGE_EVENT.removeprefix("WITH")
)


async def stage_event(
    session: AsyncSession, row: dict[str, Any], request_status: tuple[Any, str] | None
) -> None:
    """Stage one outbox row (see STAGE_EVENT), with the request's status when given."""
    driver = await connection(session)
    values = [row[name] for name in _OUTBOX.split(", ")]
    values[-1] = json.dumps(values[-1], separators=(",", ":"))
    with loss_as_connection_error():
        if request_status is None:
            await driver.execute(STAGE_EVENT, *values)
        else:
            await driver.execute(STAGE_EVENT_WITH_REQUEST_STATUS, *values, *request_status)
