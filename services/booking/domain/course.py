"""A course of sessions: each inside its own window, in order, far enough apart.

The interval rule comes from plans' windows: session k+1 may not come sooner after
session k than its earliest date comes after session k's target date (at least a day).
Plans re-anchors later windows once a session is done early or late; booking only
keeps what is booked consistent with the windows it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise


@dataclass(frozen=True)
class Window:
    """Session k of a cycle and the dates it may happen on."""

    session_number: int
    target_date: date
    earliest_date: date
    latest_date: date


@dataclass(frozen=True)
class Placement:
    """A session placed on a day (at the location)."""

    session_number: int
    day: date


class CourseDoesNotFit(Exception):
    """A placement breaks a window or the interval rule; says which session and why."""


def minimum_gap(before: Window, after: Window) -> timedelta:
    """The least time between sessions ``before`` and ``after`` (consecutive)."""
    return max(after.earliest_date - before.target_date, timedelta(days=1))


def check_window(window: Window, day: date) -> None:
    if not window.earliest_date <= day <= window.latest_date:
        raise CourseDoesNotFit(
            f"session {window.session_number} must happen between {window.earliest_date} "
            f"and {window.latest_date}; {day} is outside its window"
        )


def check_course(windows: Sequence[Window], placements: Sequence[Placement]) -> None:
    """Every placement inside its window, and consecutive placed sessions far enough apart."""
    by_number = {w.session_number: w for w in windows}
    ordered = sorted(placements, key=lambda p: p.session_number)
    for placement in ordered:
        window = by_number.get(placement.session_number)
        if window is None:
            raise CourseDoesNotFit(f"session {placement.session_number} is not in this course")
        check_window(window, placement.day)
    for earlier, later in pairwise(ordered):
        if later.session_number != earlier.session_number + 1:
            continue
        gap = minimum_gap(by_number[earlier.session_number], by_number[later.session_number])
        if later.day - earlier.day < gap:
            raise CourseDoesNotFit(
                f"session {later.session_number} on {later.day} is too soon after session "
                f"{earlier.session_number} on {earlier.day}: at least {gap.days} day(s) apart"
            )


@dataclass(frozen=True)
class Shift:
    """A later booked session that must move for the course to keep its intervals."""

    session_number: int
    day: date
    on_or_after: date


def move_session(
    windows: Sequence[Window], booked: Sequence[Placement], moved: Placement
) -> list[Shift]:
    """Check that ``moved`` fits its window and its previous booked session; return the
    later booked sessions it pushes (each with the first day it may now be on)."""
    by_number = {w.session_number: w for w in windows}
    window = by_number.get(moved.session_number)
    if window is None:
        raise CourseDoesNotFit(f"session {moved.session_number} is not in this course")
    check_window(window, moved.day)
    placed = {p.session_number: p for p in booked}
    placed[moved.session_number] = moved
    previous = placed.get(moved.session_number - 1)
    if previous is not None and previous.session_number in by_number:
        check_course(windows, [previous, moved])
    shifts = []
    anchor = moved
    for number in sorted(n for n in placed if n > moved.session_number):
        later = placed[number]
        if number != anchor.session_number + 1 or number not in by_number:
            break
        floor = anchor.day + minimum_gap(by_number[anchor.session_number], by_number[number])
        if later.day >= floor:
            break
        shifts.append(Shift(number, later.day, floor))
        anchor = Placement(number, floor)
    return shifts
