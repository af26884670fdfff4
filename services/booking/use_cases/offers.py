"""Earlier-slot offers: time a cancellation, a run-out hold or a move freed goes to the
patients whose sessions could take it, one at a time, best first (``domain.offers``).

A reaction to the freeing step announces ``SlotFreed`` and makes the first offer
(``OfferMade``, with a link of its own to claim it until ``claim_by``), which notify
texts. An offer then ends once (``OfferClosed``):

- claimed from its link: the session is booked (or moved earlier) into the freed time;
- declined (NO by SMS, or on the page), or past its claim window (the sweeper), or its
  SMS could not reach the patient: the next patient gets the time;
- withdrawn: the time was taken by someone else (nobody gets it), or the offer's session
  was booked otherwise, cancelled or paused (the next patient gets it).

On unless ``BOOKING_OFFER_FREED_SLOTS`` is false.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from booking.adapters import store
from booking.adapters.db import (
    Appointment,
    BookingRequest,
    ClinicQuietHours,
    Patient,
    PatientLink,
    SlotOffer,
    outbox,
)
from booking.domain.course import Choice
from booking.domain.errors import Unknown
from booking.domain.events import AppointmentMade, AppointmentMoved, TimeKept
from booking.domain.offers import (
    PASSED_ON,
    FreedSlot,
    OfferAction,
    OfferClosed,
    candidates_for,
    next_offer_status,
)
from booking.use_cases import moves, reservations
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.invitations import new_link
from booking.use_cases.records import SOURCE
from shared.contracts import booking as contract
from shared.contracts.booking import OfferStatus
from shared.contracts.notify import (
    MessageKind,
    MessageStatus,
    MessageStatusChanged,
    OfferRefused,
    QuietHoursChanged,
)
from shared.db import upsert
from shared.events import Payload, new_event
from shared.outbox import add_events

#: The event each ending announces.
CLOSED: dict[OfferStatus, type[contract.OfferClosed]] = {
    OfferStatus.CLAIMED: contract.OfferClaimed,
    OfferStatus.DECLINED: contract.OfferDeclined,
    OfferStatus.EXPIRED: contract.OfferExpired,
    OfferStatus.WITHDRAWN: contract.OfferWithdrawn,
}
#: An offer SMS in one of these never reached the patient: the offer goes on at once.
UNREACHED = frozenset({MessageStatus.SKIPPED, MessageStatus.FAILED, MessageStatus.UNDELIVERED})
#: Who claims or declines from the page.
PATIENT = "patient"
#: What every view of an offer shows of its row.
OFFER_FIELDS = (
    "id", "status", "patient_id", "booking_request_id", "appointment_id", "practitioner_id",
    "room_id", "location_id", "freed_from", "freed_until", "claim_by", "created_at",
    "closed_at", "reason",
)  # fmt: skip


async def offer_freed_time(
    uow: UnitOfWork, appointment: Appointment, left: TimeKept, *, freed_by: uuid.UUID
) -> None:
    """``appointment`` no longer keeps the time it ``left``: announce it, and offer it to
    the best candidate, if any."""
    if not uow.settings.offer_freed_slots or left.starts_at <= uow.now:
        return
    slot = await store.freed_slot(
        uow.session, practitioner_id=left.practitioner_id, room_id=left.room_id,
        location_id=left.location_id, starts_at=left.starts_at, ends_at=left.ends_at,
    )  # fmt: skip
    freed = contract.SlotFreed(
        practitioner_id=slot.practitioner_id, room_id=slot.room_id,
        location_id=slot.location_id, starts_at=left.starts_at, ends_at=left.ends_at,
        appointment_id=appointment.id,
    )  # fmt: skip
    await _stage(uow, freed, key=str(appointment.id))
    await offer_next(uow, slot, freed_by=freed_by, freed_request_id=appointment.booking_request_id)


async def offer_next(
    uow: UnitOfWork, slot: FreedSlot, *, freed_by: uuid.UUID, freed_request_id: uuid.UUID | None
) -> bool:
    """Offer ``slot`` to the best candidate who has not had it; whether one was found."""
    session, now, settings = uow.session, uow.now, uow.settings
    if await store.time_taken(session, slot):
        return False
    quiet = await session.get(ClinicQuietHours, 1)
    policy = settings.offer_policy
    if quiet is not None:  # the clinic's own, as notify's policy has them
        policy = replace(policy, quiet_start=quiet.quiet_start, quiet_end=quiet.quiet_end)
    candidates = await store.offer_candidates(
        session, slot, freed_by=freed_by, freed_request_id=freed_request_id, now=now
    )
    ranked = candidates_for(slot, candidates, now=now, policy=policy)
    if not ranked:
        return False
    best = ranked[0]
    offer = SlotOffer(
        id=uuid.uuid4(), freed_by=freed_by, freed_request_id=freed_request_id,
        practitioner_id=slot.practitioner_id, room_id=slot.room_id,
        location_id=slot.location_id, freed_from=slot.starts_at,
        freed_until=slot.starts_at + timedelta(minutes=slot.minutes),
        booking_request_id=best.booking_request_id, patient_id=best.patient_id,
        appointment_id=best.appointment_id, status=OfferStatus.LIVE,
        claim_by=now + policy.claim_window, created_at=now,
    )  # fmt: skip
    session.add(offer)
    request = await session.get(BookingRequest, best.booking_request_id)
    assert request is not None
    link_url, _ = new_link(session, best.patient_id, settings=settings, now=now, offer_id=offer.id)
    made = contract.OfferMade(
        offer_id=offer.id, patient_id=best.patient_id, booking_request_id=request.id,
        session_number=request.session_number, total_sessions=request.total_sessions,
        appointment_id=best.appointment_id, practitioner_id=slot.practitioner_id,
        location_time_zone=slot.time_zone, starts_at=slot.starts_at,
        ends_at=slot.starts_at + timedelta(minutes=best.session_minutes),
        link_url=link_url, claim_by=offer.claim_by,
    )  # fmt: skip
    await _stage(uow, made, key=str(best.patient_id))
    return True


async def close(
    uow: UnitOfWork,
    offer: SlotOffer,
    action: OfferAction,
    reason: str,
    *,
    pass_on: bool | None = None,
) -> None:
    """End a live offer with ``action`` (refused, 409, if it is not live), announce it and,
    when the time is still free to give (``pass_on``; by default after a decline or an
    expiry), offer it to the next candidate."""
    offer.status = next_offer_status(OfferStatus(offer.status), action)
    offer.closed_at, offer.reason = uow.now, reason
    closed = CLOSED[OfferStatus(offer.status)](
        offer_id=offer.id, patient_id=offer.patient_id, status=offer.status, reason=reason
    )
    await _stage(uow, closed, key=str(offer.patient_id))
    if not (offer.status in PASSED_ON if pass_on is None else pass_on):
        return
    await uow.session.flush()  # the live offer's place in the unique index is free again
    slot = await store.freed_slot(
        uow.session, practitioner_id=offer.practitioner_id, room_id=offer.room_id,
        location_id=offer.location_id, starts_at=offer.freed_from, ends_at=offer.freed_until,
    )  # fmt: skip
    await offer_next(uow, slot, freed_by=offer.freed_by, freed_request_id=offer.freed_request_id)


async def claim(uow: UnitOfWork, *, offer_id: uuid.UUID, patient_id: uuid.UUID) -> Appointment:
    """The patient takes their offer: their open session is booked into the freed time
    (or their booked one moved to it), with every course rule checked again. Refused
    (409) when the offer is no longer live or its time was taken meanwhile."""
    offer = await _offer(uow, offer_id, patient_id=patient_id)
    if offer.status == OfferStatus.LIVE and offer.claim_by <= uow.now:
        raise OfferClosed("this offer has expired", offer_status=OfferStatus.EXPIRED.value)
    await close(uow, offer, OfferAction.CLAIM, "claimed by the patient")
    if offer.appointment_id is None:
        choice = Choice(
            offer.booking_request_id, offer.practitioner_id, offer.room_id, offer.freed_from
        )
        appointment = await reservations.reserve(
            uow, choice=choice, by=PATIENT, patient_id=patient_id
        )
    else:
        move = moves.Move(
            offer.appointment_id, offer.freed_from, offer.practitioner_id, offer.room_id
        )
        appointment, _ = await moves.reschedule(uow, move=move, by=PATIENT, patient_id=patient_id)
    await uow.commit()
    return appointment


async def decline(
    uow: UnitOfWork, *, offer_id: uuid.UUID, patient_id: uuid.UUID, reason: str
) -> SlotOffer:
    """The patient passes: the next candidate gets the time."""
    offer = await _offer(uow, offer_id, patient_id=patient_id)
    await close(uow, offer, OfferAction.DECLINE, reason)
    return offer


async def keep_quiet_hours(uow: UnitOfWork, *, changed: QuietHoursChanged) -> None:
    """notify's policy has new quiet hours: offers keep to them (a late, older revision
    changes nothing)."""
    values = {
        "quiet_start": changed.quiet_hours_start,
        "quiet_end": changed.quiet_hours_end,
        "revision": changed.revision,
    }
    await upsert(
        uow.session, ClinicQuietHours, key={"id": 1}, values=values,
        where=ClinicQuietHours.revision < changed.revision,
    )  # fmt: skip


async def decline_by_sms(uow: UnitOfWork, *, refused: OfferRefused) -> None:
    """The patient replied NO to the offer's SMS."""
    await decline(
        uow,
        offer_id=refused.offer_id,
        patient_id=refused.patient_id,
        reason="the patient replied NO",
    )


