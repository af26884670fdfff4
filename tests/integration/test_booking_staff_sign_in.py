"""Staff sign-in hands back every database connection it takes: a sign-in once left its
account read on a session already closed, which opened a transaction nobody closed. Its
connection was found only by the garbage collector, so each sign-in held one more of
the pool until then (a board whose staff sign in often ran out)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from tests.utils.booking import Booking, running_booking

PASSWORD = "a long enough staff password"


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        yield running


async def test_signing_in_right_or_wrong_gives_back_every_connection(booking: Booking) -> None:
    created = await booking.post("/v1/staff-accounts", {
        "email": "desk@clinic.example", "display_name": "Front desk", "role": "staff",
        "password": PASSWORD,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    taken: list[object] = []
    given_back: list[object] = []
    pool = booking.runtime.engine.sync_engine
    sa.event.listen(pool, "checkout", lambda _c, record, _p: taken.append(record))
    sa.event.listen(pool, "checkin", lambda _c, record: given_back.append(record))
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        for password, status in ((PASSWORD, 200), ("not the password", 401), (PASSWORD, 200)):
            signed_in = await booking.post(
                "/v1/auth/login", {"email": "desk@clinic.example", "password": password}
            )
            assert signed_in.status_code == status, signed_in.text
        gc.collect()
    leaks = [str(w.message) for w in warned if "non-checked-in" in str(w.message)]
    assert not leaks, leaks
    assert len(given_back) == len(taken) > 0
    assert booking.runtime.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
