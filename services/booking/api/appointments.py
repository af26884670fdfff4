"""Appointments for staff: book, list, and run each one's life."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from booking.adapters.db import Appointment, idempotency_keys
from booking.api.deps import (
    DeskCreateDep,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    own_practitioner,
    staff_name,
)
from booking.api.schemas import (
    AppointmentIn,
    AppointmentOut,
    MovedOut,
    MoveIn,
    ShiftOut,
    TransitionIn,
)
from booking.domain.course import Choice
from booking.domain.lifecycle import Action
from booking.use_cases import moves, reservations, steps
from booking.use_cases.reactions import unit_of_work
from booking.use_cases.records import get_or_404
from shared.api import DeskDep, Instant, Offset, StaffDep
from shared.auth import Role
from shared.contracts.booking import AppointmentStatus
from shared.db import transaction
from shared.problems import Problem, problems

router = APIRouter(prefix="/v1", tags=["appointments"])

#: The URL verb of each staff step.
STEPS = {
    "book": Action.BOOK,
    "confirm": Action.CONFIRM,
    "check-in": Action.CHECK_IN,
    "complete": Action.COMPLETE,
    "no-show": Action.MARK_NO_SHOW,
    "cancel": Action.CANCEL,
}


@router.post("/appointments", status_code=201, response_model=AppointmentOut)
async def book_appointment(body: AppointmentIn, desk: DeskCreateDep) -> Response:
    """Book (or hold) a session; 409 names what is already taken at that time. The same
    ``Idempotency-Key`` answers the same appointment; with another body, 422."""
    runtime, user, once = desk.runtime, desk.user, desk.once
    settings, now = runtime.settings, runtime.clock.now()
    choice = Choice(body.booking_request_id, body.practitioner_id, body.room_id, body.starts_at)

    async def create() -> AppointmentOut:
        appointment = await reservations.book_session(
            unit_of_work(db, settings, now),
            choice=choice,
            by=staff_name(user),
            hold_until=now + settings.hold_ttl if body.hold else None,
        )
        return AppointmentOut.model_validate(appointment)

    # A pooled transaction: the booking path's statements are plain ones, and the ORM
    # session is made only if a rarer path needs it (shared.db.Transaction).
    async with transaction(runtime.engine) as db:
        return await once.create(db, idempotency_keys, scope="appointments", create=create)


@router.get("/appointments", responses=problems(403))
async def list_appointments(
    session: SessionDep,
    user: StaffDep,
    patient_id: uuid.UUID | None = None,
    practitioner_id: uuid.UUID | None = None,
    status: AppointmentStatus | None = None,
    starts_from: Instant | None = None,
    starts_before: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> list[AppointmentOut]:
    if user.role is Role.PRACTITIONER:
        practitioner_id = own_practitioner(user, practitioner_id)
    query = sa.select(Appointment).order_by(Appointment.starts_at, Appointment.id)
    for column, value in (
        (Appointment.patient_id, patient_id),
        (Appointment.practitioner_id, practitioner_id),
        (Appointment.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if starts_from is not None:
        query = query.where(Appointment.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Appointment.starts_at < starts_before)
    found = await session.scalars(query.limit(limit).offset(offset))
    return [AppointmentOut.model_validate(a) for a in found]


@router.get("/appointments/{appointment_id}", responses=problems(403))
async def get_appointment(
    appointment_id: uuid.UUID, session: SessionDep, user: StaffDep
) -> AppointmentOut:
    appointment = await get_or_404(session, Appointment, appointment_id, "appointment")
    if user.role is Role.PRACTITIONER:
        own_practitioner(user, appointment.practitioner_id)
    return AppointmentOut.model_validate(appointment)


@router.post("/appointments/{appointment_id}/reschedule")
async def reschedule(
    appointment_id: uuid.UUID,
    body: MoveIn,
    runtime: RuntimeDep,
    settings: SettingsDep,
    user: DeskDep,
) -> MovedOut:
    """Move the session (same appointment, version bumped) inside its window and the
    course's intervals; the answer lists later sessions the move pushes."""
    move = moves.Move(
        appointment_id, body.starts_at, body.practitioner_id, body.room_id, body.expected_version
    )
    async with runtime.sessions.begin() as session:
        appointment, shifts = await moves.reschedule(
            unit_of_work(session, settings, runtime.clock.now()), move=move, by=staff_name(user)
        )
    return MovedOut.model_validate(
        {
            **AppointmentOut.model_validate(appointment).model_dump(),
            "later_sessions_to_move": [ShiftOut(**vars(s)) for s in shifts],
        }
    )


@router.post("/appointments/{appointment_id}/{step}", responses=problems(403))
async def change(
    appointment_id: uuid.UUID,
    step: Annotated[str, Path(json_schema_extra={"enum": list(STEPS)})],
    runtime: RuntimeDep,
    settings: SettingsDep,
    user: StaffDep,
    body: TransitionIn | None = None,
) -> AppointmentOut:
    """One step of the appointment's life: book (a hold), confirm, check-in, complete,
    no-show, cancel. 409 with the reason when the step does not apply now. Practitioners
    may check in, complete and mark no-shows of their own appointments only."""
    action = STEPS.get(step)
    if action is None:
        raise Problem(404, "Not found", f"no step {step!r}; one of {', '.join(STEPS)}")
    body = body or TransitionIn()
    async with runtime.sessions.begin() as session:
        if user.role is Role.PRACTITIONER:
            if action not in (Action.CHECK_IN, Action.COMPLETE, Action.MARK_NO_SHOW):
                raise Problem(403, "Forbidden", f"a practitioner may not {step} appointments")
            current = await get_or_404(session, Appointment, appointment_id, "appointment")
            own_practitioner(user, current.practitioner_id)
        appointment = await steps.take_step(
            unit_of_work(session, settings, runtime.clock.now()),
            appointment_id=appointment_id,
            action=action,
            by=staff_name(user),
            reason=body.reason,
            expected_version=body.expected_version,
        )
    return AppointmentOut.model_validate(appointment)
