"""A plan's life as staff drive it: draft, acknowledge, activate, pause, resume, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Plan, PlanSession, Protocol
from plans.api.schemas import AcknowledgementIn, PlanIn, PlanPatch
from plans.domain.cycle import schedule_cycle
from plans.domain.lifecycle import PlanStatus, SessionStatus
from plans.domain.replanning import plan_paused, plan_resumed
from plans.domain.safety import AcknowledgementMismatch, check_acknowledgement
from plans.use_cases.common import (
    Found,
    Page,
    announce,
    apply_replan,
    clinic_today,
    get_plan,
    paginate,
    plan_for,
    session_states,
)
from plans.use_cases.patients import get_patient
from shared.contracts.plans import (
    CycleScheduled,
    PlanCancelled,
    WindowsChanged,
    WindowsWithdrawn,
)
from shared.problems import Conflict, Unprocessable


async def _protocol_for_new_plan(session: AsyncSession, protocol_id: uuid.UUID) -> Protocol:
    protocol = await session.get(Protocol, protocol_id)
    if protocol is None:
        raise Unprocessable(f"unknown protocol {protocol_id}")
    if protocol.retired_at is not None:
        raise Unprocessable(
            f"protocol {protocol.key} version {protocol.version} is retired; use a newer version"
        )
    return protocol


def _check_areas(protocol: Protocol, areas: Sequence[str]) -> None:
    outside = sorted(set(areas) - set(protocol.areas))
    if outside:
        raise Unprocessable(
            f"protocol {protocol.key} does not treat {', '.join(outside)}; "
            f"it treats {', '.join(protocol.areas)}"
        )


def _check_start(start: date, *, now: datetime, time_zone: str) -> None:
    if start < clinic_today(now, time_zone):
        raise Unprocessable(f"start date {start} is in the past")


async def create_plan(
    session: AsyncSession, *, plan: PlanIn, time_zone: str, now: datetime
) -> Plan:
    """A draft plan for a patient and area(s), on a protocol version; nothing is announced."""
    await get_patient(session, patient_id=plan.patient_id)
    protocol = await _protocol_for_new_plan(session, plan.protocol_id)
    _check_areas(protocol, plan.areas)
    _check_start(plan.start_date, now=now, time_zone=time_zone)
    record = Plan(
        id=uuid.uuid4(),
        **plan.model_dump(),
        status=PlanStatus.DRAFT,
        time_zone=time_zone,
        created_at=now,
        activated_at=None,
        sessions=[],
    )
    session.add(record)
    await session.flush()
    return await get_plan(session, plan_id=record.id)


@dataclass(frozen=True)
class PlanFilter:
    patient_id: uuid.UUID | None = None
    status: tuple[PlanStatus, ...] = ()
    protocol_key: str | None = None
    preferred_practitioner_id: uuid.UUID | None = None


async def list_plans(session: AsyncSession, *, where: PlanFilter, page: Page) -> Found[Plan]:
    """Plans, newest first."""
    query = sa.select(Plan)
    if where.patient_id:
        query = query.where(Plan.patient_id == where.patient_id)
    if where.status:
        query = query.where(Plan.status.in_(where.status))
    if where.protocol_key:
        query = query.where(
            Plan.protocol_id.in_(sa.select(Protocol.id).where(Protocol.key == where.protocol_key))
        )
    if where.preferred_practitioner_id:
        query = query.where(Plan.preferred_practitioner_id == where.preferred_practitioner_id)
    return await paginate(session, query.order_by(Plan.created_at.desc(), Plan.id), page)


async def change_plan(
    session: AsyncSession, *, plan_id: uuid.UUID, changes: PlanPatch, now: datetime
) -> Plan:
    """Change a draft: protocol, areas, start date, preferred practitioner.

    A change of protocol or of the patient's record may need a new acknowledgement.
    """
    plan = await plan_for(session, plan_id, "change")
    sent = changes.model_dump(exclude_unset=True)
    if "protocol_id" in sent:
        if sent["protocol_id"] is None:
            raise Unprocessable("protocol_id cannot be null")
        plan.protocol = await _protocol_for_new_plan(session, sent["protocol_id"])
    if "areas" in sent:
        if sent["areas"] is None:
            raise Unprocessable("areas cannot be null")
        plan.areas = sent["areas"]
    if "start_date" in sent:
        if sent["start_date"] is None:
            raise Unprocessable("start_date cannot be null")
        _check_start(sent["start_date"], now=now, time_zone=plan.time_zone)
        plan.start_date = sent["start_date"]
    if "preferred_practitioner_id" in sent:
        plan.preferred_practitioner_id = sent["preferred_practitioner_id"]
    _check_areas(plan.protocol, plan.areas)
    await session.flush()
    return await get_plan(session, plan_id=plan.id)


async def delete_plan(session: AsyncSession, *, plan_id: uuid.UUID) -> None:
    """Drop a draft: nothing was announced about it, so nothing else needs to know."""
    plan = await plan_for(session, plan_id, "delete")
    await session.delete(plan)


async def acknowledge_safety(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    acknowledgement: AcknowledgementIn,
    by: str,
    now: datetime,
) -> Plan:
    """Record that a staff member read the patient's allergies and medications.

    The lists sent must be the ones on record: acknowledging something else is a 422.
    The acknowledgement holds for the record as it is now; a later change needs another.
    """
    plan = await plan_for(session, plan_id, "acknowledge")
    record = plan.patient.safety()
    try:
        check_acknowledgement(
            record, allergies=acknowledgement.allergies, medications=acknowledgement.medications
        )
    except AcknowledgementMismatch as mismatch:
        raise Unprocessable(
            f"acknowledgement does not match the patient's record: {mismatch}"
        ) from None
    plan.safety_acknowledged_by = by
    plan.safety_acknowledged_at = now
    plan.acknowledged_allergies = list(record.allergies)
    plan.acknowledged_medications = list(record.medications)
    plan.acknowledged_safety = record.fingerprint()
    await session.flush()
    return plan


async def activate_plan(session: AsyncSession, *, plan_id: uuid.UUID, now: datetime) -> Plan:
    """Compute the cycle's windows and announce them: booking opens a request per session.

    Refused (409) while the patient's allergies or medications wait for an acknowledgement.
    """
    plan = await plan_for(session, plan_id, "activate")
    record = plan.patient.safety()
    if record.flagged and plan.acknowledged_safety != record.fingerprint():
        again = " again: the record changed since" if plan.acknowledged_safety else ""
        raise Conflict(
            "the patient has recorded allergies or medications; acknowledge them"
            f"{again} (POST /v1/plans/{plan.id}/acknowledgement) before activating",
            acknowledgement_required=True,
        )
    _check_start(plan.start_date, now=now, time_zone=plan.time_zone)
    protocol = plan.protocol
    windows = schedule_cycle(protocol.cadence(), start=plan.start_date)
    plan.sessions = [
        PlanSession(
            session_number=w.session_number,
            kind=w.kind,
            target_date=w.target_date,
            earliest_date=w.earliest_date,
            latest_date=w.latest_date,
            status=SessionStatus.OPEN,
        )
        for w in windows
    ]
    plan.status = PlanStatus.ACTIVE
    plan.activated_at = now
    scheduled = CycleScheduled(
        plan_id=plan.id,
        patient_id=plan.patient_id,
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        indication=protocol.indication,
        treatment=protocol.name,
        areas=plan.areas,
        session_minutes=protocol.session_minutes,
        numbing_cream_advised=protocol.numbing_cream_advised,
        preferred_practitioner_id=plan.preferred_practitioner_id,
        time_zone=plan.time_zone,
        sessions=list(windows),
        min_gap_days=plan.protocol.min_gap_days,
    )
    await announce(session, patient_id=plan.patient_id, payloads=[scheduled], now=now)
    await session.flush()
    return plan


async def pause_plan(session: AsyncSession, *, plan_id: uuid.UUID, now: datetime) -> Plan:
    """Withdraw the open sessions' windows; booked appointments stay as they are."""
    plan = await plan_for(session, plan_id, "pause")
    replan = plan_paused(session_states(plan))
    apply_replan(plan, replan)
    plan.status = PlanStatus.PAUSED
    plan.paused_at = now
    if replan.statuses:
        withdrawn = WindowsWithdrawn(
            plan_id=plan.id, patient_id=plan.patient_id, session_numbers=sorted(replan.statuses)
        )
        await announce(session, patient_id=plan.patient_id, payloads=[withdrawn], now=now)
    await session.flush()
    return plan


