"""Patients: register, read, search, update, erase. Contact changes reach booking and notify."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from plans.adapters.db import Patient, Plan, PlanSession, outbox
from plans.api.schemas import PatientIn, PatientPatch
from plans.domain.lifecycle import PlanStatus, SessionStatus
from plans.use_cases.common import Found, Page, announce, paginate
from shared.contracts.notify import SmsConsentChanged
from shared.contracts.plans import (
    PatientErased,
    PatientRegistered,
    PatientUpdated,
    PlanCancelled,
)
from shared.problems import NotFound, Problem

#: What booking and notify keep of a patient: a change to one of these is announced.
CONTACT_FIELDS = (
    "full_name", "phone", "time_zone", "language", "sms_consent", "needle_sensitive",
)  # fmt: skip
ERASED_NAME = "(erased)"


def _contact(patient: Patient) -> dict[str, object]:
    return {
        "patient_id": patient.id,
        "full_name": patient.full_name,
        "phone": patient.phone,
        "time_zone": patient.time_zone,
        "language": patient.language,
        "sms_consent": patient.sms_consent,
        "needle_sensitive": patient.needle_sensitive,
    }


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
    await announce(
        session,
        patient_id=record.id,
        payloads=[PatientRegistered.model_validate(_contact(record))],
        now=now,
    )
    return record


async def get_patient(session: AsyncSession, *, patient_id: uuid.UUID) -> Patient:
    """A patient on record; 404 if unknown, 410 if they were erased."""
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id}")
    if patient.erased_at is not None:
        raise Problem(410, "Gone", f"patient {patient_id} was erased at their request")
    return patient


@dataclass(frozen=True)
class PatientFilter:
    #: Part of the name (any case), or of the phone number (digits, any formatting).
    q: str | None = None
    needle_sensitive: bool | None = None
    sms_consent: bool | None = None


def _escaped(text: str) -> str:
    return re.sub(r"([\\%_])", r"\\\1", text)


async def search_patients(
    session: AsyncSession, *, where: PatientFilter, page: Page
) -> Found[Patient]:
    """Patients by name or phone, sorted by name; erased patients are not listed."""
    query = sa.select(Patient).where(Patient.erased_at.is_(None))
    if where.q:
        term = where.q.strip()
        matches: list[sa.ColumnElement[bool]] = [
            Patient.full_name.ilike(f"%{_escaped(term)}%", escape="\\")
        ]
        digits = re.sub(r"\D", "", term)
        if digits and re.fullmatch(r"[\d\s+().-]+", term):
            matches.append(Patient.phone.contains(digits, autoescape=True))
        query = query.where(sa.or_(*matches))
    if where.needle_sensitive is not None:
        query = query.where(Patient.needle_sensitive.is_(where.needle_sensitive))
    if where.sms_consent is not None:
        query = query.where(Patient.sms_consent.is_(where.sms_consent))
    return await paginate(session, query.order_by(Patient.full_name, Patient.id), page)


async def update_patient(
    session: AsyncSession, *, patient_id: uuid.UUID, changes: PatientPatch, now: datetime
) -> Patient:
    """Apply the fields sent; a change of contact data is announced to booking and notify.

    A change of SMS consent records when, and how (``sms_consent_source``).
    """
    patient = await get_patient(session, patient_id=patient_id)
    sent = changes.model_dump(exclude_unset=True)
    required = [
        name for name, value in sent.items() if value is None and name != "sms_consent_source"
    ]
    if required:
        raise Problem(422, "Invalid request", f"{', '.join(required)} cannot be null")
    before = _contact(patient)
    if "sms_consent" in sent and sent["sms_consent"] != patient.sms_consent:
        patient.sms_consent_at = now
        patient.sms_consent_source = sent.pop("sms_consent_source", None)
    for name, value in sent.items():
        setattr(patient, name, value)
    patient.updated_at = now
    await session.flush()
    if _contact(patient) != before:
        await announce(
            session,
            patient_id=patient.id,
            payloads=[PatientUpdated.model_validate(_contact(patient))],
            now=now,
        )
    return patient


async def resync_patients(
    session: AsyncSession, *, patient_id: uuid.UUID | None, now: datetime
) -> int:
    """Announce every patient's current state again (or one's): PatientUpdated, or
    PatientErased for the erased, which booking and notify apply as an upsert. For when
    they lost events (a broker that lost its log, a restored backup). Returns how many."""
    query = sa.select(Patient).order_by(Patient.id)
    if patient_id is not None:
        query = query.where(Patient.id == patient_id)
    count = 0
    for patient in await session.scalars(query):
        erased = patient.erased_at is not None
        await announce(
            session,
            patient_id=patient.id,
            payloads=[
                PatientErased(patient_id=patient.id)
                if erased
                else PatientUpdated.model_validate(_contact(patient))
            ],
            now=now,
        )
        count += 1
    return count


async def erase_patient(session: AsyncSession, *, patient_id: uuid.UUID, now: datetime) -> None:
    """Forget a patient at their request: their plans end, their personal data goes.

    Plans still running are cancelled (booking cancels their appointments); the row
    stays, emptied, so plans keep a patient to point to. Past contact events are
    removed from the outbox, and PatientErased makes booking and notify drop their copies.
    """
    patient = await get_patient(session, patient_id=patient_id)
    running = (PlanStatus.DRAFT, PlanStatus.ACTIVE, PlanStatus.PAUSED)
    plans = (
        await session.scalars(
            sa.select(Plan)
            .where(Plan.patient_id == patient.id, Plan.status.in_(running))
            .with_for_update(of=Plan)
        )
    ).unique()
    cancelled = []
    for plan in plans:
        if plan.status != PlanStatus.DRAFT:
            cancelled.append(
                PlanCancelled(plan_id=plan.id, patient_id=patient.id, reason="patient erased")
            )
        plan.status = PlanStatus.CANCELLED
        plan.cancel_reason = "patient erased"
        plan.ended_at = now
    await session.execute(
        sa.update(PlanSession)
        .where(
            PlanSession.plan_id.in_(sa.select(Plan.id).where(Plan.patient_id == patient.id)),
            PlanSession.status.in_(
                [SessionStatus.OPEN, SessionStatus.BOOKED, SessionStatus.WITHDRAWN]
            ),
        )
        .values(status=SessionStatus.CANCELLED)
    )
    patient.full_name = ERASED_NAME
    patient.phone = ""
    patient.sms_consent = False
    patient.sms_consent_source = None
    patient.needle_sensitive = False
    patient.allergies = []
    patient.allergy_notes = ""
    patient.medications = []
    patient.medication_notes = ""
    patient.notes = ""
    patient.erased_at = now
    patient.updated_at = now
    await session.execute(
        sa.delete(outbox).where(
            outbox.c.key == str(patient.id),
            outbox.c.type.in_([PatientRegistered.type, PatientUpdated.type]),
        )
    )
    await announce(
        session,
        patient_id=patient.id,
        payloads=[*cancelled, PatientErased(patient_id=patient.id)],
        now=now,
    )


async def follow_sms_reply(
    session: AsyncSession, *, change: SmsConsentChanged, now: datetime
) -> None:
    """The patient texted STOP (or START): their SMS consent follows, recorded as such.

    Replies about a patient unknown here or already erased change nothing.
    """
    patient = await session.get(Patient, change.patient_id)
    if patient is None or patient.erased_at is not None:
        return
    consent = not change.opted_out
    if patient.sms_consent == consent:
        return
    await update_patient(
        session,
        patient_id=patient.id,
        changes=PatientPatch(
            sms_consent=consent, sms_consent_source=f"SMS reply {change.keyword.upper()}"
        ),
        now=now,
    )
