"""Earlier-slot offers: time a cancellation or a run-out hold freed goes to the patients
whose sessions could take it, one at a time, best first (``domain.offers``).

A reaction to the freeing step announces ``SlotFreed`` and makes the first offer
(``OfferMade``, with a link to claim it until ``claim_by``); the sweeper expires offers
past their claim window (``OfferExpired``) and makes the next. Off unless
``BOOKING_OFFER_FREED_SLOTS`` is set: notify does not text offers yet (#16).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from booking.adapters import store
from booking.adapters.db import Appointment, BookingRequest, SlotOffer, outbox
from booking.domain.offers import FreedSlot, OfferAction, candidates_for, next_offer_status
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.invitations import new_link
from booking.use_cases.records import SOURCE
from shared.contracts.booking import OfferExpired, OfferMade, OfferStatus, SlotFreed
from shared.events import Payload, new_event
from shared.outbox import add_events


async def offer_freed_time(uow: UnitOfWork, appointment: Appointment) -> None:
    """``appointment`` no longer keeps its time: announce it, and offer it to the best
    candidate, if any."""
    if not uow.settings.offer_freed_slots or appointment.starts_at <= uow.now:
        return
    slot = await store.freed_slot(
        uow.session, practitioner_id=appointment.practitioner_id, room_id=appointment.room_id,
        location_id=appointment.location_id, starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )  # fmt: skip
    freed = SlotFreed(
        practitioner_id=slot.practitioner_id, room_id=slot.room_id,
        location_id=slot.location_id, starts_at=appointment.starts_at,
        ends_at=appointment.ends_at, appointment_id=appointment.id,
    )  # fmt: skip
    await _stage(uow, freed, key=str(appointment.id))
    await offer_next(uow, slot, freed_by=appointment.id)


async def offer_next(uow: UnitOfWork, slot: FreedSlot, *, freed_by: uuid.UUID) -> bool:
    """Offer ``slot`` to the best candidate who has not had it; whether one was found."""
    session, now, settings = uow.session, uow.now, uow.settings
    policy = settings.offer_policy
    candidates = await store.offer_candidates(session, slot, freed_by=freed_by, now=now)
    ranked = candidates_for(slot, candidates, now=now, policy=policy)
    if not ranked:
        return False
    best = ranked[0]
    offer = SlotOffer(
        id=uuid.uuid4(), freed_by=freed_by, practitioner_id=slot.practitioner_id,
        room_id=slot.room_id, location_id=slot.location_id, freed_from=slot.starts_at,
        freed_until=slot.starts_at + timedelta(minutes=slot.minutes),
        booking_request_id=best.booking_request_id, patient_id=best.patient_id,
        status=OfferStatus.LIVE, claim_by=now + policy.claim_window,
        created_at=now,
    )  # fmt: skip
    session.add(offer)
    request = await session.get(BookingRequest, best.booking_request_id)
    assert request is not None
    link_url, _ = new_link(session, best.patient_id, settings=settings, now=now)
    made = OfferMade(
        offer_id=offer.id, patient_id=best.patient_id, booking_request_id=request.id,
        session_number=request.session_number, total_sessions=request.total_sessions,
        appointment_id=None, practitioner_id=slot.practitioner_id,
        location_time_zone=slot.time_zone, starts_at=slot.starts_at,
        ends_at=slot.starts_at + timedelta(minutes=best.session_minutes),
        link_url=f"{link_url}?offer={offer.id}", claim_by=offer.claim_by,
    )  # fmt: skip
    await _stage(uow, made, key=str(best.patient_id))
    return True


async def expire_offers(uow: UnitOfWork, *, limit: int = 100) -> int:
    """Close the live offers past their claim window (``OfferExpired``) and offer each
    slot to the next candidate; how many expired."""
    session, now = uow.session, uow.now
    expired = list(
        await session.scalars(
            sa.select(SlotOffer)
            .where(SlotOffer.status == OfferStatus.LIVE, SlotOffer.claim_by <= now)
            .order_by(SlotOffer.claim_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for offer in expired:
        offer.status = next_offer_status(OfferStatus(offer.status), OfferAction.EXPIRE)
        offer.closed_at, offer.reason = now, "nobody claimed it in time"
        closed = OfferExpired(
            offer_id=offer.id, patient_id=offer.patient_id, status=offer.status,
            reason=offer.reason,
        )  # fmt: skip
        await _stage(uow, closed, key=str(offer.patient_id))
        await session.flush()  # the live offer's slot in the unique index is free again
        slot = await store.freed_slot(
            session, practitioner_id=offer.practitioner_id, room_id=offer.room_id,
            location_id=offer.location_id, starts_at=offer.freed_from,
            ends_at=offer.freed_until,
        )  # fmt: skip
        await offer_next(uow, slot, freed_by=offer.freed_by)
    return len(expired)


async def _stage(uow: UnitOfWork, payload: Payload, *, key: str) -> None:
    await add_events(uow.session, outbox, [new_event(payload, source=SOURCE, key=key, now=uow.now)])
