"""Scheduling: keep notify's copies of patients and appointments, and after every change
replace the appointment's pending messages so exactly those of its final state remain.

Each function runs inside the caller's transaction (the idempotent consumer's), so the
projection, the message rows and their events commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Appointment, Message, Offer, Patient
from notify.domain import status
from notify.domain.policy import MessagePolicy
from notify.domain.quiet_hours import quiet_hours_end_after
from notify.domain.schedule import (
    Decision,
    PlannedMessage,
    Session,
    cancellation_notice,
    plan_session_messages,
)
from notify.domain.templates.render import (
    MessageFacts,
    TemplateBook,
    context_of,
    language_for,
    render,
)
from notify.use_cases.clinic_policy import load_policy, load_policy_revision, load_templates
from shared.contracts.booking import (
    ACTIVE,
    UPCOMING,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentSnapshot,
    AppointmentStatus,
    BookingInvitationIssued,
    OfferClosed,
    OfferMade,
    OfferStatus,
)
from shared.contracts.notify import MessageKind, MessageStatus
from shared.contracts.plans import PatientContact
from shared.db import upsert

#: Changes that call for a (new) confirmation.
CONFIRMING_EVENTS = frozenset({AppointmentBooked, AppointmentRescheduled})
#: How far around a session other messages count against the patient's caps.
CAP_HORIZON = timedelta(days=8)
#: Why a message waits: its patient's details (plans.events) have not reached notify yet.
AWAITING_PATIENT = "waiting for the patient's contact details"


@dataclass(frozen=True)
class Clinic:
    """What the texts need of the clinic itself."""

    name: str
    time_zone: str


async def keep_patient(
    session: AsyncSession, *, contact: PatientContact, clinic: Clinic, now: datetime
) -> None:
    """Create or refresh notify's copy of a patient, then re-plan their upcoming sessions
    (time zone, language or needle sensitivity may have changed)."""
    values = {
        "full_name": contact.full_name,
        "phone": contact.phone,
        "time_zone": contact.time_zone,
        "language": contact.language,
        "sms_consent": contact.sms_consent,
        "needle_sensitive": contact.needle_sensitive,
    }
    await upsert(
        session, Patient, key={"id": contact.patient_id}, values=values,
        where=Patient.erased_at.is_(None),
    )  # fmt: skip
    upcoming = await session.scalars(
        sa.select(Appointment.id).where(
            Appointment.patient_id == contact.patient_id,
            Appointment.status.in_(UPCOMING),
            Appointment.starts_at > now,
        )
    )
    for appointment_id in list(upcoming):
        await replan(session, appointment_id=appointment_id, change=None, clinic=clinic, now=now)


async def erase_patient(session: AsyncSession, *, patient_id: uuid.UUID, now: datetime) -> None:
    """Drop every copy of the patient's contact data; nothing more is sent to them."""
    await upsert(
        session,
        Patient,
        key={"id": patient_id},
        values={"full_name": "", "phone": None, "sms_consent": False, "erased_at": now},
        insert_only={"time_zone": "UTC", "language": "en", "needle_sensitive": False},
    )
    await session.execute(
        sa.update(Message)
        .where(Message.patient_id == patient_id, Message.status == MessageStatus.PENDING)
        .values(
            status=MessageStatus.SKIPPED, status_reason="the patient was erased", updated_at=now
        )
    )
    await session.execute(
        sa.update(Message).where(Message.patient_id == patient_id).values(sent_to=None)
    )


