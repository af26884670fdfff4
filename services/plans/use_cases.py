"""What staff do with patients and plans: one transaction each, events included."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.db import Patient, Plan, PlanSession, Protocol, outbox
from plans.domain.cycle import schedule_cycle
from plans.schemas import PatientIn, PlanIn
from shared.contracts.plans import CycleScheduled, PatientRegistered, SessionWindow
from shared.events import new_event
from shared.outbox import add_events
from shared.problems import Conflict, NotFound, Unprocessable

SOURCE = "/mesocycle/plans"


async def register_patient(session: AsyncSession, *, patient: PatientIn, now: datetime) -> Patient:
    """Record a new patient and tell booking and notify about them."""
    record = Patient(
        id=uuid.uuid4(),
        **patient.model_dump(),
        sms_consent_at=now if patient.sms_consent else None,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    await session.flush()
    contact = PatientRegistered(
        patient_id=record.id,
        full_name=record.full_name,
        phone=record.phone,
        time_zone=record.time_zone,
        language=record.language,
        sms_consent=record.sms_consent,
        needle_sensitive=record.needle_sensitive,
    )
    await add_events(
        session, outbox, [new_event(contact, source=SOURCE, key=str(record.id), now=now)]
    )
    return record


async def get_patient(session: AsyncSession, *, patient_id: uuid.UUID) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    return patient


async def list_protocols(session: AsyncSession) -> list[Protocol]:
    result = await session.scalars(sa.select(Protocol).order_by(Protocol.name, Protocol.version))
    return list(result)


async def create_plan(
    session: AsyncSession, *, plan: PlanIn, time_zone: str, now: datetime
) -> Plan:
    """A draft plan for a patient and area(s), on a protocol version."""
    await get_patient(session, patient_id=plan.patient_id)
    protocol = await session.get(Protocol, plan.protocol_id)
    if protocol is None:
        raise Unprocessable(f"unknown protocol {plan.protocol_id}")
    outside = sorted(set(plan.areas) - set(protocol.areas))
    if outside:
        raise Unprocessable(
            f"protocol {protocol.name} does not treat {', '.join(outside)}; "
            f"it treats {', '.join(protocol.areas)}"
        )
    if plan.start_date < now.astimezone(ZoneInfo(time_zone)).date():
        raise Unprocessable(f"start date {plan.start_date} is in the past")
    record = Plan(
        id=uuid.uuid4(),
        **plan.model_dump(),
        status="draft",
        time_zone=time_zone,
        created_at=now,
        activated_at=None,
        sessions=[],
    )
    session.add(record)
    await session.flush()
    return await get_plan(session, plan_id=record.id)


async def get_plan(session: AsyncSession, *, plan_id: uuid.UUID) -> Plan:
    plan = await session.get(Plan, plan_id, populate_existing=True)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    return plan


async def activate_plan(session: AsyncSession, *, plan_id: uuid.UUID, now: datetime) -> Plan:
    """Compute the cycle's windows and announce them: booking opens a request per session."""
    plan = await session.get(Plan, plan_id, with_for_update=True)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    if plan.status != "draft":
        raise Conflict(f"plan is {plan.status}; only a draft plan can be activated")
    protocol = plan.protocol
    windows = schedule_cycle(
        start=plan.start_date,
        sessions=protocol.session_count,
        interval_days=protocol.interval_days,
        tolerance_days=protocol.tolerance_days,
    )
    plan.sessions = [
        PlanSession(
            session_number=w.session_number,
            target_date=w.target,
            earliest_date=w.earliest,
            latest_date=w.latest,
            status="open",
        )
        for w in windows
    ]
    plan.status = "active"
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
        sessions=[
            SessionWindow(
                session_number=w.session_number,
                total_sessions=w.total_sessions,
                target_date=w.target,
                earliest_date=w.earliest,
                latest_date=w.latest,
            )
            for w in windows
        ],
    )
    await add_events(
        session, outbox, [new_event(scheduled, source=SOURCE, key=str(plan.patient_id), now=now)]
    )
    await session.flush()
    return plan
