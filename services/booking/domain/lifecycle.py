"""The appointment's life: which action moves which status where, and nothing else."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from booking.domain.errors import StateConflict
from shared.contracts.booking import AppointmentStatus


class Action(StrEnum):
    #: A hold becomes a booking (the patient or staff accept the held slot).
    BOOK = "book"
    #: The patient says they will come (SMS reply "C" or their link).
    CONFIRM = "confirm"
    RESCHEDULE = "reschedule"
    CHECK_IN = "check_in"
    COMPLETE = "complete"
    MARK_NO_SHOW = "mark_no_show"
    CANCEL = "cancel"
    #: A hold whose time ran out.
    EXPIRE = "expire"


TRANSITIONS: dict[tuple[AppointmentStatus, Action], AppointmentStatus] = {
    (AppointmentStatus.HELD, Action.BOOK): AppointmentStatus.BOOKED,
    (AppointmentStatus.HELD, Action.RESCHEDULE): AppointmentStatus.HELD,
    (AppointmentStatus.HELD, Action.CANCEL): AppointmentStatus.CANCELLED,
    (AppointmentStatus.HELD, Action.EXPIRE): AppointmentStatus.CANCELLED,
    (AppointmentStatus.BOOKED, Action.CONFIRM): AppointmentStatus.CONFIRMED,
    (AppointmentStatus.BOOKED, Action.RESCHEDULE): AppointmentStatus.BOOKED,
    (AppointmentStatus.BOOKED, Action.CHECK_IN): AppointmentStatus.CHECKED_IN,
    (AppointmentStatus.BOOKED, Action.MARK_NO_SHOW): AppointmentStatus.NO_SHOW,
    (AppointmentStatus.BOOKED, Action.CANCEL): AppointmentStatus.CANCELLED,
    # The patient confirmed the old time, not the new one: a moved appointment is re-confirmed.
    (AppointmentStatus.CONFIRMED, Action.RESCHEDULE): AppointmentStatus.BOOKED,
    (AppointmentStatus.CONFIRMED, Action.CHECK_IN): AppointmentStatus.CHECKED_IN,
    (AppointmentStatus.CONFIRMED, Action.MARK_NO_SHOW): AppointmentStatus.NO_SHOW,
    (AppointmentStatus.CONFIRMED, Action.CANCEL): AppointmentStatus.CANCELLED,
    (AppointmentStatus.CHECKED_IN, Action.COMPLETE): AppointmentStatus.COMPLETED,
}

_VERB = {
    Action.BOOK: "booked",
    Action.CONFIRM: "confirmed",
    Action.RESCHEDULE: "rescheduled",
    Action.CHECK_IN: "checked in",
    Action.COMPLETE: "completed",
    Action.MARK_NO_SHOW: "marked as a no-show",
    Action.CANCEL: "cancelled",
    Action.EXPIRE: "expired",
}


class InvalidTransition(StateConflict):
    """The action does not apply to the appointment as it stands; says why."""


def next_status(status: AppointmentStatus, action: Action) -> AppointmentStatus:
    """The status ``action`` leads to from ``status``, or :class:`InvalidTransition`."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == status)
        hint = f"; allowed now: {', '.join(allowed)}" if allowed else ""
        raise InvalidTransition(
            f"a {status.value} appointment cannot be {_VERB[action]}{hint}"
        ) from None


def check_timing(action: Action, *, starts_at: datetime, now: datetime) -> None:
    """Rules of the clock: nobody is a no-show, or moved into the past, before their time."""
    if action is Action.MARK_NO_SHOW and now < starts_at:
        raise InvalidTransition("a patient cannot be marked as a no-show before the session starts")
    if action is Action.COMPLETE and now < starts_at:
        raise InvalidTransition("a session cannot be completed before it starts")
