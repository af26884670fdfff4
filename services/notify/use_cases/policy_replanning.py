"""A saved policy re-plans the pending messages of every upcoming appointment.

In bounded batches, one transaction each, by the ``replan`` worker
(``workers/replanner.py``): saving a policy stays quick however many appointments lie
ahead, and a batch holds few row locks for long.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Appointment
from notify.use_cases.clinic_policy import load_policy_revision
from notify.use_cases.scheduling import Clinic, replan
from shared.contracts.booking import UPCOMING


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
