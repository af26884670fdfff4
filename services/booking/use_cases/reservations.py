"""Holding and booking a slot: the booking path.

Read, judge, write: a reservation locks its course and has the request take the new
appointment, reads what the choice is judged against (``adapters.store``), has it judged
(``domain.appointments.Placing``) and inserts the appointment, which PostgreSQL accepts
or refuses as taken; the insert's statement also writes the appointment's event and the
request's new status. The unit of work then hands what the aggregates recorded to the
reactions (``use_cases.reactions``): live offers in its way, auto mode's next hold.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm.attributes import set_committed_value

from booking.adapters import store
from booking.adapters.db import Appointment
from booking.domain.course import Choice, Rules
from booking.domain.errors import Unknown
from booking.domain.events import AppointmentMade
from booking.domain.lifecycle import Action
from booking.settings import BookingSettings
from booking.use_cases.bus import UnitOfWork
from booking.use_cases.records import announcement
from booking.use_cases.steps import HOLD_EXPIRED
from shared.contracts.booking import AppointmentStatus


async def reserve(
    uow: UnitOfWork,
    *,
    choice: Choice,
    by: str,
    hold_until: datetime | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """Hold (``hold_until`` given) or book one session of a booking request, recorded for
    the unit of work (the caller commits).

    The request must be open (and the patient's own when ``patient_id`` is given); the
    practitioner must treat its indication at the room's location, the time be inside the
    session's window, far enough from the course's other active sessions (the course's
    requests are locked first) and inside the resources' hours; PostgreSQL refuses a
    taken time.
    """
    db, now = uow.db, uow.now
    located = await store.placing(db, choice)
    if located is None or (patient_id is not None and located[0].patient_id != patient_id):
        raise Unknown(f"no booking request {choice.booking_request_id}")
    request, placing = located
    request_status = request.take(hold=hold_until is not None)
    times = placing.judge(choice, request, now=now, rules=rules(uow.settings, patient_id))
    values = {
        "id": uuid.uuid4(),
        "version": 1,
        "status": AppointmentStatus.HELD if hold_until else AppointmentStatus.BOOKED,
        "patient_id": request.patient_id,
        "booking_request_id": request.id,
        "practitioner_id": choice.practitioner_id,
        "room_id": choice.room_id,
        "location_id": placing.location.id,
        "starts_at": times.starts_at,
        "ends_at": times.ends_at,
        "blocked_from": times.blocked_from,
        "blocked_until": times.blocked_until,
        "created_at": now,
        "updated_at": now,
        "hold_expires_at": hold_until,
        "changed_by": by,
    }
    appointment = store.as_loaded(Appointment, values)
    # Its event and its request's new status are written with it, in its insert's statement.
    announcing = await announcement(db, appointment, request, request_status, now=now)
    announced = await store.insert_appointment(
        db, appointment, now=now, expire=expiry(uow), announcing=announcing
    )
    set_committed_value(request, "status", request_status)  # as written, not to write again
    appointment.record(AppointmentMade(appointment, request, None if announced else announcing))
    return uow.add(appointment)


async def book_session(
    uow: UnitOfWork,
    *,
    choice: Choice,
    by: str,
    hold_until: datetime | None = None,
    patient_id: uuid.UUID | None = None,
) -> Appointment:
    """:func:`reserve` one session, and commit: the reactions announce it (and, in auto
    mode, a booking holds the course's next session)."""
    appointment = await reserve(
        uow, choice=choice, by=by, hold_until=hold_until, patient_id=patient_id
    )
    await uow.commit()
    return appointment


def rules(settings: BookingSettings, patient_id: uuid.UUID | None) -> Rules:
    """The clinic's placing rules, for staff or (``patient_id``) a patient's own booking."""
    if patient_id is None:
        return Rules(settings.buffer_before, settings.buffer_after)
    return Rules(
        settings.buffer_before,
        settings.buffer_after,
        notice_hours=settings.minimum_notice_hours,
        horizon_days=settings.horizon_days,
    )


def expiry(uow: UnitOfWork) -> store.Expire:
    """What becomes of a run-out hold in a new time's way: it expires, with its event, in
    this unit of work."""
    now = uow.now

    def expire(hold: Appointment) -> None:
        uow.add(hold).take_step(Action.EXPIRE, now=now, by="system", reason=HOLD_EXPIRED)

    return expire
