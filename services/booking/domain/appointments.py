"""Appointment arithmetic: where a session falls and the time it keeps from others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


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


def local_date(instant: datetime, time_zone: str) -> date:
    """The calendar date of ``instant`` at the clinic."""
    return instant.astimezone(ZoneInfo(time_zone)).date()
