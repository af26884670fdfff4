"""Quiet hours in the patient's local time, DST-safe.

Every instant is an aware UTC datetime; local wall times are built in the patient's
zone and converted back, so a DST change never shifts a result by an hour.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.clock import is_quiet

#: A message moved out of quiet hours goes this long before they start (20:30 by default).
MOVED_MARGIN = timedelta(minutes=30)


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (a time skipped by DST lands just after)."""
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _quiet_began(instant: datetime, zone: ZoneInfo, start: time, end: time) -> date:
    """The local date on which the quiet period containing ``instant`` began."""
    local = instant.astimezone(zone)
    if start > end and local.time() < end:
        return local.date() - timedelta(days=1)
    return local.date()


def move_before_quiet_hours(instant: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """``instant`` unchanged when allowed, else moved earlier: just before quiet hours began.

    Earlier, never later: a reminder must not arrive in the night nor after the session.
    """
    if not is_quiet(instant, zone, start, end):
        return instant
    began = _quiet_began(instant, zone, start, end)
    return local_instant(began, start, zone) - MOVED_MARGIN


def quiet_hours_end_after(instant: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """The first allowed instant at or after ``instant`` (itself when not in quiet hours)."""
    if not is_quiet(instant, zone, start, end):
        return instant
    began = _quiet_began(instant, zone, start, end)
    end_day = began + timedelta(days=1) if start > end else began
    return local_instant(end_day, end, zone)
