"""The appointment's life: which action moves which status where, and nothing else."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    HELD = "held"
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


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


#: Statuses that keep a practitioner's and a room's time (the exclusion constraints' WHERE).
ACTIVE = frozenset({Status.HELD, Status.BOOKED, Status.CONFIRMED, Status.CHECKED_IN})

TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.HELD, Action.BOOK): Status.BOOKED,
    (Status.HELD, Action.RESCHEDULE): Status.HELD,
    (Status.HELD, Action.CANCEL): Status.CANCELLED,
    (Status.HELD, Action.EXPIRE): Status.CANCELLED,
    (Status.BOOKED, Action.CONFIRM): Status.CONFIRMED,
    (Status.BOOKED, Action.RESCHEDULE): Status.BOOKED,
    (Status.BOOKED, Action.CHECK_IN): Status.CHECKED_IN,
    (Status.BOOKED, Action.MARK_NO_SHOW): Status.NO_SHOW,
    (Status.BOOKED, Action.CANCEL): Status.CANCELLED,
    # The patient confirmed the old time, not the new one: a moved appointment is re-confirmed.
    (Status.CONFIRMED, Action.RESCHEDULE): Status.BOOKED,
    (Status.CONFIRMED, Action.CHECK_IN): Status.CHECKED_IN,
    (Status.CONFIRMED, Action.MARK_NO_SHOW): Status.NO_SHOW,
    (Status.CONFIRMED, Action.CANCEL): Status.CANCELLED,
    (Status.CHECKED_IN, Action.COMPLETE): Status.COMPLETED,
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


class InvalidTransition(Exception):
    """The action does not apply to the appointment as it stands; says why."""


def next_status(status: Status, action: Action) -> Status:
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
