"""The rest of a course at the booked session's weekday and time (booking.domain.proposal)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from booking.domain.availability import Offer
from booking.domain.proposal import closest, wanted_start

PARIS = ZoneInfo("Europe/Paris")
DOCTOR, OTHER, ROOM = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ANCHOR = datetime(2026, 3, 24, 18, 30, tzinfo=PARIS)  # a Tuesday, before the clocks change


def offer(at: datetime, practitioner: uuid.UUID = DOCTOR) -> Offer:
    return Offer(
        at.astimezone(UTC), (at + timedelta(minutes=30)).astimezone(UTC), practitioner, ROOM
    )


def test_the_same_weekday_and_wall_clock_time_across_the_change_to_summer_time() -> None:
    wanted = wanted_start(
        ANCHOR, zone="Europe/Paris", earliest=date(2026, 3, 29), latest=date(2026, 4, 2),
        target=date(2026, 3, 31),
    )  # fmt: skip
    assert wanted == datetime(2026, 3, 31, 18, 30, tzinfo=PARIS)  # 18:30 CEST, not 17:30
    assert wanted is not None
    assert wanted.utcoffset() == timedelta(0)  # UTC, as stored


def test_the_window_day_of_that_weekday_nearest_the_target_or_none() -> None:
    two_tuesdays = wanted_start(
        ANCHOR, zone="Europe/Paris", earliest=date(2026, 4, 6), latest=date(2026, 4, 16),
        target=date(2026, 4, 13),
    )  # fmt: skip
    assert two_tuesdays == datetime(2026, 4, 14, 18, 30, tzinfo=PARIS)
    no_tuesday = wanted_start(
        ANCHOR, zone="Europe/Paris", earliest=date(2026, 4, 8), latest=date(2026, 4, 10),
        target=date(2026, 4, 9),
    )  # fmt: skip
    assert no_tuesday is None


def test_the_wanted_time_with_the_practitioner_else_the_nearest_theirs_first() -> None:
    wanted = datetime(2026, 3, 31, 18, 30, tzinfo=PARIS)
    exact = offer(wanted)
    assert closest([offer(wanted + timedelta(hours=1)), exact], wanted=wanted,
                   practitioner_id=DOCTOR) == (exact, True)  # fmt: skip
    # Taken with them: another practitioner at that very time loses to theirs an hour on.
    theirs_later = offer(wanted + timedelta(hours=1))
    picked = closest([offer(wanted, OTHER), theirs_later], wanted=wanted, practitioner_id=DOCTOR)
    assert picked == (theirs_later, False)
    # Equally near before and after: the earlier.
    before, after = offer(wanted - timedelta(minutes=15)), offer(wanted + timedelta(minutes=15))
    assert closest([after, before], wanted=wanted, practitioner_id=DOCTOR) == (before, False)
    assert closest([], wanted=wanted, practitioner_id=DOCTOR) is None
