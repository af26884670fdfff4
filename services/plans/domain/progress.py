"""A plan's progress as staff see it: what is done, booked, open, missed, and what is next."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from plans.domain.lifecycle import SessionStatus
from shared.contracts.plans import SessionWindow


@dataclass(frozen=True)
class SessionRecord:
    """A session with what happened to it so far."""

    window: SessionWindow
    status: SessionStatus
    #: Appointments of this session the patient did not come to.
    missed: int = 0


@dataclass(frozen=True)
class Progress:
    total: int
    completed: int
    booked: int
    open: int
    withdrawn: int
    skipped: int
    cancelled: int
    #: No-shows over the whole plan (a session can be missed more than once).
    missed: int
    #: Open sessions whose window has already closed.
    overdue: int
    #: The first session still to happen (open or booked), if any.
    next_window: SessionWindow | None


def progress(sessions: Sequence[SessionRecord], *, today: date) -> Progress:
    """Count the plan's sessions by status, as of ``today`` in the clinic."""

    def count(status: SessionStatus) -> int:
        return sum(1 for s in sessions if s.status == status)

    upcoming = [s for s in sessions if s.status in (SessionStatus.OPEN, SessionStatus.BOOKED)]
    return Progress(
        total=len(sessions),
        completed=count(SessionStatus.COMPLETED),
        booked=count(SessionStatus.BOOKED),
        open=count(SessionStatus.OPEN),
        withdrawn=count(SessionStatus.WITHDRAWN),
        skipped=count(SessionStatus.SKIPPED),
        cancelled=count(SessionStatus.CANCELLED),
        missed=sum(s.missed for s in sessions),
        overdue=sum(
            1 for s in sessions if s.status == SessionStatus.OPEN and s.window.latest_date < today
        ),
        next_window=min(upcoming, key=lambda s: s.window.session_number).window
        if upcoming
        else None,
    )
