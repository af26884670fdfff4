"""The reservation's plain-SQL statements run inside the use case's transaction, never
outside it: they begin it when they come first, a rollback takes them back, and without a
transaction (autocommit) they refuse. A pooled transaction (``shared.db.transaction``, the
booking path's) commits its plain statements and its ORM session's changes together, or
neither, and never gives its connection back to the pool inside a transaction."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import Location, outbox
from shared.db import is_connection_loss, transaction
from tests.clock import TEST_NOW
from tests.polling import eventually
from tests.utils.booking import Booking, running_booking


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        yield running


def an_outbox_row() -> dict[str, object]:
    return {
        "event_id": uuid.uuid4(), "topic": "booking.events", "key": str(uuid.uuid4()),
        "type": "clinic.booking.test.v1", "source": "/tests", "subject": None,
        "time": TEST_NOW, "traceparent": None, "tracestate": None, "data": {"n": 1},
    }  # fmt: skip


async def outbox_rows(booking: Booking) -> int:
    async with booking.runtime.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(outbox)) or 0)


@pytest.mark.parametrize("first", ["plain SQL", "the ORM"])
async def test_a_rolled_back_use_case_takes_its_plain_sql_back(
    booking: Booking, first: str
) -> None:
    """Whichever statement comes first begins the session's transaction (a placing's
    first statement is plain SQL): a rollback takes the plain SQL back, a commit keeps it."""

    class Refused(Exception):
        pass

    async def stage(*, then_fail: bool) -> None:
        async with booking.runtime.sessions.begin() as session:
            if first == "the ORM":
                await session.execute(sa.text("SELECT 1"))
            await store.stage_event(session, an_outbox_row(), None)
            assert await session.scalar(sa.select(sa.func.count()).select_from(outbox)) == 1
            if then_fail:
                raise Refused

    with pytest.raises(Refused):
        await stage(then_fail=True)
    assert await outbox_rows(booking) == 0
    await stage(then_fail=False)
    assert await outbox_rows(booking) == 1


async def test_plain_sql_refuses_to_run_outside_a_transaction(booking: Booking) -> None:
    async with booking.runtime.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        async with AsyncSession(bind=autocommit) as session:
            with pytest.raises(RuntimeError, match="transaction begun"):
                await store.stage_event(session, an_outbox_row(), None)
    assert await outbox_rows(booking) == 0


def test_a_lost_database_reads_as_a_connection_error() -> None:
    # ConnectionError: what the consumer retries and never dead-letters.
    with pytest.raises(ConnectionError), store.loss_as_connection_error():
        raise asyncpg.ConnectionDoesNotExistError("gone")
    # Anything else passes unchanged.
    with pytest.raises(asyncpg.DeadlockDetectedError), store.loss_as_connection_error():
        raise asyncpg.DeadlockDetectedError("deadlock")


async def test_a_placing_reads_what_its_course_lock_waited_for(booking: Booking) -> None:
    """Session 1 is being booked, its transaction still open: a placing of session 2 waits
    on the course lock, and once session 1 commits reads its new appointment. (One
    statement could not: its snapshot predates the commit it waited for.)"""
    await booking.seed_clinic()
    one, two = await booking.requests(await booking.cycle(sessions=2))
    starts = TEST_NOW + timedelta(days=2)
    values = {
        "id": uuid.uuid4(), "version": 1, "status": "booked",
        "patient_id": uuid.UUID(one["patient_id"]), "booking_request_id": uuid.UUID(one["id"]),
        "practitioner_id": uuid.UUID(booking.practitioner_ids[0]),
        "room_id": uuid.UUID(booking.room_ids[0]), "location_id": uuid.UUID(booking.location_id),
        "starts_at": starts, "ends_at": starts + timedelta(minutes=30), "blocked_from": starts,
        "blocked_until": starts + timedelta(minutes=30), "created_at": TEST_NOW,
        "updated_at": TEST_NOW, "hold_expires_at": None, "changed_by": "test",
    }  # fmt: skip
    dsn = make_url(booking.settings.resolved_database_url()).set(drivername="postgresql")
    first, second = [
        await asyncpg.connect(dsn.render_as_string(hide_password=False)) for _ in range(2)
    ]
    try:
        booking_one = first.transaction()
        await booking_one.start()
        await first.fetch(
            store.LOCK_COURSE_FOR_PLACING, values["booking_request_id"], [], starts, starts
        )
        locks = sorted((str(values["practitioner_id"]), str(values["room_id"])))
        await first.fetchrow(
            store.INSERT_APPOINTMENT, *locks, *[values[c] for c in store.APPOINTMENT_COLUMNS]
        )
        async with second.transaction():
            placing_two = asyncio.create_task(
                second.fetch(
                    store.LOCK_COURSE_FOR_PLACING, uuid.UUID(two["id"]), [], starts, starts
                )
            )
            waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
            pid = second.get_server_pid()
            await eventually(lambda: first.fetchval(waiting, pid), what="placing 2 to wait")
            assert not placing_two.done()
            await booking_one.commit()
            rows = await placing_two
        course = {row["request"]["session_number"]: row["starts_at"] for row in rows}
        assert course == {1: starts, 2: None}
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("fails", [False, True])
async def test_a_pooled_transaction_commits_plain_sql_and_the_orm_together(
    booking: Booking, fails: bool
) -> None:
    """The ORM session a path makes in a pooled transaction is in the same transaction
    as the plain statements around it: both are kept, or (the block raises) neither."""

    class Refused(Exception):
        pass

    place = uuid.uuid4()
    with contextlib.suppress(Refused):
        async with transaction(booking.runtime.engine) as db:
            await store.stage_event(db, an_outbox_row(), None)
            db.session.add(Location(id=place, name="Annexe", time_zone="Europe/Paris"))
            await store.stage_event(db, an_outbox_row(), None)  # flushes the location first
            driver = await db.connection()
            assert await driver.fetchval("SELECT count(*) FROM location WHERE id = $1", place)
            if fails:
                raise Refused
    async with booking.runtime.sessions() as session:
        kept = await session.get(Location, place)
    assert (kept is None, await outbox_rows(booking)) == ((True, 0) if fails else (False, 2))


async def test_a_pooled_transaction_never_goes_back_to_the_pool_inside_a_transaction(
    booking: Booking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block that raises is rolled back; one whose connection cannot roll back (here a
    rollback that fails) is thrown away, not handed to the next request mid-transaction."""
    engine = booking.runtime.engine
    used: list[asyncpg.Connection] = []

    async def stage_then_fail() -> None:
        async with transaction(engine) as db:
            used.append(await db.connection())
            await store.stage_event(db, an_outbox_row(), None)
            raise LookupError

    async def refused(*_: object) -> None:
        raise OSError("the rollback never reached the server")

    with pytest.raises(LookupError):
        await stage_then_fail()
    async with transaction(engine) as db:
        assert await (await db.connection()).fetchval("SELECT txid_current_if_assigned()") is None
    with monkeypatch.context() as patched:
        patched.setattr(asyncpg.transaction.Transaction, "rollback", refused)
        with pytest.raises(LookupError):
            await stage_then_fail()
    assert used[-1].is_closed()
    async with transaction(engine) as db:
        driver = await db.connection()
        assert driver is not used[-1]
        assert await driver.fetchval("SELECT txid_current_if_assigned()") is None
    assert await outbox_rows(booking) == 0


async def test_a_pooled_transaction_whose_connection_is_lost_raises_connection_error(
    booking: Booking,
) -> None:
    """The server gone between the checkout and a statement (here: the connection
    terminated under the block): the driver's error is a ConnectionError, which the API
    answers 503 and a consumer retries, and the next transaction gets a live connection."""
    engine = booking.runtime.engine
    lost: list[asyncpg.Connection] = []

    async def use_a_lost_connection() -> None:
        async with transaction(engine) as db:
            driver = await db.connection()
            lost.append(driver)
            driver.terminate()
            await driver.fetchval("SELECT 1")

    with pytest.raises(ConnectionError) as raised:
        await use_a_lost_connection()
    assert is_connection_loss(raised.value)
    async with transaction(engine) as db:
        driver = await db.connection()
        assert driver is not lost[0]
        assert await driver.fetchval("SELECT 1") == 1
