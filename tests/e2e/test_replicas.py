"""Two replicas of every service on one broker, as production runs them.

Each replica is a whole process (API, outbox relay, consumers and, in notify, the
dispatcher). A few dozen patient flows run while the second replica of every service is
stopped and started again, so every consumer group rebalances twice, in the middle of the
work. Afterwards the same invariants hold as with one replica: every booking request
exists once, every booked session got exactly one confirmation SMS, no two appointments
overlap, the outboxes are drained, and both replicas did work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.demo import seed
from devstack.stack import SERVICES, Stack
from tests.e2e.conftest import isolated_stack, staff_client
from tests.e2e.flows import Flow, assert_flows_hold, patient_flow

#: Flows per phase: both replicas up, the second one stopping, both up again.
PER_PHASE = 12


@pytest.fixture(scope="module")
def replicas(
    workdir: Path, bootstrap_servers: str, database_server: str, run_id: str
) -> Iterator[Stack]:
    with isolated_stack(
        workdir, bootstrap_servers, database_server, f"replica_{run_id}", replicas=2,
        # 72 two-segment texts: a long code's 1 segment/s would take minutes.
        env={"NOTIFY_SMS_SEGMENTS_PER_SECOND": "50"},
    ) as stack:  # fmt: skip
        yield stack


@pytest.fixture(scope="module")
def clinic(replicas: Stack, workdir: Path) -> dict[str, Any]:
    return seed(replicas, workdir / "replica-seeded.json")


@pytest.fixture
async def staff(replicas: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with staff_client(replicas) as client:
        yield client


async def test_two_replicas_of_every_service_lose_and_duplicate_nothing_across_a_rebalance(
    replicas: Stack, clinic: dict[str, Any], staff: httpx.AsyncClient
) -> None:
    stack = replicas
    seconds = [f"{service}-2" for service in SERVICES]

    def phase(first: int, replica_of: Any) -> list[asyncio.Task[Flow]]:
        return [
            asyncio.create_task(patient_flow(stack, staff, clinic, n, replica_of(n)))
            for n in range(first, first + PER_PHASE)
        ]

    flows = await asyncio.gather(*phase(0, lambda n: n % 2))
    before_the_stop = await _work(stack)
    # The second replicas stop while events of the next flows are on their way.
    stopping = phase(PER_PHASE, lambda n: 0)
    await asyncio.to_thread(stack.stop, *seconds)
    flows += await asyncio.gather(*stopping)
    await asyncio.to_thread(stack.start, *seconds)
    flows += await asyncio.gather(*phase(2 * PER_PHASE, lambda n: n % 2))

    await assert_flows_hold(stack, staff, flows)
    # Each replica's consumer and relay did their part: before the second ones stopped,
    # or since they started again (their counters start from zero then).
    after = await _work(stack)
    for process, done in after.items():
        for name in ("events_applied_total", "outbox_published_total"):
            assert done[name] + before_the_stop[process][name] > 0, (process, name, after)
    assert sum(after[p]["sms_sent_total"] for p in stack.replicas("notify")) > 0, after


def _metric(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in a Prometheus text page."""
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


async def _work(stack: Stack) -> dict[str, dict[str, float]]:
    """What each replica has done so far, from its own /metrics."""
    work: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            for process in stack.replicas(service):
                page = (await client.get(f"{stack.urls[process]}/metrics")).text
                work[process] = {
                    name: _metric(page, name)
                    for name in ("events_applied_total", "outbox_published_total",
                                 "sms_sent_total")
                }  # fmt: skip
    return work