async def unreached(uow: UnitOfWork, *, message: MessageStatusChanged) -> None:
    """The offer's SMS could not reach the patient (not sent, or refused on the way): the
    next candidate gets the time rather than wait for the claim window."""
    if message.kind != MessageKind.OFFER or message.status not in UNREACHED:
        return
    if message.offer_id is None:
        return
    offer = await uow.session.get(SlotOffer, message.offer_id, with_for_update=True)
    if offer is None or offer.status != OfferStatus.LIVE:
        return
    why = f"its SMS did not reach the patient ({message.reason or message.status})"
    await close(uow, offer, OfferAction.EXPIRE, why)


async def expire_offers(uow: UnitOfWork, *, limit: int = 100) -> int:
    """Close the live offers past their claim window (``OfferExpired``) and offer each
    time to the next candidate; how many expired."""
    expired = await _live_offers(uow, SlotOffer.claim_by <= uow.now, limit=limit)
    for offer in expired:
        await close(uow, offer, OfferAction.EXPIRE, "nobody claimed it in time")
    return len(expired)


async def withdraw_taken(uow: UnitOfWork, event: AppointmentMade | AppointmentMoved) -> None:
    """A reaction: an appointment now keeps time a live offer gives (nobody else gets that
    offer's time), or takes a session a live offer was for (its time goes on). One
    statement over the live offers alone (a partial index): every booking pays for it,
    unless its insert already saw none (store.no_live_offers)."""
    appointment = event.appointment
    if isinstance(event, AppointmentMade) and store.no_live_offers(uow.db, appointment.id):
        return
    overlapping = sa.and_(
        sa.or_(
            SlotOffer.practitioner_id == appointment.practitioner_id,
            SlotOffer.room_id == appointment.room_id,
        ),
        SlotOffer.freed_from < appointment.blocked_until,
        SlotOffer.freed_until > appointment.blocked_from,
    )
    for_its_session = SlotOffer.booking_request_id == appointment.booking_request_id
    found = await uow.session.execute(
        sa.select(SlotOffer, overlapping)
        .where(SlotOffer.status == OfferStatus.LIVE, sa.or_(overlapping, for_its_session))
        .order_by(SlotOffer.claim_by)
        .with_for_update(skip_locked=True, of=SlotOffer)
    )
    for offer, taken in found.all():
        if taken:
            await close(uow, offer, OfferAction.WITHDRAW, "the time was taken", pass_on=False)
        else:
            why = "the session was booked otherwise"
            await close(uow, offer, OfferAction.WITHDRAW, why, pass_on=True)


