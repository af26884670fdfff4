"""A saved policy re-plans the pending messages of every upcoming appointment.

In bounded batches, one transaction each, by the ``replan`` worker: saving a policy stays
quick however many appointments lie ahead, and a batch holds few row locks for long.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.db import Appointment
from notify.use_cases.clinic_policy import load_policy_revision
from notify.use_cases.scheduling import Clinic, replan
from shared.clock import Clock
from shared.contracts.booking import UPCOMING
from shared.periodic import in_passes


async def replan_under_new_policy(
    session: AsyncSession, *, clinic: Clinic, now: datetime, limit: int = 100
) -> int:
    """Re-plan up to ``limit`` upcoming appointments planned under an older policy revision.

    Returns how many were re-planned (fewer than ``limit``: none is left). Appointments a
    consumer is re-planning at the same moment are skipped (``SKIP LOCKED``) and taken
    by a later batch if that consumer did not already plan them under the new revision.
    """
    _, revision = await load_policy_revision(session)
    stale = list(
        await session.scalars(
            sa.select(Appointment.id)
            .where(
                Appointment.status.in_(UPCOMING),
                Appointment.starts_at > now,
                Appointment.policy_revision < revision,
            )
            .order_by(Appointment.starts_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for appointment_id in stale:
        await replan(
            session,
            appointment_id=appointment_id,
            change=None,
            why="the message policy changed",
            clinic=clinic,
            now=now,
        )
    return len(stale)


class PolicyReplanner:
    """The ``replan`` worker: after a policy change, batches until nothing is stale."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clinic: Clinic,
        clock: Clock,
        batch_size: int = 100,
        interval: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._clinic = clinic
        self._clock = clock
        self._batch_size = batch_size
        self._interval = interval

    async def run(self) -> None:
        """Re-plan until cancelled."""
        await in_passes(
            self.replan_once, interval=self._interval, full=self._batch_size,
            done="re-planned %d appointments under the new message policy",
        )  # fmt: skip

    async def replan_once(self) -> int:
        async with self._sessions.begin() as session:
            return await replan_under_new_policy(
                session, clinic=self._clinic, now=self._clock.now(), limit=self._batch_size
            )
