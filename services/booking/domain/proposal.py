"""The rest of a course at the same weekday and time: what the patient's page proposes
after they book one session, before they confirm the whole of it.

Pure: :func:`wanted_start` says when a later session would be if it kept the booked
one's weekday and local time (inside its own window, the week nearest its target day);
:func:`closest` picks, among the free times found for it, that very time with the same
practitioner, or else the nearest one (the same practitioner's before anyone else's).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from booking.domain.availability import Offer, wall_clock


@dataclass(frozen=True)
class Proposed:
    """One session of the proposal: the free time chosen for it, and whether it is the
    time asked for (else an exception the page points out)."""

    booking_request_id: uuid.UUID
    session_number: int
    offer: Offer | None
    #: When the session would have been at the booked one's weekday and time.
    wanted: datetime | None
    as_wanted: bool


def wanted_start(
    anchor: datetime, *, zone: str, earliest: date, latest: date, target: date
) -> datetime | None:
    """The session at the anchor's local weekday and time, on the window's day of that
    weekday closest to ``target`` (None: the window holds no such weekday)."""
    local = anchor.astimezone(ZoneInfo(zone))
    days = [
        earliest + timedelta(days=n)
        for n in range((latest - earliest).days + 1)
        if (earliest + timedelta(days=n)).weekday() == local.weekday()
    ]
    if not days:
        return None
    day = min(days, key=lambda d: (abs((d - target).days), d))
    return wall_clock(day, local.time(), ZoneInfo(zone))


def closest(
    offers: Sequence[Offer], *, wanted: datetime, practitioner_id: uuid.UUID
) -> tuple[Offer, bool] | None:
    """The free time nearest ``wanted`` (the same practitioner's first, earlier before
    later at equal distance), and whether it is exactly what was wanted with them."""
    if not offers:
        return None
    best = min(
        offers,
        key=lambda o: (
            o.practitioner_id != practitioner_id,
            abs(o.starts_at - wanted),
            o.starts_at,
        ),
    )
    return best, best.starts_at == wanted and best.practitioner_id == practitioner_id