async def withdraw_for_requests(uow: UnitOfWork, request_ids: list[uuid.UUID], *, why: str) -> None:
    """The sessions' offers lost their premise (booked otherwise, cancelled, paused, or a
    new window): withdrawn, and their time goes to the next candidate."""
    if not request_ids:
        return
    for offer in await _live_offers(uow, SlotOffer.booking_request_id.in_(request_ids)):
        await close(uow, offer, OfferAction.WITHDRAW, why, pass_on=True)


async def withdraw_if_taken(uow: UnitOfWork, *, token_hash: str) -> None:
    """A claim was refused where it was to be booked: when the offer's time is taken (by
    a booking whose own withdrawal passed over the offer, locked by the claim), the offer
    ends now, and nobody else gets the time."""
    link = await uow.session.get(PatientLink, token_hash)
    offer = await uow.session.get(SlotOffer, link.offer_id, with_for_update=True) if link else None
    if offer is None or offer.status != OfferStatus.LIVE:
        return
    slot = await store.freed_slot(
        uow.session, practitioner_id=offer.practitioner_id, room_id=offer.room_id,
        location_id=offer.location_id, starts_at=offer.freed_from, ends_at=offer.freed_until,
    )  # fmt: skip
    if await store.time_taken(uow.session, slot):
        await close(uow, offer, OfferAction.WITHDRAW, "the time was taken", pass_on=False)


