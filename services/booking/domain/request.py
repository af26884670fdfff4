"""A booking request: one session of a plan's course, waiting for (or taken by) its time."""

from __future__ import annotations

from enum import StrEnum


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
