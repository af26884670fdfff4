"""The base of every worker that works in passes: the outbox relay, notify's dispatcher,
reconciler and policy re-planner, booking's hold sweeper, the pruner.

A pass, then a pause, until cancelled. The pause lasts ``interval`` seconds, ends early
when something calls :meth:`Periodic.wake` (the relay's LISTEN), ``linger`` seconds after
the call (so that one pass takes what comes meanwhile), and is skipped when the pass says
more may be waiting (it did a whole batch). A pass the database's absence
fails (a restart, a failover) is tried again after the pause: the worker stays up, and
keeps what it holds in memory (the dispatcher's outcomes not yet recorded); readiness
says the database is down meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared.db import is_connection_loss

log = logging.getLogger(__name__)


class Periodic:
    """Subclasses say what one pass does (:meth:`one_pass`, returning how much it did)."""

    #: Logged after a pass that did something, with how much ("expired %d holds").
    done: str | None = None

    def __init__(self, *, interval: float, full: int | None = None, linger: float = 0.0) -> None:
        #: Seconds between passes.
        self.interval = interval
        #: A pass that did this much did a whole batch: the next comes at once.
        self.full = full
        #: Seconds a wake-up waits before its pass, for more work to come with it.
        self.linger = linger
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
            try:
                did = await self.one_pass()
            except Exception as error:
                if not is_connection_loss(error):
                    raise
                log.warning(
                    "%s: the database is unreachable (%s); trying again",
                    type(self).__name__, type(error).__name__,
                )  # fmt: skip
                did = 0
            if did and self.done:
                log.info(self.done, did)
            if not self.more_waiting(did):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
                    await asyncio.sleep(self.linger)
