"""The floor of the reservation benchmark: the smallest honest FastAPI + asyncpg endpoint
that books what POST /v1/appointments books, with the same SQL.

    FLOOR_DATABASE_URL=postgresql://... python -m bench.floor_app --port 8000 [--pool 16]

One transaction on a pooled asyncpg connection: read the booking request (the patient,
the plan and the session the event names; 409 unless it is open), then booking's own
statements (``booking.adapters.store``): the appointment insert behind the practitioner's
and the room's advisory locks, which PostgreSQL's exclusion constraints and the
one-active-per-session index judge (409 when taken), and the outbox row with its per-key
lock, the NOTIFY that wakes the relay and the request's new status. A practitioner's
location and time zone are kept per process, as booking keeps its resources. No auth, no
ORM, no unit of work, no middleware: what is left is the price of FastAPI, asyncpg and
PostgreSQL doing the same writes. Run on a database migrated with booking's schema
(``bench.booking_reservations`` makes one on the same server).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bench.harness import argument_parser
from booking.adapters.store import (
    APPOINTMENT_COLUMNS,
    INSERT_APPOINTMENT,
    STAGE_EVENT_WITH_REQUEST_STATUS,
)
from booking.api.schemas import AppointmentIn
from booking.settings import BookingSettings
from booking.use_cases.records import SOURCE
from shared.contracts.booking import AppointmentBooked

REQUEST = (
    "SELECT patient_id, plan_id, session_number, total_sessions, treatment,"
    " numbing_cream_advised, session_minutes, status FROM booking_request WHERE id = $1"
)
PRACTITIONER = (
    "SELECT p.location_id, l.time_zone FROM practitioner p"
    " JOIN location l ON l.id = p.location_id WHERE p.id = $1"
)


def create_app(dsn: str, pool_size: int) -> FastAPI:
    settings = BookingSettings()
    before, after = settings.buffer_before, settings.buffer_after
    places: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}  # practitioner: location, time zone
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        # As `python -m booking serve` does: start-up's objects out of the collector's scans.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        assert pool is not None
        await pool.fetchval("SELECT 1")
        return {"status": "ok"}

    @app.post("/v1/appointments", status_code=201)
    async def book(body: AppointmentIn) -> Any:
        """POST /v1/appointments, booking's body (its own pydantic model) and answer."""
        assert pool is not None
        if body.hold:
            return _problem(422, "the floor books; it does not hold")
        now = datetime.now(UTC)
        async with pool.acquire() as connection, connection.transaction():
            request = await connection.fetchrow(REQUEST, body.booking_request_id)
            if request is None:
                return _problem(404, f"no booking request {body.booking_request_id}")
            if request["status"] != "open":
                return _problem(409, "this session already has an appointment")
            place = places.get(body.practitioner_id)
            if place is None:
                row = await connection.fetchrow(PRACTITIONER, body.practitioner_id)
                if row is None:
                    return _problem(404, f"no practitioner {body.practitioner_id}")
                place = places[body.practitioner_id] = (row["location_id"], row["time_zone"])
            starts_at = body.starts_at
            ends_at = starts_at + timedelta(minutes=request["session_minutes"])
            values = {
                "id": uuid.uuid4(), "version": 1, "status": "booked",
                "patient_id": request["patient_id"],
                "booking_request_id": body.booking_request_id,
                "practitioner_id": body.practitioner_id, "room_id": body.room_id,
                "location_id": place[0], "starts_at": starts_at, "ends_at": ends_at,
                "blocked_from": starts_at - before, "blocked_until": ends_at + after,
                "created_at": now, "updated_at": now, "hold_expires_at": None,
                "changed_by": "staff",
            }  # fmt: skip
            locks = sorted((str(body.practitioner_id), str(body.room_id)))
            inserted = await connection.fetchval(
                INSERT_APPOINTMENT, *locks, *[values[c] for c in APPOINTMENT_COLUMNS]
            )
            if inserted is None:
                return _problem(409, "the practitioner or the room is already booked then")
            data = {
                "appointment_id": str(values["id"]), "version": 1, "status": "booked",
                "patient_id": str(request["patient_id"]), "plan_id": str(request["plan_id"]),
                "booking_request_id": str(body.booking_request_id),
                "session_number": request["session_number"],
                "total_sessions": request["total_sessions"], "treatment": request["treatment"],
                "numbing_cream_advised": request["numbing_cream_advised"],
                "practitioner_id": str(body.practitioner_id), "room_id": str(body.room_id),
                "location_id": str(place[0]), "location_time_zone": place[1],
                "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                "hold_expires_at": None, "changed_by": "staff", "reason": None,
            }  # fmt: skip
            await connection.execute(
                STAGE_EVENT_WITH_REQUEST_STATUS,
                uuid.uuid4(), AppointmentBooked.topic, str(request["patient_id"]),
                AppointmentBooked.type, SOURCE, str(values["id"]), now, None, None,
                json.dumps(data, separators=(",", ":")), body.booking_request_id, "booked",
            )  # fmt: skip
        return {
            "id": values["id"], "version": 1, "status": "booked",
            "patient_id": request["patient_id"], "booking_request_id": body.booking_request_id,
            "practitioner_id": body.practitioner_id, "room_id": body.room_id,
            "location_id": place[0], "starts_at": starts_at, "ends_at": ends_at,
            "hold_expires_at": None, "reason": None,
        }  # fmt: skip

    return app


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status)


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=16, help="asyncpg connections")
    args = parser.parse_args()
    app = create_app(os.environ["FLOOR_DATABASE_URL"], args.pool)
    uvicorn.run(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools",
        access_log=False, log_level="warning",
    )  # fmt: skip


if __name__ == "__main__":
    main()
