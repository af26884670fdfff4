"""A worker that crashes is restarted, and /readyz says so while it is down."""

from __future__ import annotations

import asyncio

import pytest

from shared.observability import NotReady
from shared.service import Supervised


async def test_a_crashed_worker_is_not_ready_until_restarted_and_running() -> None:
    runs = 0
    running = asyncio.Event()

    async def worker() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ConnectionResetError("broker went away")
        running.set()
        await asyncio.Event().wait()

    supervised = Supervised("consume", worker, pause=0.2)
    await asyncio.sleep(0.05)  # it has crashed and waits to be restarted
    with pytest.raises(NotReady, match=r"consume crashed \(ConnectionResetError: broker went"):
        supervised.check()
    await asyncio.wait_for(running.wait(), timeout=5)
    supervised.check()  # running again
    assert runs == 2
    supervised.task.cancel()


async def test_a_worker_that_returned_is_not_ready() -> None:
    async def worker() -> None:
        return

    supervised = Supervised("relay", worker)
    await supervised.task
    with pytest.raises(NotReady, match="relay has stopped"):
        supervised.check()