async def apply_appointment_change(
    session: AsyncSession,
    *,
    change: type[AppointmentSnapshot],
    snapshot: AppointmentSnapshot,
    clinic: Clinic,
    now: datetime,
) -> None:
    """Keep the newest version of an appointment and re-plan its messages.

    ``change`` is the event's type (AppointmentBooked, AppointmentRescheduled...). An event older
    than what notify holds changes nothing: the newer one already planned.
    """
    held = await session.get(Appointment, snapshot.appointment_id, with_for_update=True)
    if held is not None and held.version >= snapshot.version:
        return
    values = {
        "version": snapshot.version,
        "status": snapshot.status,
        "patient_id": snapshot.patient_id,
        "booking_request_id": snapshot.booking_request_id,
        "session_number": snapshot.session_number,
        "total_sessions": snapshot.total_sessions,
        "numbing_cream_advised": snapshot.numbing_cream_advised,
        "treatment": snapshot.treatment,
        "location_time_zone": snapshot.location_time_zone,
        "starts_at": snapshot.starts_at,
        "ends_at": snapshot.ends_at,
    }
    await upsert(session, Appointment, key={"id": snapshot.appointment_id}, values=values)
    await replan(
        session, appointment_id=snapshot.appointment_id, change=change, clinic=clinic, now=now
    )
    if snapshot.status not in ACTIVE:
        await withdraw_invitations(
            session,
            Message.appointment_id == snapshot.appointment_id,
            why=f"appointment {change.change}",
            now=now,
        )
    elif snapshot.booking_request_id is not None:
        number = snapshot.session_number
        taken = "held" if snapshot.status == AppointmentStatus.HELD else "booked"
        await withdraw_invitations(
            session,
            Message.booking_request_id == snapshot.booking_request_id,
            why=f"session {number} is {taken}",
            now=now,
        )


async def withdraw_invitations(
    session: AsyncSession, *where: sa.ColumnElement[bool], why: str, now: datetime
) -> None:
    """Withdraw the pending invitations ``where`` says: what they ask for is moot."""
    await session.execute(
        sa.update(Message)
        .where(
            Message.kind == MessageKind.INVITATION, Message.status == MessageStatus.PENDING, *where
        )
        .values(status=MessageStatus.SKIPPED, status_reason=f"withdrawn: {why}", updated_at=now)
    )


async def withdraw_plan_invitations(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    session_numbers: list[int] | None,
    why: str,
    now: datetime,
) -> None:
    """A plan's sessions were withdrawn (paused) or the plan cancelled: no invitation of
    theirs goes out (``session_numbers`` None: all of the plan's)."""
    where = [Message.plan_id == plan_id]
    if session_numbers is not None:
        where.append(Message.session_number.in_(session_numbers))
    await withdraw_invitations(session, *where, why=why, now=now)


