"""The broker stops and comes back: nothing written meanwhile or after is lost.

The whole system on a broker of this test's own (the run's broker is not to be stopped),
which keeps its log across the restart as production's does. Patients registered and
plans activated while the broker is down are published once it is back; the consumers
find it again by themselves, and every plan gets its booking requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.demo import seed
from devstack.infra import free_port
from devstack.kafka import apache_kafka
from devstack.stack import Stack
from tests.e2e.conftest import eventually, isolated_stack, paris_today, staff_client
from tests.e2e.test_plan_to_sms import new_patient, open_requests

PLANS = 4


@contextlib.contextmanager
def restartable_broker(workdir: Path) -> Iterator[tuple[str, Any]]:
    """A broker on a fixed port and data dir, and a function that restarts it."""
    port = free_port()
    running: list[contextlib.AbstractContextManager[str]] = []

    def start() -> str:
        broker = apache_kafka(workdir / "faults-kafka", workdir / "faults-logs", port=port)
        servers = broker.__enter__()
        running.append(broker)
        return servers

    def stop() -> None:
        running.pop().__exit__(None, None, None)

    servers = start()
    try:
        yield servers, (stop, start)
    finally:
        while running:
            stop()


async def activated_plan(
    stack: Stack, staff: httpx.AsyncClient, clinic: dict[str, Any], n: int
) -> str:
    patient = await new_patient(staff, stack, f"+3365000{n:04d}")
    start = paris_today(stack) + timedelta(days=2)
    plan = await staff.post(f"{stack.urls['plans']}/v1/plans", json={
        "patient_id": patient["id"], "protocol_id": clinic["protocol_ids"]["medical"],
        "areas": ["back"], "start_date": start.isoformat(),
    })  # fmt: skip
    activated = await staff.post(f"{stack.urls['plans']}/v1/plans/{plan.json()['id']}/activate")
    assert activated.status_code == 200, activated.text
    patient_id: str = patient["id"]
    return patient_id


@dataclass(frozen=True)
class System:
    stack: Stack
    stop_broker: Callable[[], None]
    start_broker: Callable[[], str]


@pytest.fixture(scope="module")
def system(workdir: Path, database_server: str, run_id: str) -> Iterator[System]:
    with (
        restartable_broker(workdir) as (servers, (stop, start)),
        isolated_stack(workdir, servers, database_server, f"faults_{run_id}") as stack,
    ):
        yield System(stack, stop, start)


async def test_a_broker_restart_loses_nothing_and_the_consumers_come_back_by_themselves(
    system: System, workdir: Path
) -> None:
    stack, stop, start = system.stack, system.stop_broker, system.start_broker
    clinic = await asyncio.to_thread(seed, stack, workdir / "faults-seeded.json")
    async with staff_client(stack) as staff:
        before = [await activated_plan(stack, staff, clinic, n) for n in range(PLANS)]
        for patient_id in before:
            await open_requests(staff, stack, patient_id, count=5)

        await asyncio.to_thread(stop)
        await _readiness(stack, 503)  # says the broker is gone
        # Written while the broker is away: committed, waiting in the outboxes.
        during = [await activated_plan(stack, staff, clinic, n) for n in range(10, 10 + PLANS)]
        await asyncio.to_thread(start)
        await _readiness(stack, 200)
        after = [await activated_plan(stack, staff, clinic, n) for n in range(20, 20 + PLANS)]

        # The consumers find the broker again by themselves, within 30 s.
        for patient_id in during + after:

            async def requested(patient_id: str = patient_id) -> bool:
                return await _requests(staff, stack, patient_id)

            await eventually(requested, within=30, what=f"the booking requests of {patient_id}")


async def _requests(staff: httpx.AsyncClient, stack: Stack, patient_id: str) -> bool:
    found = await staff.get(
        f"{stack.urls['booking']}/v1/booking-requests", params={"patient_id": patient_id}
    )
    return len(found.json()) == 5


async def _readiness(stack: Stack, status: int) -> None:
    async def answers() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            ready = await client.get(f"{stack.urls['plans']}/readyz")
        if status == 503:
            return ready.status_code == 503 and ready.json()["checks"]["broker"] != "ok"
        return ready.status_code == status

    await eventually(answers, within=30, what=f"plans' /readyz to answer {status}")