async def resume_plan(
    session: AsyncSession, *, plan_id: uuid.UUID, resume_on: date | None, now: datetime
) -> Plan:
    """Re-plan the withdrawn sessions from ``resume_on`` (today if not given) and reopen them."""
    plan = await plan_for(session, plan_id, "resume")
    today = clinic_today(now, plan.time_zone)
    day = resume_on or today
    if day < today:
        raise Unprocessable(f"resume date {day} is in the past")
    replan = plan_resumed(session_states(plan), plan.protocol.cadence(), on=day)
    plan.status = PlanStatus.ACTIVE
    plan.paused_at = None
    windows = apply_replan(plan, replan)
    if windows:
        changed = WindowsChanged(
            plan_id=plan.id,
            patient_id=plan.patient_id,
            reason="resumed",
            sessions=list(windows),
            min_gap_days=plan.protocol.min_gap_days,
        )
        await announce(session, patient_id=plan.patient_id, payloads=[changed], now=now)
    await session.flush()
    return plan


async def cancel_plan(
    session: AsyncSession, *, plan_id: uuid.UUID, reason: str | None, now: datetime
) -> Plan:
    """End the plan early: booking cancels its open requests and future appointments."""
    plan = await plan_for(session, plan_id, "cancel")
    announced = plan.status != PlanStatus.DRAFT
    for planned in plan.sessions:
        if planned.status in (SessionStatus.OPEN, SessionStatus.BOOKED, SessionStatus.WITHDRAWN):
            planned.status = SessionStatus.CANCELLED
    plan.status = PlanStatus.CANCELLED
    plan.cancel_reason = reason
    plan.ended_at = now
    if announced:
        cancelled = PlanCancelled(plan_id=plan.id, patient_id=plan.patient_id, reason=reason)
        await announce(session, patient_id=plan.patient_id, payloads=[cancelled], now=now)
    await session.flush()
    return plan
