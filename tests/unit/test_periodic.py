"""The base of the workers that work in passes: when the next pass comes, and what a
pass that fails does to the worker."""

from __future__ import annotations

import asyncio

import pytest

from shared.periodic import Periodic


class Counting(Periodic):
    """Does ``plan[i]`` on its i-th pass (a number of rows, or an error to raise); the
    pass after the plan ends the run (CancelledError, as a stopping service does)."""

    def __init__(self, plan: list[int | BaseException], *, full: int | None = None) -> None:
        super().__init__(interval=0.01, full=full)
        self.plan = plan
        self.passes = 0
        self.planned = asyncio.Event()  # set once every planned pass was made

    async def one_pass(self) -> int:
        if self.passes == len(self.plan):
            raise asyncio.CancelledError
        step = self.plan[self.passes]
        self.passes += 1
        if self.passes == len(self.plan):
            self.planned.set()
        if isinstance(step, BaseException):
            raise step
        return step


async def test_a_pass_the_database_was_gone_for_is_tried_again_and_the_worker_stays_up() -> None:
    worker = Counting([ConnectionRefusedError("the database restarts"), 3])
    with pytest.raises(asyncio.CancelledError):
        await worker.run()
    assert worker.passes == 2


async def test_any_other_failure_ends_the_worker_for_its_supervisor_to_restart() -> None:
    worker = Counting([ValueError("a bug"), 3])
    with pytest.raises(ValueError, match="a bug"):
        await worker.run()
    assert worker.passes == 1


async def test_a_whole_batch_is_followed_at_once_and_a_wake_up_cuts_the_pause_short() -> None:
    worker = Counting([5, 5, 1], full=5)
    worker.interval = 3600.0  # a pause would outlast the test: only no pause, or a wake-up
    running = asyncio.create_task(worker.run())
    # Two whole batches, then one that leaves the worker waiting.
    await asyncio.wait_for(worker.planned.wait(), 5)
    await asyncio.sleep(0.05)
    assert not running.done()
    worker.wake()  # the next pass (the end of the plan) comes now, not in an hour
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 5)
