"""The one source of "now" for every service.

Domain code never calls ``datetime.now()``; it is handed ``now`` by a use case that
reads it from the injected :class:`Clock`. Tests and the demo swap in a
:class:`ManualClock` and move time forward to watch reminders fire.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import AfterValidator


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time of day, without a UTC offset (e.g. 08:30)")
    return value


#: A time of day on a local clock (opening hours, quiet hours): the zone comes from
#: elsewhere, so a time given with an offset is refused rather than misread.
LocalTime = Annotated[time, AfterValidator(_without_offset)]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftableClock:
    """Wall-clock time shifted by the offset written in a file: the demo's time travel.

    ``make dev`` points every service at one file, so ``python -m devstack time +1d``
    moves all three forward together and reminders come due. The file holds the
    offset in seconds; it is re-read only when it changes.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: float | None = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        try:
            changed = self._path.stat().st_mtime
        except FileNotFoundError:
            return datetime.now(UTC)
        if changed != self._seen:
            self._seen = changed
            text = self._path.read_text().strip()
            self._offset = timedelta(seconds=float(text or 0))
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        self.now()
        return self._offset

    def shift(self, delta: timedelta) -> None:
        """Move time forward (or back) for every process reading the file."""
        self._path.write_text(str((self.offset + delta).total_seconds()))


class ManualClock:
    """A clock that only moves when told to: for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant.astimezone(UTC)
