"""The dispatcher's statements: claim due messages, and record how their sends ended.

Set-based, so a batch costs a fixed number of round trips whatever its size: one
statement claims and returns the messages with their patients; recording locks the
batch's rows and reads where each stands (one statement), writes the outcomes (one
``executemany``, two when a callback came first for some) and takes the batch's outbox
key locks (one statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notify.adapters.db import Appointment, Message, Offer, Patient, outbox
from notify.domain import status
from notify.domain.kinds import SCHEDULED
from notify.domain.sending import Claimed
from notify.use_cases.deliveries import outcome_event
from shared.contracts.booking import ACTIVE, UPCOMING, OfferStatus
from shared.contracts.notify import MessageKind, MessageStatus
from shared.outbox import add_events


def _table(model: type[object]) -> sa.Table:
    table = getattr(model, "__table__", None)
    assert isinstance(table, sa.Table)
    return table


MESSAGE = _table(Message)
PATIENT = _table(Patient)
APPOINTMENT = _table(Appointment)
OFFER = _table(Offer)
#: Messages about one session at one time: sent only while it is still on, at that time.
ABOUT_A_SESSION = SCHEDULED | {MessageKind.CONFIRMATION}
#: What a dispatcher writes back for each message it claimed.
OUTCOME_COLUMNS = (
    "status",
    "status_reason",
    "error_code",
    "twilio_sid",
    "sent_at",
    "due_at",
    "attempted_at",
    "sent_to",
)
#: A message being sent, or whose send's end was lost (the lease ran out).
IN_FLIGHT = frozenset({MessageStatus.SENDING, MessageStatus.UNKNOWN})
#: Statuses only Twilio's word sets (a callback, or the reconciler reading its list).
TWILIO_HAS_IT = status.LEFT_US - IN_FLIGHT
#: What only the dispatcher knows of a send, even when a callback told its status first.
SEND_FACTS = ("twilio_sid", "sent_at", "attempted_at", "sent_to")
#: How far back sends count against the weekly cap (an ISO week, plus a zone's offset).
CAP_LOOKBACK = timedelta(days=8)


async def expire_lost_leases(session: AsyncSession, now: datetime) -> None:
    """A dispatcher died while sending: Twilio may or may not have the message."""
    await session.execute(
        sa.update(MESSAGE)
        .where(MESSAGE.c.status == MessageStatus.SENDING, MESSAGE.c.lease_until < now)
        .values(
            status=MessageStatus.UNKNOWN,
            lease_until=None,
            status_reason="a dispatcher lost its lease while sending",
            updated_at=now,
        )
    )


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Take up to ``limit`` due messages (``SKIP LOCKED``: never one another dispatcher has).

    Only messages of patients notify knows: one planned before the patient's details
    arrived (topics are not ordered with each other) waits, and the details' arrival
    re-plans it in the patient's language and time zone (``scheduling.keep_patient``).
    """
    due = (
        sa.select(MESSAGE.c.id)
        .where(
            MESSAGE.c.status == MessageStatus.PENDING,
            MESSAGE.c.due_at <= now,
            sa.exists().where(PATIENT.c.id == MESSAGE.c.patient_id),
        )
        .order_by(MESSAGE.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    m = MESSAGE.c
    claimed = (
        sa.update(MESSAGE)
        .where(m.id.in_(sa.select(due.c.id)))
        .values(
            status=MessageStatus.SENDING,
            lease_until=now + lease,
            attempts=m.attempts + 1,
            updated_at=now,
        )
        .returning(
            m.id,
            m.patient_id,
            m.appointment_id,
            m.kind,
            m.body,
            m.due_at,
            m.expires_at,
            m.attempts,
            m.booking_request_id,
            m.session_starts_at,
            m.offer_id,
            m.traceparent,
        )
        .cte("claimed")
    )
    p = PATIENT.c
    rows = await session.execute(
        sa.select(
            claimed,
            p.phone,
            p.time_zone,
            p.sms_consent,
            p.opted_out_at,
            p.erased_at,
        )
        .select_from(claimed.join(PATIENT, p.id == claimed.c.patient_id))
        .order_by(claimed.c.due_at)
    )
    return [
        Claimed(
            id=r.id,
            patient_id=r.patient_id,
            appointment_id=r.appointment_id,
            kind=r.kind,
            body=r.body,
            due_at=r.due_at,
            expires_at=r.expires_at,
            attempts=r.attempts,
            phone=r.phone,
            time_zone=r.time_zone,
            sms_consent=bool(r.sms_consent),
            opted_out=r.opted_out_at is not None,
            erased=r.erased_at is not None,
            session_starts_at=r.session_starts_at,
            booking_request_id=r.booking_request_id,
            offer_id=r.offer_id,
            traceparent=r.traceparent,
        )
        for r in rows
    ]


async def premise_gone(session: AsyncSession, message: Claimed) -> str | None:
    """Why the message's premise no longer holds, read just before it is sent: its
    appointment moved or ended, an invitation's session was taken or the appointment it
    is about ended, an offer closed (None: it holds).
    The safety net of the withdrawals ``scheduling`` makes when the change arrives."""
    if message.offer_id is not None:
        state = await session.scalar(
            sa.select(OFFER.c.status).where(OFFER.c.id == message.offer_id)
        )
        return None if state == OfferStatus.LIVE else f"the offer was {state}"
    if message.booking_request_id is not None:
        taken = await session.scalar(
            sa.select(sa.func.count())
            .select_from(APPOINTMENT)
            .where(
                APPOINTMENT.c.booking_request_id == message.booking_request_id,
                APPOINTMENT.c.status.in_(ACTIVE),
            )
        )
        return "its session was booked meanwhile" if taken else None
    if message.appointment_id is None:
        return None
    if message.kind == MessageKind.INVITATION:
        state = await session.scalar(
            sa.select(APPOINTMENT.c.status).where(APPOINTMENT.c.id == message.appointment_id)
        )
        # No copy yet: the event that made it has not arrived, so nothing ended it either.
        return None if state is None or state in ACTIVE else f"the appointment is {state}"
    if message.kind == MessageKind.CANCELLATION:
        told = await session.scalar(
            sa.select(sa.func.count())
            .select_from(MESSAGE)
            .where(
                MESSAGE.c.appointment_id == message.appointment_id,
                MESSAGE.c.kind == MessageKind.CONFIRMATION,
                MESSAGE.c.status.in_(status.LEFT_US),
            )
        )
        return None if told else "the patient was never told of the booking"
    if message.kind not in ABOUT_A_SESSION:
        return None
    now = (
        await session.execute(
            sa.select(APPOINTMENT.c.status, APPOINTMENT.c.starts_at).where(
                APPOINTMENT.c.id == message.appointment_id
            )
        )
    ).first()
    if now is None or now.status not in UPCOMING:
        return "the appointment was cancelled or is over"
    if now.starts_at != message.session_starts_at:
        return "the appointment moved"
    return None


async def recent_sends(
    session: AsyncSession, claimed: Sequence[Claimed], *, now: datetime
) -> list[tuple[uuid.UUID, datetime]]:
    """When the patients of the batch's scheduled messages were last texted (caps)."""
    patients = {c.patient_id for c in claimed if c.kind in SCHEDULED}
    if not patients:
        return []
    # A claimed row is 'sending' with no attempt yet: its claim time stands in.
    when = sa.func.coalesce(MESSAGE.c.attempted_at, MESSAGE.c.updated_at)
    rows = await session.execute(
        sa.select(MESSAGE.c.patient_id, when).where(
            MESSAGE.c.patient_id.in_(patients),
            MESSAGE.c.status.in_(status.LEFT_US),
            MESSAGE.c.id.not_in([c.id for c in claimed]),
            when > now - CAP_LOOKBACK,
            when <= now,
        )
    )
    return [(patient_id, instant) for patient_id, instant in rows.tuples()]


async def record_outcomes(
    session: AsyncSession, outcomes: Sequence[tuple[Claimed, dict[str, Any]]], *, now: datetime
) -> None:
    """Store every outcome of a batch, with an event for each status it settles, in the
    caller's transaction.

    A message still in flight takes its outcome whole. One Twilio reported on while it
    was being sent (its status callback, or the reconciler, came first) keeps that newer
    status and gains only what the dispatcher alone knows (when the send left, to which
    number, the SID); no event, or booking would hear an older status after the newer.
    """
    rows = await session.execute(
        sa.select(MESSAGE.c.id, MESSAGE.c.status)
        .where(MESSAGE.c.id.in_([m.id for m, _ in outcomes]))
        .with_for_update()
    )
    now_at = dict(rows.tuples().all())
    settled = [(m, o) for m, o in outcomes if now_at.get(m.id) in IN_FLIGHT]
    overtaken = [
        (m, o) for m, o in outcomes if now_at.get(m.id) in TWILIO_HAS_IT and o.get("attempted_at")
    ]
    if settled:
        await session.execute(
            _update_with(OUTCOME_COLUMNS, now=now),
            [_bind(m, o, OUTCOME_COLUMNS) for m, o in settled],
        )
    if overtaken:
        await session.execute(
            _update_with(SEND_FACTS, now=now, only_missing=True),
            [_bind(m, o, SEND_FACTS) for m, o in overtaken],
        )
    events = [
        outcome_event(
            m,
            status=o["status"],
            error_code=o.get("error_code"),
            reason=o.get("status_reason"),
            now=now,
        )
        for m, o in settled
        if o["status"] != MessageStatus.PENDING
    ]
    await add_events(session, outbox, events)


def _update_with(columns: Sequence[str], *, now: datetime, only_missing: bool = False) -> sa.Update:
    """One ``executemany`` UPDATE of ``columns`` by id, releasing the lease (``only_missing``:
    keep any value already stored)."""

    def value(column: str) -> sa.ColumnElement[Any]:
        given: sa.ColumnElement[Any] = sa.bindparam(f"b_{column}")
        return sa.func.coalesce(MESSAGE.c[column], given) if only_missing else given

    return (
        sa.update(MESSAGE)
        .where(MESSAGE.c.id == sa.bindparam("b_id"))
        .values({c: value(c) for c in columns} | {"lease_until": None, "updated_at": now})
    )


def _bind(message: Claimed, outcome: dict[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    return {"b_id": message.id, **{f"b_{c}": outcome.get(c) for c in columns}}
