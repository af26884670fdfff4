"""Asking the patient to book: a self-booking link (invite mode) or a held slot (auto mode)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import Appointment, BookingRequest, PatientLink, outbox
from booking.domain.availability import best_offer
from booking.domain.course import Choice
from booking.domain.errors import BookingRefused
from booking.settings import BookingSettings
from booking.use_cases.availability import find_slots
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.records import SOURCE
from booking.use_cases.reservations import reserve
from shared.auth import new_patient_token
from shared.contracts.booking import BookingInvitationIssued
from shared.events import new_event
from shared.outbox import add_events


def self_booking_link(settings: BookingSettings, token: str) -> str:
    """The link texted to the patient: the page's canonical path form, ``.../book/<token>``
    (the page still takes ``/book?token=`` for links sent before)."""
    return f"{settings.self_booking_url.rstrip('/')}/{quote(token, safe='')}"


def new_link(
    session: AsyncSession,
    patient_id: uuid.UUID,
    *,
    settings: BookingSettings,
    now: datetime,
    offer_id: uuid.UUID | None = None,
) -> tuple[str, datetime]:
    """A fresh self-booking link for the patient (for an earlier-slot offer: its page
    opens on it), and until when it works. Only the token's hash is kept; the token
    travels once, in the event notify texts."""
    token, token_hash = new_patient_token()
    expires_at = now + timedelta(days=settings.link_days)
    link = PatientLink(
        token_hash=token_hash, patient_id=patient_id, created_at=now, expires_at=expires_at,
        offer_id=offer_id,
    )  # fmt: skip
    session.add(link)
    return self_booking_link(settings, token), expires_at


async def issue_invitation(
    session: AsyncSession,
    *,
    request: BookingRequest,
    settings: BookingSettings,
    now: datetime,
    appointment_id: uuid.UUID | None = None,
) -> BookingInvitationIssued:
    """A fresh self-booking link for the patient (:func:`new_link`), texted by notify."""
    link_url, expires_at = new_link(session, request.patient_id, settings=settings, now=now)
    invitation = BookingInvitationIssued(
        patient_id=request.patient_id,
        plan_id=request.plan_id,
        booking_request_id=request.id,
        session_number=request.session_number,
        total_sessions=request.total_sessions,
        earliest_date=request.earliest_date,
        latest_date=request.latest_date,
        link_url=link_url,
        link_expires_at=expires_at,
        appointment_id=appointment_id,
    )
    event = new_event(invitation, source=SOURCE, key=str(request.patient_id), now=now)
    await add_events(session, outbox, [event])
    return invitation


async def hold_best_slot(uow: UnitOfWork, *, request: BookingRequest) -> Appointment | None:
    """Auto mode: hold the slot the patient most likely wants (their previous session's
    practitioner at a similar time of day, near the target date) for them to confirm."""
    session, settings, now = uow.session, uow.settings, uow.now
    previous = await store.previous_session(session, request)
    offers = await find_slots(session, request=request, settings=settings, now=now)
    # Read before any savepoint rolls back: an expired attribute cannot load lazily here.
    request_id, target_day, zone = request.id, request.target_date, request.time_zone
    # Try the best few: another booking may take the first between search and insert.
    for _ in range(3):
        offer = best_offer(offers, target_day=target_day, time_zone=zone, previous=previous)
        if offer is None:
            return None
        choice = Choice(request_id, offer.practitioner_id, offer.room_id, offer.starts_at)
        try:
            async with uow.savepoint():
                return await reserve(
                    uow,
                    choice=choice,
                    by="booking",
                    hold_until=now + timedelta(hours=settings.auto_hold_hours),
                )
        except BookingRefused:
            offers = [o for o in offers if o is not offer]
    return None


async def invite_or_hold(uow: UnitOfWork, *, request: BookingRequest) -> None:
    """What a newly open session leads to, by the clinic's setting: a link, or a held slot
    (falling back to a link when nothing fits)."""
    session, settings, now = uow.session, uow.settings, uow.now
    if settings.booking_mode == "auto":
        hold = await hold_best_slot(uow, request=request)
        if hold is not None:
            await issue_invitation(
                session, request=request, settings=settings, now=now, appointment_id=hold.id
            )
            return
    await issue_invitation(session, request=request, settings=settings, now=now)
