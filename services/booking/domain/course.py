"""A course of sessions: each inside its own window, in order, far enough apart.

The spacing rule is one function, :func:`check_gap`: a session placed on a day must be
at least the course's minimum gap (the protocol's ``min_gap_days``, sent by plans) after
its previous active session and before its next one, in session order; sessions k and
k+n are at least n gaps apart, so a session left open between two booked ones still
fits. Every path that places a session (staff booking, patients' holds, auto-mode
holds, moves, whole-course booking) and slot search ask it. Plans re-anchors later
windows once a session is done early or late; booking only keeps what is booked
consistent with the windows and the gap it has.

Placing one session in its course (:class:`Placing`) judges a booking's
:class:`Choice` against the course, its resources and their hours, and gives the
:class:`Slot` it takes: the session's time and the time it keeps from others.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Protocol

from booking.domain.availability import (
    Clinic,
    Interval,
    LocationInfo,
    PractitionerInfo,
    RoomInfo,
)
from booking.domain.errors import StateConflict, UnsuitableChoice
from shared.contracts.plans import SessionWindow


@dataclass(frozen=True)
class Placement:
    """A session placed on a day (at the location)."""

    session_number: int
    day: date


class CourseDoesNotFit(UnsuitableChoice):
    """A placement breaks a window; says which session and why."""


@dataclass(frozen=True)
class Allowed:
    """The days a session may be on, given its active neighbours in the course."""

    previous: Placement | None
    next: Placement | None
    #: None: no bound on that side.
    earliest: date | None
    latest: date | None

    def holds(self, day: date) -> bool:
        return (self.earliest is None or day >= self.earliest) and (
            self.latest is None or day <= self.latest
        )


@dataclass(frozen=True)
class GapBreach:
    """A session placed too close to an active neighbour of its course."""

    placement: Placement
    neighbour: Placement
    min_gap_days: int
    earliest: date | None
    latest: date | None

    def __str__(self) -> str:
        n, day = self.placement.session_number, self.placement.day
        neighbour = self.neighbour
        said = (
            f"session {n} on {day} is too close to session {neighbour.session_number} on "
            f"{neighbour.day}: sessions of this course are at least {self.min_gap_days} "
            f"day(s) apart"
        )
        if self.earliest is not None and self.latest is not None and self.earliest > self.latest:
            return f"{said}; no date fits session {n} between its booked neighbours"
        bounds = []
        if self.earliest is not None:
            bounds.append(f"the earliest allowed date is {self.earliest}")
        if self.latest is not None:
            bounds.append(f"the latest allowed date is {self.latest}")
        return f"{said}; {' and '.join(bounds)}"


class SessionsTooClose(StateConflict):
    """A placement breaks the spacing rule: names the neighbour and the allowed dates."""

    def __init__(self, breach: GapBreach) -> None:
        super().__init__(
            str(breach),
            conflict="min_gap",
            session_number=breach.placement.session_number,
            neighbour_session_number=breach.neighbour.session_number,
            neighbour_date=breach.neighbour.day.isoformat(),
            min_gap_days=breach.min_gap_days,
            earliest_allowed_date=breach.earliest.isoformat() if breach.earliest else None,
            latest_allowed_date=breach.latest.isoformat() if breach.latest else None,
        )
        self.breach = breach


def allowed_days(session_number: int, others: Sequence[Placement], min_gap_days: int) -> Allowed:
    """The span session ``session_number`` may be placed in, from its nearest active
    neighbours among ``others`` (previous and next by session number; the session's own
    placement among them is ignored)."""
    before = [p for p in others if p.session_number < session_number]
    after = [p for p in others if p.session_number > session_number]
    previous = max(before, key=lambda p: p.session_number) if before else None
    following = min(after, key=lambda p: p.session_number) if after else None
    gap = timedelta(days=min_gap_days)
    earliest = latest = None
    if previous is not None:
        earliest = previous.day + gap * (session_number - previous.session_number)
    if following is not None:
        latest = following.day - gap * (following.session_number - session_number)
    return Allowed(previous, following, earliest, latest)


def check_gap(
    placement: Placement, others: Sequence[Placement], min_gap_days: int
) -> GapBreach | None:
    """Whether ``placement`` keeps the minimum gap to its active neighbours ``others``
    (the course's other active sessions, in any order): None if it does, else the
    neighbour it is too close to (the previous one first) and the allowed span."""
    allowed = allowed_days(placement.session_number, others, min_gap_days)
    if allowed.holds(placement.day):
        return None
    too_early = allowed.earliest is not None and placement.day < allowed.earliest
    neighbour = allowed.previous if too_early else allowed.next
    assert neighbour is not None
    return GapBreach(placement, neighbour, min_gap_days, allowed.earliest, allowed.latest)


def derive_min_gap(windows: Sequence[SessionWindow]) -> int:
    """The gap of a course whose protocol's was never sent (requests opened before plans
    sent it): as booking derived it then, session k+1's earliest date after session k's
    target date (at least a day); the smallest over the course."""
    ordered = sorted(windows, key=lambda w: w.session_number)
    gaps = [
        max((after.earliest_date - before.target_date).days, 1)
        for before, after in pairwise(ordered)
        if after.session_number == before.session_number + 1
    ]
    return min(gaps, default=1)


def check_window(window: SessionWindow, day: date) -> None:
    if not window.earliest_date <= day <= window.latest_date:
        raise CourseDoesNotFit(
            f"session {window.session_number} must happen between {window.earliest_date} "
            f"and {window.latest_date}; {day} is outside its window"
        )


def check_course(
    windows: Sequence[SessionWindow],
    placements: Sequence[Placement],
    min_gap_days: int,
    booked: Sequence[Placement] = (),
) -> None:
    """The ``placements`` chosen (with the course's ``booked`` sessions) each inside its
    window (else CourseDoesNotFit), and each chosen one far enough from the others (else
    SessionsTooClose: the first chosen session too close to a booked one or to the chosen
    one before it)."""
    by_number = {w.session_number: w for w in windows}
    everything = sorted([*placements, *booked], key=lambda p: p.session_number)
    for placement in everything:
        window = by_number.get(placement.session_number)
        if window is None:
            raise CourseDoesNotFit(f"session {placement.session_number} is not in this course")
        check_window(window, placement.day)
    chosen = {id(p) for p in placements}
    for placement in sorted(placements, key=lambda p: p.session_number):
        others = [p for p in everything if p.session_number != placement.session_number]
        breach = check_gap(placement, others, min_gap_days)
        if breach is None:
            continue
        # Too close to a later chosen one: that one is too close to this one, said in turn.
        later = breach.neighbour.session_number > placement.session_number
        if not (later and id(breach.neighbour) in chosen):
            raise SessionsTooClose(breach)


@dataclass(frozen=True)
class Course:
    """A plan's course, the aggregate owning its window and spacing rules: its sessions'
    windows, where its active sessions are placed, and its minimum gap."""

    windows: Sequence[SessionWindow]
    placed: Sequence[Placement]
    min_gap_days: int

    def check_place(self, session_number: int, day: date) -> None:
        """Session ``session_number`` on ``day``: inside its window (else
        CourseDoesNotFit) and far enough from its active neighbours (SessionsTooClose)."""
        window = next((w for w in self.windows if w.session_number == session_number), None)
        if window is None:
            raise CourseDoesNotFit(f"session {session_number} is not in this course")
        check_window(window, day)
        breach = check_gap(Placement(session_number, day), self.placed, self.min_gap_days)
        if breach is not None:
            raise SessionsTooClose(breach)

    def check_sessions(self, placements: Sequence[Placement]) -> None:
        """Several sessions placed at once, with the course's active ones: see
        :func:`check_course`."""
        check_course(self.windows, placements, self.min_gap_days, booked=self.placed)

    def allowed(self, session_number: int) -> Allowed:
        """The days session ``session_number`` may be on, given the active ones."""
        return allowed_days(session_number, self.placed, self.min_gap_days)


@dataclass(frozen=True)
class Shift:
    """A later booked session that must move for the course to keep its intervals.

    (Kept for the reschedule answer's ``later_sessions_to_move``: a move too close to a
    later session is refused now, so the list is always empty.)
    """

    session_number: int
    day: date
    on_or_after: date


@dataclass(frozen=True)
class Slot:
    """A session's time and the time it blocks (buffers included), all in UTC."""

    starts_at: datetime
    ends_at: datetime
    blocked_from: datetime
    blocked_until: datetime


def slot(
    *, starts_at: datetime, minutes: int, buffer_before: timedelta, buffer_after: timedelta
) -> Slot:
    """The slot of a session of ``minutes`` starting at ``starts_at`` (timezone-aware)."""
    if starts_at.tzinfo is None:
        raise ValueError("starts_at must carry its UTC offset")
    ends_at = starts_at + timedelta(minutes=minutes)
    return Slot(starts_at, ends_at, starts_at - buffer_before, ends_at + buffer_after)


@dataclass(frozen=True)
class Choice:
    """Who, where and when a session is to be booked."""

    booking_request_id: uuid.UUID
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    starts_at: datetime


class Session(Protocol):
    """What placing reads of the session to book (its booking request)."""

    session_number: int
    indication: str
    session_minutes: int


@dataclass(frozen=True)
class Rules:
    """The clinic's settings placing applies; ``notice`` and ``horizon`` only to a
    patient's own booking (None for staff)."""

    buffer_before: timedelta
    buffer_after: timedelta
    notice_hours: int | None = None
    horizon_days: int | None = None


@dataclass(frozen=True)
class Placing:
    """Everything a choice of practitioner, room and time is judged against: the
    resources, the session's course (windows and spacing) and the clinic's hours and time
    off around the choice (the store reads them: ``adapters.store.placing``)."""

    practitioner: PractitionerInfo
    room: RoomInfo
    location: LocationInfo
    course: Course
    clinic: Clinic

    def judge(self, choice: Choice, session: Session, *, now: datetime, rules: Rules) -> Slot:
        """The slot the choice takes, or refused saying why: the room elsewhere, a
        practitioner who does not treat the indication, a start in the past (or, for a
        patient, too soon or too far ahead), a day outside the session's window or too
        close to another of its course (the 409 naming it), or outside the resources'
        hours. Whether the time is free is PostgreSQL's to say, as it is written."""
        practitioner, room, location = self.practitioner, self.room, self.location
        if room.location_id != location.id:
            raise UnsuitableChoice("the room is not at the practitioner's location")
        if session.indication not in practitioner.indications:
            raise UnsuitableChoice(f"{practitioner.full_name} does not treat {session.indication}")
        starts_at = choice.starts_at
        if starts_at <= now:
            raise UnsuitableChoice("the appointment would start in the past")
        notice, horizon = rules.notice_hours, rules.horizon_days
        if notice is not None and starts_at < now + timedelta(hours=notice):
            raise UnsuitableChoice(f"sessions are booked at least {notice} h ahead")
        if horizon is not None and starts_at > now + timedelta(days=horizon):
            raise UnsuitableChoice(f"sessions are booked at most {horizon} days ahead")
        self.course.check_place(session.session_number, location.local_date(starts_at))
        times = slot(
            starts_at=starts_at,
            minutes=session.session_minutes,
            buffer_before=rules.buffer_before,
            buffer_after=rules.buffer_after,
        )
        span = Interval(times.starts_at, times.ends_at)
        why_not = self.clinic.why_not(practitioner.id, room.id, span)
        if why_not:
            raise UnsuitableChoice(why_not)
        return times
