"""One loop for the workers that do their work in passes (pruning, the hold sweeper,
notify's reconciler and policy re-planner): a pass, then a pause, until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def in_passes(
    one_pass: Callable[[], Awaitable[int]],
    *,
    interval: float,
    done: str,
    full: int | None = None,
) -> None:
    """Run ``one_pass`` until cancelled; it returns how much it did, logged as ``done``
    ("expired %d holds"). The next pass comes after ``interval`` seconds, or at once when
    this one did ``full`` (a whole batch: more may be waiting)."""
    while True:
        did = await one_pass()
        if did:
            log.info(done, did)
        if full is None or did < full:
            await asyncio.sleep(interval)
