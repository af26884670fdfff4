"""A booking request: one session of a plan's course, waiting for (or taken by) its time."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from booking.domain.errors import StateConflict
from booking.domain.events import Recorder
from booking.domain.lifecycle import Action


class RequestStatus(StrEnum):
    """Where a session of a course stands in booking."""

    #: Waiting to be booked (an invitation, or a held slot, may be on its way).
    OPEN = "open"
    #: A slot is held for it (auto mode, self-booking), until the hold is booked or expires.
    HELD = "held"
    #: An appointment is booked for it.
    BOOKED = "booked"
    #: Its session took place.
    COMPLETED = "completed"
    #: Not to be booked for now: the plan was paused (resuming reopens it).
    WITHDRAWN = "withdrawn"
    #: Not to be booked ever: the plan was cancelled.
    CANCELLED = "cancelled"


#: Statuses a change of the session's window still applies to.
LIVE = frozenset(
    {RequestStatus.OPEN, RequestStatus.HELD, RequestStatus.BOOKED, RequestStatus.WITHDRAWN}
)


class RequestAction(StrEnum):
    """What happens to a session's request."""

    #: A slot is held for the session / an appointment is booked for it.
    HOLD = "hold"
    BOOK = "book"
    #: Its appointment went (cancelled, expired, a no-show): to be booked again.
    RELEASE = "release"
    COMPLETE = "complete"
    #: The plan paused (withdraw) and resumed (reopen), or was cancelled.
    WITHDRAW = "withdraw"
    REOPEN = "reopen"
    CANCEL = "cancel"


_TAKEN = (RequestStatus.HELD, RequestStatus.BOOKED)
TRANSITIONS: dict[tuple[RequestStatus, RequestAction], RequestStatus] = {
    (RequestStatus.OPEN, RequestAction.HOLD): RequestStatus.HELD,
    (RequestStatus.OPEN, RequestAction.BOOK): RequestStatus.BOOKED,
    (RequestStatus.HELD, RequestAction.BOOK): RequestStatus.BOOKED,
    **{(taken, RequestAction.RELEASE): RequestStatus.OPEN for taken in _TAKEN},
    (RequestStatus.BOOKED, RequestAction.COMPLETE): RequestStatus.COMPLETED,
    **{(live, RequestAction.WITHDRAW): RequestStatus.WITHDRAWN for live in LIVE},
    (RequestStatus.WITHDRAWN, RequestAction.REOPEN): RequestStatus.OPEN,
    **{(live, RequestAction.CANCEL): RequestStatus.CANCELLED for live in LIVE},
}

#: How a request follows its appointment's step (other steps leave it as it is).
FOLLOWS: dict[Action, RequestAction] = {
    Action.BOOK: RequestAction.BOOK,
    Action.CANCEL: RequestAction.RELEASE,
    Action.EXPIRE: RequestAction.RELEASE,
    Action.MARK_NO_SHOW: RequestAction.RELEASE,
    Action.COMPLETE: RequestAction.COMPLETE,
}


class RequestState(Protocol):
    """What the rules read and write of a booking request."""

    session_number: int
    status: str


class RequestRules(Recorder):
    """The booking request's methods (mixed into booking.adapters.db.BookingRequest)."""

    if TYPE_CHECKING:  # what they set, as the store types it (never seen at runtime)
        status: str

    def take(self: RequestState, *, hold: bool) -> RequestStatus:
        """The status the request goes to when a new appointment holds or books it: only
        an open one can be taken. The store writes it with the appointment's event, in
        one statement (use_cases/records.py: announce_new)."""
        if self.status != RequestStatus.OPEN:
            raise StateConflict(f"booking request is {self.status}, not open")
        return TRANSITIONS[(RequestStatus.OPEN, RequestAction.HOLD if hold else RequestAction.BOOK)]

    def follow(self: RequestState, step: Action) -> None:
        """Keep in step with the session's appointment after ``step``; a request the plan
        withdrew or cancelled stays so."""
        action = FOLLOWS.get(step)
        new = TRANSITIONS.get((RequestStatus(self.status), action)) if action else None
        if new is not None:
            self.status = new

    def plan_changed(self: RequestState, action: RequestAction) -> None:
        """The plan withdrew (paused), reopened (resumed) or cancelled the session; what
        does not apply to the request as it stands leaves it so."""
        new = TRANSITIONS.get((RequestStatus(self.status), action))
        if new is not None:
            self.status = new