async def offer_of_link(uow: UnitOfWork, *, token_hash: str) -> SlotOffer:
    """The offer a link was texted for (404 for a link of no offer)."""
    link = await uow.session.get(PatientLink, token_hash)
    if link is None or link.offer_id is None:
        raise Unknown("this link carries no offer")
    return await _offer(uow, link.offer_id, patient_id=link.patient_id, lock=False)


async def shown(uow: UnitOfWork, offer: SlotOffer) -> dict[str, object]:
    """The offer as its patient's page shows it: with its session, its practitioner's
    name and the booked time it would move earlier."""
    session = uow.session
    request = await session.get(BookingRequest, offer.booking_request_id)
    assert request is not None
    doctor = await store.practitioner(session, offer.practitioner_id)
    place = await store.location(session, offer.location_id)
    moving = await session.get(Appointment, offer.appointment_id) if offer.appointment_id else None
    return {
        **{column: getattr(offer, column) for column in OFFER_FIELDS},
        "session_number": request.session_number,
        "total_sessions": request.total_sessions,
        "practitioner_name": doctor.full_name,
        "location_time_zone": place.time_zone,
        "moving_from": moving.starts_at if moving else None,
    }


async def offers_of_day(
    uow: UnitOfWork, *, start: datetime, end: datetime, location_id: uuid.UUID
) -> list[dict[str, object]]:
    """The offers of the time freed between ``start`` and ``end`` at a location, each with
    its patient and session, in the order they were made: the staff's view of the day."""
    rows = await uow.session.execute(
        sa.select(SlotOffer, Patient.full_name, BookingRequest.session_number)
        .join(BookingRequest, BookingRequest.id == SlotOffer.booking_request_id)
        .outerjoin(Patient, Patient.id == SlotOffer.patient_id)
        .where(
            SlotOffer.location_id == location_id,
            SlotOffer.freed_from >= start,
            SlotOffer.freed_from < end,
        )
        .order_by(SlotOffer.freed_from, SlotOffer.created_at)
    )
    return [
        {
            **{column: getattr(offer, column) for column in OFFER_FIELDS},
            "patient_name": name,
            "session_number": number,
        }
        for offer, name, number in rows.all()
    ]


async def _offer(
    uow: UnitOfWork, offer_id: uuid.UUID, *, patient_id: uuid.UUID, lock: bool = True
) -> SlotOffer:
    offer = await uow.session.get(SlotOffer, offer_id, with_for_update=lock)
    if offer is None or offer.patient_id != patient_id:
        raise Unknown(f"no offer {offer_id}")
    return offer


async def _live_offers(
    uow: UnitOfWork, where: sa.ColumnElement[bool], *, limit: int | None = None
) -> list[SlotOffer]:
    """Live offers ``where`` says, locked (never one another transaction is closing)."""
    return list(
        await uow.session.scalars(
            sa.select(SlotOffer)
            .where(SlotOffer.status == OfferStatus.LIVE, where)
            .order_by(SlotOffer.claim_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


async def _stage(uow: UnitOfWork, payload: Payload, *, key: str) -> None:
    await add_events(uow.session, outbox, [new_event(payload, source=SOURCE, key=key, now=uow.now)])