async def replan(
    session: AsyncSession,
    *,
    appointment_id: uuid.UUID,
    change: type[AppointmentSnapshot] | None,
    clinic: Clinic,
    now: datetime,
    owe_confirmation: bool = False,
    why: str = "the patient's details changed",
) -> None:
    """Replace the appointment's pending messages with those its current state needs.

    ``change``: the appointment's event, if that is what calls for it; else ``why``.
    ``owe_confirmation``: the patient has not been told of the booking yet (a confirmation
    was skipped while they had opted out).
    """
    appointment = await session.get(Appointment, appointment_id, populate_existing=True)
    assert appointment is not None
    patient = await session.get(Patient, appointment.patient_id)
    existing = list(
        await session.scalars(
            sa.select(Message)
            .where(Message.appointment_id == appointment_id, Message.kind != MessageKind.INVITATION)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    why = f"replaced: appointment {change.change}" if change else f"replaced: {why}"
    owed_confirmation = owe_confirmation
    for message in existing:
        if message.status == MessageStatus.PENDING:
            owed_confirmation |= message.kind == MessageKind.CONFIRMATION
            message.status, message.status_reason, message.updated_at = (
                MessageStatus.REPLACED,
                why,
                now,
            )
    policy, revision = await load_policy_revision(session)
    appointment.policy_revision = revision  # even if nothing is planned: not stale again
    await session.flush()
    if patient is not None and patient.erased_at is not None:
        return
    templates = await load_templates(session)
    time_zone = patient.time_zone if patient else appointment.location_time_zone
    planned: list[PlannedMessage] = []
    if appointment.status == AppointmentStatus.CANCELLED:
        told = any(
            m.kind == MessageKind.CONFIRMATION and m.status in status.LEFT_US for m in existing
        )
        notice = cancellation_notice(starts_at=appointment.starts_at, now=now)
        if told and notice is not None:
            planned.append(notice)
    elif appointment.status in UPCOMING:
        said = frozenset(
            MessageKind(m.kind)
            for m in existing
            if m.status not in (MessageStatus.PENDING, MessageStatus.REPLACED)
            and m.session_starts_at == appointment.starts_at
        )
        facts = Session(
            starts_at=appointment.starts_at,
            time_zone=time_zone,
            numbing_cream=appointment.numbing_cream_advised
            or bool(patient and patient.needle_sensitive),
            confirm=change in CONFIRMING_EVENTS or owed_confirmation,
            already_sent=said,
        )
        other_sends = await _other_sends(session, appointment)
        planned = plan_session_messages(facts, policy, now=now, other_sends=other_sends)
    language = patient.language if patient else policy.default_language
    for plan in planned:
        text_facts = MessageFacts(
            clinic=clinic.name,
            language=language,
            time_zone=time_zone,
            starts_at=appointment.starts_at,
            session_number=appointment.session_number,
            total_sessions=appointment.total_sessions,
            confirmed=appointment.status == AppointmentStatus.CONFIRMED,
            rescheduled=change is AppointmentRescheduled,
            carries=plan.carries,
            apply_at=plan.apply_at,
            treatment=appointment.treatment,
        )
        await _add_message(
            session, planned=plan, facts=text_facts, policy=policy, templates=templates,
            patient_id=appointment.patient_id, appointment=appointment, now=now,
            patient_known=patient is not None,
        )  # fmt: skip


async def schedule_invitation(
    session: AsyncSession, *, invitation: BookingInvitationIssued, clinic: Clinic, now: datetime
) -> None:
    """Text the patient their self-booking link, outside quiet hours."""
    patient = await session.get(Patient, invitation.patient_id)
    if patient is not None and patient.erased_at is not None:
        return
    policy = await load_policy(session)
    time_zone = patient.time_zone if patient else clinic.time_zone
    zone = ZoneInfo(time_zone)
    due = quiet_hours_end_after(now, zone, policy.quiet_hours_start, policy.quiet_hours_end)
    planned = PlannedMessage(
        kind=MessageKind.INVITATION,
        decision=Decision.SEND,
        due_at=due,
        useful_until=invitation.link_expires_at,
        reason=None if due == now else "held until quiet hours end",
    )
    facts = MessageFacts(
        clinic=clinic.name,
        language=patient.language if patient else policy.default_language,
        time_zone=time_zone,
        session_number=invitation.session_number,
        total_sessions=invitation.total_sessions,
        link=invitation.link_url,
        latest_date=invitation.latest_date,
    )
    await _add_message(
        session, planned=planned, facts=facts, policy=policy,
        templates=await load_templates(session), patient_id=invitation.patient_id,
        appointment=None, now=now, patient_known=patient is not None, invitation=invitation,
    )  # fmt: skip


async def schedule_offer(
    session: AsyncSession, *, offer: OfferMade, clinic: Clinic, now: datetime
) -> None:
    """Text the patient freed time they may take until ``claim_by``. Booking made the offer
    outside their quiet hours; the SMS goes only while the offer is live (``close_offer``
    withdraws it, the dispatcher checks again), and never after ``claim_by``."""
    await upsert(
        session, Offer, key={"id": offer.offer_id},
        values={"patient_id": offer.patient_id, "claim_by": offer.claim_by, "updated_at": now},
        insert_only={"status": OfferStatus.LIVE},
    )  # fmt: skip
    live = await session.scalar(sa.select(Offer.status).where(Offer.id == offer.offer_id))
    patient = await session.get(Patient, offer.patient_id)
    if live != OfferStatus.LIVE or (patient is not None and patient.erased_at is not None):
        return
    moving = await session.get(Appointment, offer.appointment_id) if offer.appointment_id else None
    policy = await load_policy(session)
    planned = PlannedMessage(
        kind=MessageKind.OFFER, decision=Decision.SEND, due_at=now, useful_until=offer.claim_by
    )
    facts = MessageFacts(
        clinic=clinic.name,
        language=patient.language if patient else policy.default_language,
        time_zone=patient.time_zone if patient else offer.location_time_zone,
        starts_at=offer.starts_at,
        session_number=offer.session_number,
        total_sessions=offer.total_sessions,
        link=offer.link_url,
        claim_by=offer.claim_by,
        moving_from=moving.starts_at if moving else None,
    )
    await _add_message(
        session, planned=planned, facts=facts, policy=policy,
        templates=await load_templates(session), patient_id=offer.patient_id, appointment=None,
        now=now, patient_known=patient is not None, offer_id=offer.offer_id,
    )  # fmt: skip


async def close_offer(session: AsyncSession, *, closed: OfferClosed, now: datetime) -> None:
    """The offer was claimed, declined, expired or withdrawn: its SMS, if still waiting, is
    moot."""
    await upsert(
        session, Offer, key={"id": closed.offer_id},
        values={"status": closed.status, "updated_at": now},
        insert_only={"patient_id": closed.patient_id, "claim_by": now},
    )  # fmt: skip
    await session.execute(
        sa.update(Message)
        .where(Message.offer_id == closed.offer_id, Message.status == MessageStatus.PENDING)
        .values(
            status=MessageStatus.SKIPPED,
            status_reason=f"withdrawn: the offer was {closed.status}",
            updated_at=now,
        )
    )


async def schedule_help(
    session: AsyncSession, *, patient: Patient, clinic: Clinic, now: datetime
) -> None:
    """Answer HELP with what the patient can reply and the clinic's contact."""
    policy = await load_policy(session)
    planned = PlannedMessage(
        kind=MessageKind.HELP,
        decision=Decision.SEND,
        due_at=now,
        useful_until=now + timedelta(hours=12),
    )
    facts = MessageFacts(clinic=clinic.name, language=patient.language, time_zone=patient.time_zone)
    await _add_message(
        session, planned=planned, facts=facts, policy=policy,
        templates=await load_templates(session), patient_id=patient.id, appointment=None,
        now=now,
    )  # fmt: skip


async def _other_sends(session: AsyncSession, appointment: Appointment) -> list[datetime]:
    """When the patient's messages about other things go (or went) out: the caps count them."""
    when = sa.func.coalesce(Message.attempted_at, Message.due_at)
    rows = await session.scalars(
        sa.select(when).where(
            Message.patient_id == appointment.patient_id,
            Message.appointment_id.is_distinct_from(appointment.id),
            Message.status.in_([MessageStatus.PENDING, *status.LEFT_US]),
            when.between(appointment.starts_at - CAP_HORIZON, appointment.starts_at + CAP_HORIZON),
        )
    )
    return list(rows)


async def _add_message(
    session: AsyncSession,
    *,
    planned: PlannedMessage,
    facts: MessageFacts,
    policy: MessagePolicy,
    templates: TemplateBook,
    patient_id: uuid.UUID,
    appointment: Appointment | None,
    now: datetime,
    patient_known: bool = True,
    invitation: BookingInvitationIssued | None = None,
    offer_id: uuid.UUID | None = None,
) -> None:
    """Store one planned message with what it stands on, so it is withdrawn once that is
    moot: an appointment's message (and its version), or an invitation's premise. An
    invitation to book a cycle's session stands on its request, plan and session; one
    about an appointment (a slot held for the patient, or one to move after "R") stands
    on that appointment: its request is taken on purpose. An offer's stands on the offer."""
    books = invitation if invitation is not None and invitation.appointment_id is None else None
    about = appointment.id if appointment else invitation.appointment_id if invitation else None
    language = language_for(templates, facts.language, planned.kind, policy)
    body = render(templates[language][planned.kind], context_of(facts, policy))
    sending = planned.decision is Decision.SEND
    await session.execute(
        insert(Message)
        .values(
            id=uuid.uuid4(),
            patient_id=patient_id,
            appointment_id=about,
            appointment_version=appointment.version if appointment else None,
            booking_request_id=books.booking_request_id if books else None,
            plan_id=books.plan_id if books else None,
            session_number=books.session_number if books else None,
            offer_id=offer_id,
            session_starts_at=appointment.starts_at if appointment else None,
            kind=planned.kind.value,
            language=language,
            body=body,
            carries=[kind.value for kind in planned.carries],
            due_at=planned.due_at if planned.due_at is not None else now,
            expires_at=planned.useful_until,
            status=MessageStatus.PENDING if sending else MessageStatus.SKIPPED,
            status_reason=planned.reason if patient_known else AWAITING_PATIENT,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(
            index_elements=["appointment_id", "kind", "appointment_version"],
            index_where=sa.text("status <> 'replaced'"),
        )
    )
