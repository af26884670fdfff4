"""The database unreachable: the API says so with a 503 and Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from devstack.ports import free_port
from plans.app import service
from plans.settings import PlansSettings
from shared.clock import ManualClock
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
