"""The whole system as production lays it out, on a broker and a database of its own,
so that the fault tests may stop, freeze and restart them.

Every worker (outbox relays, consumers, notify's dispatcher...) runs in a process of its
own with a health port, as in deploy/k8s. The run's shared broker and database are not
touched: other stacks of the run keep using them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.demo import seed
from devstack.infra import postgres_server, postgres_stopped
from devstack.kafka import apache_kafka
from devstack.ports import free_port
from devstack.stack import Stack, running_stack, service_databases
from tests.clock import TEST_NOW
from tests.e2e.conftest import eventually, staff_client

#: Seconds of waiting events without a commit after which /readyz says a consumer stalls:
#: shorter than production's 60 so that the paused-consumer test is quick.
STALL_SECONDS = 20


@dataclass
class System:
    """The stack, its clinic, and the broker and database under it, to break."""

    stack: Stack
    clinic: dict[str, Any]
    broker_dir: Path
    broker_port: int
    postgres_dir: Path
    broker: contextlib.ExitStack

    def stop_broker(self) -> None:
        self.broker.close()

    def start_broker(self) -> None:
        self.broker = _broker(self.broker_dir, self.broker_port)

    @contextlib.contextmanager
    def broker_frozen(self) -> Iterator[None]:
        """The broker's process stopped (SIGSTOP) as a long GC pause or a hung VM would:
        connections stay open and nothing answers on them."""
        pid = int((self.broker_dir / "broker.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def database_stopped(self) -> contextlib.AbstractContextManager[None]:
        return postgres_stopped(self.postgres_dir)

    def kill(self, *names: str) -> None:
        """kill -9 the named processes, as an OOM kill or a lost node would."""
        for name in names:
            process = self.stack.processes[name]
            process.kill()
            process.wait()


def _broker(data_dir: Path, port: int) -> contextlib.ExitStack:
    broker = contextlib.ExitStack()
    broker.enter_context(apache_kafka(data_dir, data_dir / "logs", port=port))
    return broker


@pytest.fixture(scope="package")
def system(workdir: Path) -> Iterator[System]:
    broker_dir, port, postgres_dir = workdir / "faults-kafka", free_port(), workdir / "faults-pg"
    with (
        postgres_server(postgres_dir) as database_url,
        service_databases(database_url, "faults") as databases,
        contextlib.ExitStack() as cleanup,
    ):
        broker = _broker(broker_dir, port)
        running: System | None = None
        # Whichever broker runs at the end (a test may have restarted it).
        cleanup.callback(lambda: (running.broker if running else broker).close())
        with running_stack(
            workdir / "faults-stack",
            bootstrap_servers=f"127.0.0.1:{port}",
            database_url=database_url,
            extra_env={
                **databases,
                # A few dozen two-segment texts: a long code's 1 segment/s is too slow.
                "NOTIFY_SMS_SEGMENTS_PER_SECOND": "50",
                "CONSUMER_STALL_SECONDS": str(STALL_SECONDS),
            },
            pinned_at=TEST_NOW,
            workers_apart=True,
        ) as stack:
            clinic = seed(stack, workdir / "faults-seeded.json")
            running = System(stack, clinic, broker_dir, port, postgres_dir, broker)
            yield running


@pytest.fixture
async def staff(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with staff_client(system.stack) as client:
        yield client


async def readiness(
    url: str, ready: bool, *, failing: str = "", reason: str = "", within: float = 30
) -> Any:
    """Wait until ``url``'s /readyz says ``ready``, or not ready with its check ``failing``
    failing for a ``reason`` that has those words; return what it said."""

    async def answers() -> Any:
        async with httpx.AsyncClient(timeout=5) as client:
            try:
                answer = await client.get(f"{url}/readyz")
            except httpx.HTTPError:
                return None
        checks = answer.json()["checks"]
        if ready:
            return answer.json() if answer.status_code == 200 else None
        failed = answer.status_code == 503 and checks[failing] != "ok"
        return answer.json() if failed and reason in checks[failing] else None

    said = f"not ready ({failing}: {reason})" if not ready else "ready"
    return await eventually(answers, within=within, what=f"{url}/readyz to say {said}")


@contextlib.asynccontextmanager
async def time_passing(stack: Stack, *, speed: float = 20) -> AsyncIterator[None]:
    """The stack's pinned clock moving ``speed`` times faster than real time while the
    block runs: what waits on the clinic's time (a dead dispatcher's lease, the
    reconciler's grace) comes to pass, as it would in production."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.5)
            stack.clock.advance(timedelta(seconds=speed / 2))

    ticking = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking


class Stopwatch:
    """How long recovery took, printed for docs/operations.md (``pytest -s``)."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.started = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.started

    def say(self, what: str) -> None:
        print(f"\n[faults] {self.fault}: {what} after {self.seconds():.1f} s")
