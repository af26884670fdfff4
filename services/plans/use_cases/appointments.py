"""The plan follows reality: what booking's appointment events do to a plan's sessions.

Each runs in the consumer's transaction (with the event id recorded), so a
redelivered event changes nothing. Appointments of a plan this service does not
know, or without a session number, are none of its business and are skipped. An
event older than the one already applied for the same appointment is skipped too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Plan, PlanSession
from plans.domain.cycle import clinic_date
from plans.domain.lifecycle import PlanStatus, SessionStatus
from plans.domain.replanning import session_completed, session_missed
from plans.use_cases.common import (
    announce,
    apply_replan,
    clinic_today,
    locked_plan,
    session_states,
)
from shared.contracts.booking import AppointmentSnapshot
from shared.contracts.plans import PlanCompleted, WindowsChanged, WindowsWithdrawn

log = logging.getLogger(__name__)

FOLLOWED = (PlanStatus.ACTIVE, PlanStatus.PAUSED)


async def _session_of(
    session: AsyncSession, appointment: AppointmentSnapshot
) -> tuple[Plan, PlanSession] | None:
    if appointment.plan_id is None or appointment.session_number is None:
        return None
    plan = await locked_plan(session, appointment.plan_id)
    if plan is None or plan.status not in FOLLOWED:
        return None
    planned = next(
        (s for s in plan.sessions if s.session_number == appointment.session_number), None
    )
    if planned is None:
        log.warning(
            "appointment %s names a session its plan does not have", appointment.appointment_id
        )
        return None
    if (
        planned.appointment_id == appointment.appointment_id
        and planned.appointment_version is not None
        and appointment.version < planned.appointment_version
    ):
        return None  # a late, older copy of an appointment already followed
    return plan, planned


def _remember(planned: PlanSession, appointment: AppointmentSnapshot) -> None:
    planned.appointment_id = appointment.appointment_id
    planned.appointment_version = appointment.version
    planned.appointment_starts_at = appointment.starts_at


async def session_booked(session: AsyncSession, *, appointment: AppointmentSnapshot) -> None:
    """An appointment is booked (or moved, confirmed, checked in) for a session."""
    found = await _session_of(session, appointment)
    if found is None:
        return
    _, planned = found
    if planned.status in (SessionStatus.OPEN, SessionStatus.BOOKED, SessionStatus.WITHDRAWN):
        planned.status = SessionStatus.BOOKED
        _remember(planned, appointment)


async def session_done(
    session: AsyncSession, *, appointment: AppointmentSnapshot, now: datetime
) -> None:
    """The session took place: later windows re-anchor to its date; the last completes the plan."""
    found = await _session_of(session, appointment)
    if found is None:
        return
    plan, planned = found
    if planned.status in (SessionStatus.COMPLETED, SessionStatus.SKIPPED):
        return
    on = clinic_date(appointment.starts_at, plan.time_zone)
    replan = session_completed(
        session_states(plan), plan.protocol.cadence(), number=planned.session_number, on=on
    )
    _remember(planned, appointment)
    planned.completed_on = on
    windows = apply_replan(plan, replan)
    payloads: list[WindowsChanged | PlanCompleted] = []
    if windows:
        payloads.append(
            WindowsChanged(
                plan_id=plan.id,
                patient_id=plan.patient_id,
                reason="reanchored",
                sessions=list(windows),
                min_gap_days=plan.protocol.min_gap_days,
            )
        )
    if replan.plan_completed:
        plan.status = PlanStatus.COMPLETED
        plan.ended_at = now
        payloads.append(PlanCompleted(plan_id=plan.id, patient_id=plan.patient_id))
    await announce(session, patient_id=plan.patient_id, payloads=payloads, now=now)


async def session_missed_or_cancelled(
    session: AsyncSession, *, appointment: AppointmentSnapshot, no_show: bool, now: datetime
) -> None:
    """The session's appointment will not happen: its window reopens (from tomorrow after
    a no-show, from today after a cancellation), and later windows follow if it moves.

    Only the appointment the session is booked with counts: a hold that expired, or an
    older appointment already replaced, changes nothing.
    """
    found = await _session_of(session, appointment)
    if found is None:
        return
    plan, planned = found
    if (
        planned.appointment_id != appointment.appointment_id
        or planned.status != SessionStatus.BOOKED
    ):
        return
    _remember(planned, appointment)
    if no_show:
        planned.missed_count += 1
    if plan.status == PlanStatus.PAUSED:
        # Resuming reopens it with the others; until then booking must not offer it
        # (it reopened the request when the appointment went).
        planned.status = SessionStatus.WITHDRAWN
        withdrawn = WindowsWithdrawn(
            plan_id=plan.id, patient_id=plan.patient_id, session_numbers=[planned.session_number]
        )
        await announce(session, patient_id=plan.patient_id, payloads=[withdrawn], now=now)
        return
    today = clinic_today(now, plan.time_zone)
    not_before = today
    if no_show:
        not_before = max(today, clinic_date(appointment.starts_at, plan.time_zone) + timedelta(1))
    replan = session_missed(
        session_states(plan),
        plan.protocol.cadence(),
        number=planned.session_number,
        not_before=not_before,
    )
    windows = apply_replan(plan, replan)
    changed = WindowsChanged(
        plan_id=plan.id,
        patient_id=plan.patient_id,
        reason="reopened",
        sessions=list(windows),
        min_gap_days=plan.protocol.min_gap_days,
    )
    await announce(session, patient_id=plan.patient_id, payloads=[changed], now=now)
