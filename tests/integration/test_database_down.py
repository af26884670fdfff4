"""The database unreachable: the API says so with a 503 and Retry-After, never a 500; a
pooled connection the server dropped is replaced before use."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from devstack.ports import free_port
from plans.app import service
from plans.settings import PlansSettings
from shared.clock import ManualClock
from shared.db import create_engine
from shared.settings import DEV_JWT_SECRET
from tests.clock import TEST_NOW, StaffAuth


@pytest.mark.parametrize(
    "nobody",
    [
        pytest.param(lambda: f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/plans",
                     id="tcp-refused"),
        # A server on a Unix socket removes it when it stops.
        pytest.param(lambda: "postgresql+asyncpg://postgres@/plans?host=/nonexistent/pg",
                     id="unix-socket-gone"),
    ],
)  # fmt: skip
async def test_a_write_while_the_database_is_unreachable_is_a_503_to_retry(
    bootstrap_servers: str, nobody: Callable[[], str]
) -> None:
    settings = PlansSettings.model_validate(
        {"database_url": nobody(), "kafka_bootstrap_servers": bootstrap_servers,
         "environment": "test", "jwt_secret": DEV_JWT_SECRET}
    )  # fmt: skip
    clock = ManualClock(TEST_NOW)
    app = service(settings, clock).app(workers=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://plans", auth=StaffAuth(DEV_JWT_SECRET, clock)
        ) as client:
            created = await client.post("/v1/patients", json={
                "full_name": "Léa Martin", "phone": "+33611223344", "time_zone": "Europe/Paris",
                "language": "fr", "sms_consent": True, "needle_sensitive": False,
            })  # fmt: skip
            ready = await client.get("/readyz")
    assert created.status_code == 503, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert created.headers["retry-after"] == "5"
    assert "database" in created.json()["detail"]
    assert ready.status_code == 503


@pytest.mark.parametrize(
    ("pre_ping", "ping_after_idle", "replaced"),
    [
        pytest.param(True, 0.0, True, id="pinged"),
        # Used a moment ago (within the window): not pinged, as under load, but the driver
        # saw its end.
        pytest.param(True, 3600.0, True, id="used-within-the-window"),
        pytest.param(False, 0.0, False, id="no-pre-ping"),
    ],
)
async def test_a_pooled_connection_the_server_dropped_is_replaced_before_use_when_pinged(
    fresh_database: str, pre_ping: bool, ping_after_idle: float, replaced: bool
) -> None:
    """The server ends a pooled connection (a restart, an idle timeout): at the next
    checkout, a connection idle for ``ping_after_idle`` is pinged (one round trip finds it
    gone) and one used within that moment is not, but the driver saw its end: either way a
    new one is used. Without the pre-ping one use fails first (the documented cost of
    BOOKING_DB_POOL_PRE_PING=false)."""
    engine = create_engine(
        fresh_database, pool_size=1, pre_ping=pre_ping, ping_after_idle=ping_after_idle
    )
    admin = create_engine(fresh_database, pool_size=1)
    try:
        async with engine.connect() as first:
            pid = await first.scalar(sa.text("SELECT pg_backend_pid()"))
        async with admin.connect() as other:
            # Waits (up to 10 s) until the backend is gone.
            ended = sa.text("SELECT pg_terminate_backend(:pid, 10000)")
            assert await other.scalar(ended, {"pid": pid})
        try:
            async with engine.connect() as again:
                now_pid = await again.scalar(sa.text("SELECT pg_backend_pid()"))
        except DBAPIError:
            assert not replaced, "a dropped connection was used though it was pinged"
            # The pool then drops it: the next use works.
            async with engine.connect() as after:
                assert await after.scalar(sa.text("SELECT pg_backend_pid()")) != pid
        else:
            assert replaced, "a dropped connection was used without failing"
            assert now_pid != pid
    finally:
        await engine.dispose()
        await admin.dispose()


@pytest.mark.parametrize(("ping_after_idle", "pinged"), [(0.0, True), (3600.0, False)])
async def test_a_connection_used_within_the_window_is_not_pinged(
    fresh_database: str, ping_after_idle: float, pinged: bool
) -> None:
    """Under load every connection was used a moment ago: its checkout costs no round trip."""
    engine = create_engine(fresh_database, pool_size=1, ping_after_idle=ping_after_idle)
    sent: list[str] = []
    try:
        async with engine.connect() as first:
            raw = await first.get_raw_connection()
            raw.driver_connection.add_query_logger(  # type: ignore[union-attr]
                lambda record: sent.append(record.query)
            )
        async with engine.connect() as again:
            await again.scalar(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    assert (";" in sent) is pinged, sent
