"""The base of every worker that works in passes: the outbox relay, notify's dispatcher,
reconciler and policy re-planner, booking's hold sweeper, the pruner.

A pass, then a pause, until cancelled. The pause lasts ``interval`` seconds, ends early
when something calls :meth:`Periodic.wake` (the relay's LISTEN), and is skipped when the
pass says more may be waiting (it did a whole batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Periodic:
    """Subclasses say what one pass does (:meth:`one_pass`, returning how much it did)."""

    #: Logged after a pass that did something, with how much ("expired %d holds").
    done: str | None = None

    def __init__(self, *, interval: float, full: int | None = None) -> None:
        #: Seconds between passes.
        self.interval = interval
        #: A pass that did this much did a whole batch: the next comes at once.
        self.full = full
        self._wake = asyncio.Event()

    async def one_pass(self) -> int:
        raise NotImplementedError

    def more_waiting(self, did: int) -> bool:
        """Whether the next pass comes at once, after one that did ``did``."""
        return self.full is not None and did >= self.full

    def wake(self) -> None:
        """Cut the current pause short: there is work."""
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass, until cancelled."""
        while True:
            # Cleared before the pass: a wake-up that comes during it is not lost.
            self._wake.clear()
            did = await self.one_pass()
            if did and self.done:
                log.info(self.done, did)
            if not self.more_waiting(did):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
