"""The sweeper: expired holds stop blocking even when nobody collides with them, and old
rate-limit counts and idempotency keys are forgotten."""

from __future__ import annotations

import asyncio
import logging

from booking.reactions import unit_of_work
from booking.settings import BookingSettings
from booking.use_cases.retention import forget_idempotency_keys
from booking.use_cases.self_booking import forget_old_hits
from booking.use_cases.steps import expire_holds
from shared.service import Runtime, Worker

log = logging.getLogger(__name__)

SWEEP = "sweep"


def sweeper(runtime: Runtime[BookingSettings]) -> Worker:
    settings = runtime.settings

    async def sweep() -> None:
        while True:
            expired = await sweep_once(runtime, settings)
            if expired:
                log.info("expired %d holds", expired)
                continue  # maybe more than one batch
            await asyncio.sleep(settings.sweep_seconds)

    return sweep


async def sweep_once(runtime: Runtime[BookingSettings], settings: BookingSettings) -> int:
    """One pass, in one transaction; returns how many holds it expired."""
    async with runtime.sessions.begin() as session:
        now = runtime.clock.now()
        expired = await expire_holds(unit_of_work(session, settings, now))
        await forget_old_hits(session, now=now)
        await forget_idempotency_keys(session, before=now - settings.idempotency_key_ttl)
    return expired
