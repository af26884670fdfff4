"""The sweeper: expired holds stop blocking even when nobody collides with them, and old
rate-limit counts and idempotency keys are forgotten."""

from __future__ import annotations

from booking.reactions import unit_of_work
from booking.settings import BookingSettings
from booking.use_cases.retention import forget_idempotency_keys
from booking.use_cases.self_booking import forget_old_hits
from booking.use_cases.steps import expire_holds
from shared.periodic import in_passes
from shared.service import Runtime, Worker

SWEEP = "sweep"


def sweeper(runtime: Runtime[BookingSettings]) -> Worker:
    settings = runtime.settings

    async def sweep() -> None:
        # Again at once after any expiry: there may be more than one batch.
        await in_passes(
            lambda: sweep_once(runtime, settings), interval=settings.sweep_seconds,
            done="expired %d holds", full=1,
        )  # fmt: skip

    return sweep


async def sweep_once(runtime: Runtime[BookingSettings], settings: BookingSettings) -> int:
    """One pass, in one transaction; returns how many holds it expired."""
    async with runtime.sessions.begin() as session:
        now = runtime.clock.now()
        expired = await expire_holds(unit_of_work(session, settings, now))
        await forget_old_hits(session, now=now)
        await forget_idempotency_keys(session, before=now - settings.idempotency_key_ttl)
    return expired
