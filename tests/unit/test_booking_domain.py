"""The pure booking domain: lifecycle table, slot arithmetic across DST, course fitting,
and the iCalendar text."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.domain.availability import (
    EVERY_DAY,
    Interval,
    Offer,
    Previous,
    Resource,
    Search,
    WeeklyHours,
    best_offer,
    find_offers,
    opening_intervals,
)
from booking.domain.calendar import CalendarEntry, ical_feed
from booking.domain.course import (
    CourseDoesNotFit,
    Placement,
    SessionsTooClose,
    allowed_days,
    check_course,
    check_gap,
    derive_min_gap,
)
from booking.domain.lifecycle import (
    TRANSITIONS,
    Action,
    InvalidTransition,
    check_timing,
    next_status,
)
from shared.contracts.booking import ACTIVE, AppointmentStatus
from shared.contracts.plans import SessionWindow

PARIS = "Europe/Paris"
P, R = uuid.UUID(int=1), uuid.UUID(int=2)


def test_the_happy_path_runs_held_booked_confirmed_checked_in_completed() -> None:
    status = AppointmentStatus.HELD
    for action in (Action.BOOK, Action.CONFIRM, Action.CHECK_IN, Action.COMPLETE):
        status = next_status(status, action)
    assert status is AppointmentStatus.COMPLETED


@pytest.mark.parametrize(
    "status", [AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW]
)
@pytest.mark.parametrize("action", list(Action))
def test_a_finished_appointment_accepts_no_step(status: AppointmentStatus, action: Action) -> None:
    with pytest.raises(InvalidTransition, match=f"a {status.value} appointment cannot"):
        next_status(status, action)


def test_every_transition_ends_in_a_known_status_and_only_active_ones_start_them() -> None:
    assert {source for source, _ in TRANSITIONS} <= ACTIVE
    assert next_status(AppointmentStatus.CONFIRMED, Action.RESCHEDULE) is AppointmentStatus.BOOKED


def test_nobody_is_a_no_show_before_their_session() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with pytest.raises(InvalidTransition, match="before the session starts"):
        check_timing(Action.MARK_NO_SHOW, starts_at=start, now=start - timedelta(minutes=1))
    check_timing(Action.MARK_NO_SHOW, starts_at=start, now=start)


def search(first: date, last: date, *, minutes: int = 30) -> Search:
    return Search(
        first_day=first, last_day=last, time_zone=PARIS, minutes=minutes,
        buffer_before=timedelta(minutes=5), buffer_after=timedelta(minutes=10),
        granularity=timedelta(minutes=15),
        earliest_start=datetime(2000, 1, 1, tzinfo=UTC),
        latest_start=datetime(2100, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def open_at(hours: tuple[WeeklyHours, ...] = EVERY_DAY, **kw: list[Interval]) -> list[Resource]:
    return [Resource(P, hours, kw.get("away", []), kw.get("taken", []))]


def test_ten_o_clock_in_paris_is_nine_utc_in_winter_and_eight_in_summer() -> None:
    hours = (WeeklyHours(6, time(10), time(11)),)  # Sundays only
    # The clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    before, spring = opening_intervals(hours, date(2026, 3, 22), date(2026, 3, 29), PARIS)
    assert before.start == datetime(2026, 3, 22, 9, tzinfo=UTC)
    assert spring.start == datetime(2026, 3, 29, 8, tzinfo=UTC)
    [autumn] = opening_intervals(hours, date(2026, 10, 25), date(2026, 10, 25), PARIS)
    assert autumn.start == datetime(2026, 10, 25, 9, tzinfo=UTC)


def test_a_day_open_round_the_clock_is_23_hours_long_the_night_clocks_go_forward() -> None:
    hours = (WeeklyHours(6, time(0), time(23, 59)),)
    [day] = opening_intervals(hours, date(2026, 3, 29), date(2026, 3, 29), PARIS)
    assert day.end - day.start == timedelta(hours=22, minutes=59)


@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31)),
    opens=st.integers(min_value=6, max_value=12),
    length=st.integers(min_value=1, max_value=8),
    zone=st.sampled_from([PARIS, "America/New_York", "Australia/Sydney", "Asia/Kolkata"]),
)
def test_offers_are_on_the_local_grid_inside_hours_whatever_the_date(
    day: date, opens: int, length: int, zone: str
) -> None:
    hours = tuple(WeeklyHours(d, time(opens), time(opens + length)) for d in range(7))
    wanted = Search(**{**vars(search(day, day)), "time_zone": zone})
    offers = find_offers(wanted, open_at(hours), [Resource(R, hours, [], [])])
    assert offers, "an open day always has a free slot"
    local = ZoneInfo(zone)
    for offer in offers:
        start, end = offer.starts_at.astimezone(local), offer.ends_at.astimezone(local)
        assert start.date() == day
        assert start.minute % 15 == 0
        assert time(opens) <= start.time()
        assert end.time() <= time(opens + length)
        assert offer.ends_at - offer.starts_at == timedelta(minutes=30)
    assert len(offers) == (length * 60 - 30) // 15 + 1


def test_offers_keep_clear_of_appointments_by_their_buffers_and_of_time_off() -> None:
    day = date(2026, 1, 7)
    taken = Interval(
        datetime(2026, 1, 7, 9, 55, tzinfo=UTC), datetime(2026, 1, 7, 10, 40, tzinfo=UTC)
    )
    away = Interval(datetime(2026, 1, 7, 14, tzinfo=UTC), datetime(2026, 1, 7, 15, tzinfo=UTC))
    offers = find_offers(
        search(day, day), open_at(taken=[taken], away=[away]), [Resource(R, EVERY_DAY, [], [])]
    )
    for offer in offers:
        blocked = Interval(
            offer.starts_at - timedelta(minutes=5), offer.ends_at + timedelta(minutes=10)
        )
        assert not blocked.overlaps(taken)
        assert not Interval(offer.starts_at, offer.ends_at).overlaps(away)
    starts = {o.starts_at for o in offers}
    assert datetime(2026, 1, 7, 10, 45, tzinfo=UTC) in starts  # buffer after + before fit
    assert datetime(2026, 1, 7, 10, 30, tzinfo=UTC) not in starts


def test_auto_mode_prefers_the_previous_practitioner_at_a_similar_time() -> None:
    other = uuid.UUID(int=9)

    def at(hour: int, who: uuid.UUID) -> Offer:
        return Offer(
            datetime(2026, 1, 8, hour, tzinfo=UTC),
            datetime(2026, 1, 8, hour, 30, tzinfo=UTC),
            who,
            R,
        )

    offers = [at(8, other), at(9, P), at(15, P)]
    previous = Previous(P, datetime(2026, 1, 1, 14, 30, tzinfo=UTC))
    chosen = best_offer(offers, target_day=date(2026, 1, 8), time_zone=PARIS, previous=previous)
    assert chosen == at(15, P)
    first = best_offer(offers, target_day=date(2026, 1, 8), time_zone=PARIS, previous=None)
    assert first == at(8, other)


WINDOWS = [
    SessionWindow(
        session_number=k, total_sessions=3, target_date=date(2026, 1, 5) + timedelta(weeks=k - 1),
        earliest_date=date(2026, 1, 3) + timedelta(weeks=k - 1),
        latest_date=date(2026, 1, 7) + timedelta(weeks=k - 1),
    )
    for k in (1, 2, 3)
]  # fmt: skip


def test_a_course_fits_when_each_session_is_in_its_window_and_far_enough_from_the_last() -> None:
    check_course(
        WINDOWS, [Placement(k, w.target_date) for k, w in zip((1, 2, 3), WINDOWS, strict=True)], 5
    )
    with pytest.raises(CourseDoesNotFit, match="outside its window"):
        check_course(WINDOWS, [Placement(1, date(2026, 1, 9))], 5)
    with pytest.raises(SessionsTooClose, match="session 2 on 2026-01-10 is too close to session 1"):
        check_course(WINDOWS, [Placement(1, date(2026, 1, 7)), Placement(2, date(2026, 1, 10))], 5)


def test_the_gap_is_derived_from_the_windows_when_the_protocol_never_sent_it() -> None:
    assert derive_min_gap(WINDOWS) == 5  # session 2's earliest date after session 1's target
    assert derive_min_gap(WINDOWS[:1]) == 1


# Every 7 days +- 2: session 1 on the last day of its window, session 2 on the first of its own.
LAST_OF_1, FIRST_OF_2 = Placement(1, date(2026, 1, 7)), Placement(2, date(2026, 1, 10))


def test_the_pair_is_refused_in_either_order_naming_the_neighbour_and_the_allowed_date() -> None:
    second = check_gap(FIRST_OF_2, [LAST_OF_1], 5)
    assert second is not None
    assert (second.neighbour, second.earliest, second.latest) == (
        LAST_OF_1,
        date(2026, 1, 12),
        None,
    )
    assert "session 1 on 2026-01-07" in str(second)
    assert "the earliest allowed date is 2026-01-12" in str(second)
    first = check_gap(LAST_OF_1, [FIRST_OF_2], 5)
    assert first is not None
    assert (first.neighbour, first.earliest, first.latest) == (FIRST_OF_2, None, date(2026, 1, 5))
    assert "session 2 on 2026-01-10" in str(first)
    assert "the latest allowed date is 2026-01-05" in str(first)
    assert check_gap(Placement(2, date(2026, 1, 12)), [LAST_OF_1], 5) is None


def test_a_session_between_two_booked_ones_keeps_the_gap_to_both() -> None:
    booked = [Placement(1, date(2026, 1, 5)), Placement(3, date(2026, 1, 19))]
    allowed = allowed_days(2, booked, 5)
    assert (allowed.earliest, allowed.latest) == (date(2026, 1, 10), date(2026, 1, 14))
    breach = check_gap(Placement(2, date(2026, 1, 16)), booked, 5)
    assert breach is not None
    assert breach.neighbour == booked[1]
    # Sessions 1 and 3 with nothing between are two gaps apart: session 2 must still fit.
    assert check_gap(Placement(3, date(2026, 1, 15)), booked[:1], 5) is None
    assert check_gap(Placement(3, date(2026, 1, 14)), booked[:1], 5) is not None


SESSIONS = 5


@given(
    gap=st.integers(min_value=1, max_value=10),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["book", "hold", "move", "cancel"]),
            st.integers(min_value=1, max_value=SESSIONS),
            st.integers(min_value=0, max_value=60),
        ),
        max_size=60,
    ),
)
def test_whatever_the_rule_accepts_no_two_active_sessions_are_closer_than_the_gap(
    gap: int, steps: list[tuple[str, int, int]]
) -> None:
    """Any sequence of bookings, holds, moves and cancels, each applied only when the
    spacing rule accepts it, leaves every two active sessions at least the gap apart (and
    in session order)."""
    day_0 = date(2026, 1, 1)
    active: dict[int, date] = {}
    for action, number, offset in steps:
        day = day_0 + timedelta(days=offset)
        if action == "cancel":
            active.pop(number, None)
            continue
        if (action == "move") != (number in active):
            continue  # book and hold a free session; move a placed one
        others = [Placement(n, d) for n, d in active.items() if n != number]
        breach = check_gap(Placement(number, day), others, gap)
        allowed = allowed_days(number, others, gap)
        assert (breach is None) == allowed.holds(day)
        if breach is None:
            active[number] = day
        else:
            assert breach.neighbour in others
            assert breach.neighbour in (allowed.previous, allowed.next)
        placed = sorted(active.items())
        for i, (n, d) in enumerate(placed):
            for m, e in placed[i + 1 :]:
                assert (e - d).days >= gap * (m - n) >= gap


def test_the_ical_feed_is_crlf_folded_and_escaped() -> None:
    entry = CalendarEntry(
        appointment_id=uuid.UUID(int=5), version=3,
        starts_at=datetime(2026, 3, 29, 8, tzinfo=UTC),
        ends_at=datetime(2026, 3, 29, 8, 30, tzinfo=UTC),
        summary="Léa Martin: session 2 of 6 (Cellulite; thighs, knees)" + " long" * 20,
        description="status booked", cancelled=False,
    )  # fmt: skip
    text = ical_feed("Dr Martin", [entry], now=datetime(2026, 3, 1, tzinfo=UTC))
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert "DTSTART:20260329T080000Z\r\n" in text
    assert "SEQUENCE:3\r\n" in text
    assert "Cellulite\\; thighs\\, knees" in text.replace("\r\n ", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
