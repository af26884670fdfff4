"""The sweeper: expired holds stop blocking even when nobody collides with them, offers
past their claim window go to the next patient, and old rate-limit counts and
idempotency keys are forgotten."""

from __future__ import annotations

from booking.settings import BookingSettings
from booking.use_cases.offers import expire_offers
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.retention import forget_idempotency_keys
from booking.use_cases.self_booking import forget_old_hits
from booking.use_cases.steps import expire_holds
from shared.periodic import Periodic
from shared.service import Runtime, Worker

SWEEP = "sweep"


class Sweeper(Periodic):
    """One pass, one transaction; again at once after any expiry (more may be waiting)."""

    done = "expired %d holds"

    def __init__(self, runtime: Runtime[BookingSettings]) -> None:
        super().__init__(interval=runtime.settings.sweep_seconds, full=1)
        self._runtime = runtime

    async def one_pass(self) -> int:
        """Returns how many holds it expired."""
        runtime, settings = self._runtime, self._runtime.settings
        async with runtime.sessions.begin() as session:
            now = runtime.clock.now()
            uow = unit_of_work(session, settings, now)
            expired = await expire_holds(uow)
            await expire_offers(uow)
            await forget_old_hits(session, now=now)
            await forget_idempotency_keys(session, before=now - settings.idempotency_key_ttl)
        return expired


def sweeper(runtime: Runtime[BookingSettings]) -> Worker:
    return Sweeper(runtime).run
