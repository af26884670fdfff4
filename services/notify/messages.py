"""What notify keeps and schedules: patient and appointment copies, and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify.db import Appointment, Message, Patient
from shared.contracts.booking import AppointmentSnapshot
from shared.contracts.plans import PatientContact
from shared.db import upsert


async def keep_patient(session: AsyncSession, *, contact: PatientContact) -> None:
    """Create or refresh notify's copy of a patient's contact data."""
    values = {
        "full_name": contact.full_name,
        "phone": contact.phone,
        "time_zone": contact.time_zone,
        "language": contact.language,
        "sms_consent": contact.sms_consent,
        "needle_sensitive": contact.needle_sensitive,
    }
    await upsert(session, Patient, key={"id": contact.patient_id}, values=values)


async def keep_appointment(session: AsyncSession, *, snapshot: AppointmentSnapshot) -> None:
    """Keep the newest version of an appointment (an older event never wins)."""
    values = {
        "version": snapshot.version,
        "status": snapshot.status,
        "patient_id": snapshot.patient_id,
        "session_number": snapshot.session_number,
        "total_sessions": snapshot.total_sessions,
        "numbing_cream_advised": snapshot.numbing_cream_advised,
        "location_time_zone": snapshot.location_time_zone,
        "starts_at": snapshot.starts_at,
        "ends_at": snapshot.ends_at,
    }
    await upsert(
        session,
        Appointment,
        key={"id": snapshot.appointment_id},
        values=values,
        where=Appointment.version < snapshot.version,
    )


def confirmation_text(*, clinic: str, snapshot: AppointmentSnapshot, time_zone: str) -> str:
    """The booking confirmation: when, and how to confirm; no treatment named (privacy)."""
    local = snapshot.starts_at.astimezone(ZoneInfo(time_zone))
    when = f"{local:%a %d %b at %H:%M}"
    session = ""
    if snapshot.session_number and snapshot.total_sessions:
        session = f" (session {snapshot.session_number} of {snapshot.total_sessions})"
    return (
        f"{clinic}: your appointment{session} is booked for {when}. "
        "Reply C to confirm. Reply STOP to opt out."
    )


async def schedule_confirmation(
    session: AsyncSession, *, snapshot: AppointmentSnapshot, clinic: str, now: datetime
) -> None:
    """Schedule the booking confirmation, due now; once per appointment version."""
    patient = await session.get(Patient, snapshot.patient_id)
    time_zone = patient.time_zone if patient else snapshot.location_time_zone
    await session.execute(
        insert(Message)
        .values(
            id=uuid.uuid4(),
            patient_id=snapshot.patient_id,
            appointment_id=snapshot.appointment_id,
            appointment_version=snapshot.version,
            kind="confirmation",
            body=confirmation_text(clinic=clinic, snapshot=snapshot, time_zone=time_zone),
            due_at=now,
            expires_at=snapshot.starts_at,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_message_per_version")
    )


async def list_messages(
    session: AsyncSession, *, patient_id: uuid.UUID | None, appointment_id: uuid.UUID | None
) -> list[Message]:
    query = sa.select(Message).order_by(Message.created_at.desc()).limit(500)
    if patient_id is not None:
        query = query.where(Message.patient_id == patient_id)
    if appointment_id is not None:
        query = query.where(Message.appointment_id == appointment_id)
    return list(await session.scalars(query))
