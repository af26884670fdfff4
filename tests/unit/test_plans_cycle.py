"""Cycle arithmetic: windows never overlap, stay ordered, respect the interval, and the
clinic's dates stay right across daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plans.domain.cycle import Cadence, CadenceError, clinic_date, reanchor, schedule_cycle
from shared.contracts.plans import SessionWindow


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    interval = draw(st.integers(min_value=1, max_value=60))
    maintenance = draw(st.integers(min_value=0, max_value=4))
    return Cadence(
        sessions=draw(st.integers(min_value=1, max_value=30)),
        interval_days=interval,
        tolerance_days=draw(st.integers(min_value=0, max_value=(interval - 1) // 2)),
        maintenance_sessions=maintenance,
        maintenance_interval_days=draw(st.integers(min_value=interval, max_value=120))
        if maintenance
        else None,
    )


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def assert_well_formed(windows: list[SessionWindow], cadence: Cadence) -> None:
    for window in windows:
        assert window.earliest_date <= window.target_date <= window.latest_date
        assert window.latest_date - window.target_date == timedelta(days=cadence.tolerance_days)
        assert window.total_sessions == cadence.total
    for before, after in itertools.pairwise(windows):
        assert before.session_number < after.session_number
        assert before.latest_date < after.earliest_date, "windows overlap"
        gap = cadence.days_between(before.session_number, after.session_number)
        assert (after.target_date - before.target_date).days == gap, "interval not respected"


@given(cadence=cadences(), start=days)
def test_a_cycle_has_one_window_per_session_ordered_apart_and_at_the_interval(
    cadence: Cadence, start: date
) -> None:
    windows = schedule_cycle(cadence, start=start)
    assert [w.session_number for w in windows] == list(range(1, cadence.total + 1))
    assert windows[0].target_date == windows[0].earliest_date == start
    assert all(w.earliest_date >= start for w in windows)
    assert_well_formed(windows, cadence)
    assert [w.kind for w in windows] == ["cycle"] * cadence.sessions + [
        "maintenance"
    ] * cadence.maintenance_sessions


@given(cadence=cadences(), start=days, data=st.data())
def test_reanchoring_a_suffix_keeps_windows_ordered_apart_and_after_the_anchor(
    cadence: Cadence, start: date, data: st.DataObject
) -> None:
    anchor = data.draw(st.integers(min_value=1, max_value=cadence.total))
    done_on = start + timedelta(days=data.draw(st.integers(min_value=-30, max_value=30)))
    later = range(anchor + 1, cadence.total + 1)
    windows = reanchor(
        cadence, later, anchor_number=anchor, anchor_date=done_on, not_before=done_on + timedelta(1)
    )
    assert [w.session_number for w in windows] == list(later)
    assert all(w.earliest_date > done_on for w in windows)
    assert_well_formed(windows, cadence)
    if windows:
        assert (windows[0].target_date - done_on).days == cadence.gap_before(anchor + 1)


def test_the_seeded_cellulite_cycle_is_ten_weekly_windows_of_plus_or_minus_two_days() -> None:
    windows = schedule_cycle(Cadence(10, 7, 2), start=date(2026, 12, 1))
    assert windows[1] == SessionWindow(
        session_number=2, total_sessions=10, target_date=date(2026, 12, 8),
        earliest_date=date(2026, 12, 6), latest_date=date(2026, 12, 10),
    )  # fmt: skip
    assert windows[-1].target_date == date(2027, 2, 2)


def test_maintenance_sessions_follow_the_cycle_at_their_own_interval() -> None:
    cadence = Cadence(4, 14, 3, maintenance_sessions=2, maintenance_interval_days=60)
    windows = schedule_cycle(cadence, start=date(2026, 1, 5))
    assert [(w.session_number, w.kind, w.target_date) for w in windows[3:]] == [
        (4, "cycle", date(2026, 2, 16)),
        (5, "maintenance", date(2026, 4, 17)),
        (6, "maintenance", date(2026, 6, 16)),
    ]


@pytest.mark.parametrize(
    ("numbers", "reason"),
    [
        ({"sessions": 0, "interval_days": 7, "tolerance_days": 2}, "1 to 30 sessions"),
        ({"sessions": 31, "interval_days": 7, "tolerance_days": 2}, "1 to 30 sessions"),
        ({"sessions": 5, "interval_days": 0, "tolerance_days": 0}, "a day apart"),
        ({"sessions": 5, "interval_days": 6, "tolerance_days": 3}, "less than half"),
        (
            {"sessions": 5, "interval_days": 7, "tolerance_days": 2, "maintenance_sessions": 1},
            "maintenance sessions need an interval",
        ),
    ],
)
def test_a_cadence_that_cannot_make_a_cycle_is_refused_saying_why(
    numbers: dict[str, int], reason: str
) -> None:
    with pytest.raises(CadenceError, match=reason):
        Cadence(**numbers)


def test_reanchoring_never_moves_a_session_before_its_anchor_or_before_not_before() -> None:
    cadence = Cadence(5, 7, 2)
    with pytest.raises(ValueError, match="from the anchor on"):
        reanchor(cadence, [2, 3], anchor_number=3, anchor_date=date(2026, 1, 1),
                 not_before=date(2026, 1, 1))  # fmt: skip
    with pytest.raises(ValueError, match="would be due before"):
        reanchor(cadence, [3], anchor_number=3, anchor_date=date(2026, 1, 1),
                 not_before=date(2026, 1, 2))  # fmt: skip


# Europe/Paris moves to summer time on 2026-03-29 at 02:00 and back on 2026-10-25 at 03:00.
DST_DAYS = [date(2026, 3, 29), date(2026, 10, 25), date(2027, 3, 28), date(2027, 10, 31)]
ZONES = ["Europe/Paris", "America/New_York", "Australia/Sydney", "Pacific/Auckland"]


@given(
    zone=st.sampled_from(ZONES),
    day=st.sampled_from(DST_DAYS).flatmap(
        lambda d: st.dates(min_value=d - timedelta(days=2), max_value=d + timedelta(days=2))
    ),
    clock=st.times(),
)
def test_an_appointment_falls_on_its_local_date_whatever_the_dst_change(
    zone: str, day: date, clock: time
) -> None:
    local = datetime.combine(day, clock, ZoneInfo(zone))
    assert clinic_date(local.astimezone(UTC), zone) == day


@given(cadence=cadences(), start=st.sampled_from(DST_DAYS).map(lambda d: d - timedelta(days=3)))
def test_a_cycle_across_a_dst_change_keeps_whole_day_intervals_at_the_same_local_hour(
    cadence: Cadence, start: date
) -> None:
    """Sessions booked at 10:00 local each target date stay one interval of dates apart,
    though the hours between them differ by one across the change."""
    paris = ZoneInfo("Europe/Paris")
    windows = schedule_cycle(cadence, start=start)
    for before, after in itertools.pairwise(windows):
        first = datetime.combine(before.target_date, time(10), paris).astimezone(UTC)
        second = datetime.combine(after.target_date, time(10), paris).astimezone(UTC)
        gap = cadence.days_between(before.session_number, after.session_number)
        assert (
            clinic_date(second, "Europe/Paris") - clinic_date(first, "Europe/Paris")
        ).days == gap
        assert abs((second - first) - timedelta(days=gap)) <= timedelta(hours=1)


def test_the_clinic_date_of_a_late_evening_utc_instant_is_the_next_day_in_paris() -> None:
    assert clinic_date(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Europe/Paris") == date(
        2026, 3, 29
    )
    with pytest.raises(ValueError, match="UTC offset"):
        clinic_date(datetime(2026, 3, 28, 23, 30), "Europe/Paris")  # noqa: DTZ001
