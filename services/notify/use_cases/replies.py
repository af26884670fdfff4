"""Patients' SMS to the clinic: opt out and back in, ask for help, confirm, reschedule,
pass on an offer.

Keywords follow Twilio's: the standard opt-out words stop everything to that number,
START resumes. "C" and "R" (not YES or CANCEL, which carriers treat as opt-in/opt-out)
confirm or move the patient's next appointment, and "NO" (or "NON") passes their live
earlier-slot offer on to the next patient, through events to booking. NO is no carrier's
keyword: it stops nothing but the offer.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Appointment, InboundSms, Message, Offer, Patient, outbox
from notify.domain.sending import OPTED_OUT
from notify.use_cases.deliveries import SOURCE
from notify.use_cases.scheduling import Clinic, replan, schedule_help
from shared.contracts.booking import UPCOMING, AppointmentStatus, OfferStatus
from shared.contracts.notify import (
    ConfirmationReceived,
    MessageKind,
    MessageStatus,
    OfferRefused,
    PatientReply,
    RescheduleRequested,
    SmsConsentChanged,
)
from shared.events import Payload, new_event
from shared.outbox import add_events

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})
HELP = frozenset({"HELP", "INFO"})
#: Replaced rather than left skipped, so the message can be planned again.
SKIPPED_WHILE_OPTED_OUT = (
    "skipped while the patient had opted out (STOP); planned again after START"
)
CONFIRM = "C"
RESCHEDULE = "R"
PASS = frozenset({"NO", "NON"})


def keyword_of(body: str) -> str:
    """The reply's keyword: trimmed, upper case, without trailing punctuation."""
    return body.strip().strip(".!?").strip().upper()


async def receive_sms(
    session: AsyncSession, *, sid: str, sender: str, body: str, clinic: Clinic, now: datetime
) -> str:
    """Act on a patient's SMS once (Twilio may retry its webhook); returns what was done."""
    keyword = keyword_of(body)
    patients = list(
        await session.scalars(
            sa.select(Patient)
            .where(Patient.phone == sender, Patient.erased_at.is_(None))
            .with_for_update()
        )
    )
    first = await session.scalar(
        insert(InboundSms)
        .values(
            sid=sid,
            patient_id=patients[0].id if patients else None,
            keyword=keyword[:20],
            action="received",
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(InboundSms.sid)
    )
    if first is None:
        return "already handled"
    action = await _act(session, keyword=keyword, patients=patients, clinic=clinic, now=now)
    await session.execute(sa.update(InboundSms).where(InboundSms.sid == sid).values(action=action))
    return action


async def _act(
    session: AsyncSession, *, keyword: str, patients: list[Patient], clinic: Clinic, now: datetime
) -> str:
    if not patients:
        return "ignored: number of no known patient"
    events: list[tuple[Payload, uuid.UUID]] = []  # each event with its patient (the key)
    if keyword in OPT_OUT or keyword in OPT_IN:
        opting_out = keyword in OPT_OUT
        for patient in patients:
            patient.opted_out_at = now if opting_out else None
            consent = SmsConsentChanged(
                patient_id=patient.id, opted_out=opting_out, keyword=keyword, changed_at=now
            )
            events.append((consent, patient.id))
        if opting_out:
            await session.execute(
                sa.update(Message)
                .where(
                    Message.patient_id.in_([p.id for p in patients]),
                    Message.status == MessageStatus.PENDING,
                )
                .values(status=MessageStatus.SKIPPED, status_reason=OPTED_OUT, updated_at=now)
            )
        else:
            await _plan_again_after_opt_in(session, patients, clinic=clinic, now=now)
        action = "opted out" if opting_out else "opted back in"
    elif keyword in HELP:
        await schedule_help(session, patient=patients[0], clinic=clinic, now=now)
        action = "help sent"
    elif keyword in (CONFIRM, RESCHEDULE):
        appointment = await _next_appointment(session, patients, now=now, keyword=keyword)
        if appointment is None:
            return "ignored: no upcoming appointment"
        reply: type[PatientReply] = (
            ConfirmationReceived if keyword == CONFIRM else RescheduleRequested
        )
        answer = reply(
            patient_id=appointment.patient_id,
            appointment_id=appointment.id,
            appointment_version=appointment.version,
            received_at=now,
        )
        events.append((answer, appointment.patient_id))
        action = "confirmation requested" if keyword == CONFIRM else "reschedule requested"
    elif keyword in PASS:
        offer = await _live_offer(session, patients, now=now)
        if offer is None:
            return "ignored: no live offer"
        refused = OfferRefused(offer_id=offer.id, patient_id=offer.patient_id, received_at=now)
        events.append((refused, offer.patient_id))
        action = "offer passed on"
    else:
        return "ignored: not a keyword"
    await add_events(
        session,
        outbox,
        [new_event(e, source=SOURCE, key=str(key), now=now) for e, key in events],
    )
    return action


async def _plan_again_after_opt_in(
    session: AsyncSession, patients: list[Patient], *, clinic: Clinic, now: datetime
) -> None:
    """What was skipped while the patient had opted out is planned again for sessions still
    ahead (the policy then decides what is still useful); past sessions stay as they were."""
    upcoming = sa.select(Appointment.id).where(
        Appointment.patient_id.in_([p.id for p in patients]),
        Appointment.status.in_(UPCOMING),
        Appointment.starts_at > now,
    )
    reopened = await session.execute(
        sa.update(Message)
        .where(
            Message.appointment_id.in_(upcoming),
            Message.status == MessageStatus.SKIPPED,
            Message.status_reason == OPTED_OUT,
        )
        .values(
            status=MessageStatus.REPLACED, status_reason=SKIPPED_WHILE_OPTED_OUT, updated_at=now
        )
        .returning(Message.appointment_id, Message.kind)
    )
    kinds: dict[uuid.UUID, set[str]] = {}
    for appointment_id, kind in reopened.tuples():
        if appointment_id is not None:
            kinds.setdefault(appointment_id, set()).add(kind)
    for appointment_id, skipped in sorted(kinds.items()):
        await replan(
            session, appointment_id=appointment_id, change=None, clinic=clinic, now=now,
            owe_confirmation=MessageKind.CONFIRMATION in skipped,
        )  # fmt: skip


async def _next_appointment(
    session: AsyncSession, patients: list[Patient], *, now: datetime, keyword: str
) -> Appointment | None:
    # Confirming needs a booked one; a confirmed appointment may still be moved.
    statuses = [AppointmentStatus.BOOKED]
    if keyword != CONFIRM:
        statuses.append(AppointmentStatus.CONFIRMED)
    appointment: Appointment | None = await session.scalar(
        sa.select(Appointment)
        .where(
            Appointment.patient_id.in_([p.id for p in patients]),
            Appointment.status.in_(statuses),
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at)
        .limit(1)
    )
    return appointment


async def _live_offer(
    session: AsyncSession, patients: list[Patient], *, now: datetime
) -> Offer | None:
    """The patient's newest offer still open to them (at most one, booking's cap aside)."""
    offer: Offer | None = await session.scalar(
        sa.select(Offer)
        .where(
            Offer.patient_id.in_([p.id for p in patients]),
            Offer.status == OfferStatus.LIVE,
            Offer.claim_by > now,
        )
        .order_by(Offer.claim_by.desc())
        .limit(1)
    )
    return offer
