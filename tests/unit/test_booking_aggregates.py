"""booking's aggregates: each method checks its rules, changes state and records what
happened, with no I/O (the stored classes, transient: nothing touches a database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from booking.adapters.db import Appointment, BookingRequest
from booking.domain.course import Course, CourseDoesNotFit, Placement, SessionsTooClose
from booking.domain.errors import StateConflict
from booking.domain.events import AppointmentStepped
from booking.domain.lifecycle import Action, InvalidTransition
from booking.domain.request import RequestAction, RequestStatus
from shared.contracts.booking import AppointmentStatus
from shared.contracts.plans import SessionWindow

NOW = datetime(2026, 6, 16, 8, 0, tzinfo=UTC)


def appointment(
    status: AppointmentStatus, *, starts_in: timedelta = timedelta(days=2)
) -> Appointment:
    starts = NOW + starts_in
    return Appointment(
        id=uuid.uuid4(), version=3, status=status, starts_at=starts,
        ends_at=starts + timedelta(minutes=45), updated_at=NOW - timedelta(days=1),
        hold_expires_at=NOW + timedelta(minutes=10) if status == AppointmentStatus.HELD else None,
        booking_request_id=uuid.uuid4(),
    )  # fmt: skip


def test_a_step_changes_the_status_bumps_the_version_and_records_itself() -> None:
    held = appointment(AppointmentStatus.HELD)
    held.take_step(Action.BOOK, now=NOW, by="patient")
    assert (held.status, held.version, held.hold_expires_at) == ("booked", 4, None)
    assert (held.changed_by, held.updated_at) == ("patient", NOW)
    assert held.take_recorded() == [AppointmentStepped(held, Action.BOOK)]
    assert held.take_recorded() == []  # taken once


def test_a_refused_step_changes_and_records_nothing() -> None:
    done = appointment(AppointmentStatus.COMPLETED)
    with pytest.raises(InvalidTransition, match="a completed appointment cannot be cancelled"):
        done.take_step(Action.CANCEL, now=NOW, by="staff")
    assert (done.status, done.version, done.take_recorded()) == ("completed", 3, [])


def test_an_expired_hold_cannot_be_booked_and_a_stale_version_changes_nothing() -> None:
    held = appointment(AppointmentStatus.HELD)
    with pytest.raises(StateConflict, match="the hold expired"):
        held.take_step(Action.BOOK, now=NOW + timedelta(hours=1), by="patient")
    with pytest.raises(StateConflict, match="at version 3, not 2") as stale:
        held.check_version(2)
    assert stale.value.facts == {"version": 3}


def test_a_patient_cannot_cancel_within_the_cut_off() -> None:
    soon = appointment(AppointmentStatus.BOOKED, starts_in=timedelta(hours=5))
    with pytest.raises(StateConflict, match="less than 24 h before it"):
        soon.check_not_too_late(timedelta(hours=24), now=NOW, change="cancelled")


@pytest.mark.parametrize(
    ("before", "step", "after"),
    [
        (RequestStatus.HELD, Action.BOOK, RequestStatus.BOOKED),
        (RequestStatus.BOOKED, Action.CANCEL, RequestStatus.OPEN),
        (RequestStatus.HELD, Action.EXPIRE, RequestStatus.OPEN),
        (RequestStatus.BOOKED, Action.MARK_NO_SHOW, RequestStatus.OPEN),
        (RequestStatus.BOOKED, Action.COMPLETE, RequestStatus.COMPLETED),
        (RequestStatus.BOOKED, Action.CONFIRM, RequestStatus.BOOKED),
        # The plan withdrew or cancelled the session: it stays so whatever its appointment.
        (RequestStatus.WITHDRAWN, Action.CANCEL, RequestStatus.WITHDRAWN),
        (RequestStatus.CANCELLED, Action.CANCEL, RequestStatus.CANCELLED),
    ],
)
def test_a_request_follows_its_appointment(
    before: RequestStatus, step: Action, after: RequestStatus
) -> None:
    request = BookingRequest(status=before, session_number=2)
    request.follow(step)
    assert request.status == after


def test_only_an_open_request_is_taken_and_a_paused_plan_reopens_it() -> None:
    request = BookingRequest(status=RequestStatus.OPEN, session_number=2)
    assert request.take(hold=True) == RequestStatus.HELD
    assert request.take(hold=False) == RequestStatus.BOOKED
    request.status = RequestStatus.HELD  # as the store writes it with the event
    with pytest.raises(StateConflict, match="booking request is held, not open"):
        request.take(hold=False)
    for action, then in [
        (RequestAction.WITHDRAW, RequestStatus.WITHDRAWN),
        (RequestAction.REOPEN, RequestStatus.OPEN),
        (RequestAction.CANCEL, RequestStatus.CANCELLED),
        (RequestAction.REOPEN, RequestStatus.CANCELLED),  # a cancelled plan does not come back
    ]:
        request.plan_changed(action)
        assert request.status == then, action


def test_the_course_owns_its_windows_and_its_spacing() -> None:
    day = date(2026, 1, 5)
    windows = [
        SessionWindow(
            session_number=k, total_sessions=3, target_date=day + timedelta(days=7 * (k - 1)),
            earliest_date=day + timedelta(days=7 * (k - 1) - 2),
            latest_date=day + timedelta(days=7 * (k - 1) + 2),
        )
        for k in (1, 2, 3)
    ]  # fmt: skip
    course = Course(windows, [Placement(1, date(2026, 1, 6))], min_gap_days=5)
    course.check_place(2, date(2026, 1, 12))
    with pytest.raises(CourseDoesNotFit, match="session 2 must happen between"):
        course.check_place(2, date(2026, 1, 20))
    with pytest.raises(SessionsTooClose) as close:
        course.check_place(2, date(2026, 1, 10))
    assert close.value.facts["neighbour_session_number"] == 1
    assert close.value.facts["earliest_allowed_date"] == "2026-01-11"
    assert course.allowed(2).earliest == date(2026, 1, 11)
