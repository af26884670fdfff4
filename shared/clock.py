"""The one source of "now" for every service.

Domain code never calls ``datetime.now()``; it is handed ``now`` by a use case that
reads it from the injected :class:`Clock`. In-process tests swap in a
:class:`ManualClock`; the e2e stacks and the demo share a :class:`ShiftableClock`
through a file, pinned or shifted, and move time forward to watch reminders fire.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

from pydantic import AfterValidator


def _without_offset(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a local time of day, without a UTC offset (e.g. 08:30)")
    return value


#: A time of day on a local clock (opening hours, quiet hours): the zone comes from
#: elsewhere, so a time given with an offset is refused rather than misread.
LocalTime = Annotated[time, AfterValidator(_without_offset)]


def is_quiet(instant: datetime, zone: ZoneInfo, start: LocalTime, end: LocalTime) -> bool:
    """Whether ``instant`` falls in quiet hours [start, end) on the local clock of ``zone``
    (across midnight when ``start`` is after ``end``)."""
    wall = instant.astimezone(zone).time()
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftableClock:
    """Time written in a file that every process of a stack reads: one clock for all.

    The file holds either an offset in seconds from the wall clock (``make dev``'s time
    travel: ``python -m devstack time +1d`` moves all three services forward together),
    or an ISO 8601 instant: time is then *pinned* there and stands still until the file
    is written again (the e2e stacks start at ``TEST_NOW`` and the tests move it). It is
    re-read only when it changes; writes replace the file whole, so no reader sees half.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[int, int, int] | None = None
        self._offset = timedelta(0)
        self._pinned: datetime | None = None

    def now(self) -> datetime:
        self._refresh()
        if self._pinned is not None:
            return self._pinned
        return datetime.now(UTC) + self._offset

    @property
    def offset(self) -> timedelta:
        """How far this clock is from the wall clock right now."""
        self._refresh()
        if self._pinned is not None:
            return self._pinned - datetime.now(UTC)
        return self._offset

    @property
    def pinned(self) -> bool:
        self._refresh()
        return self._pinned is not None

    def shift(self, delta: timedelta) -> None:
        """Move time forward (or back) for every process reading the file."""
        self._refresh()
        if self._pinned is not None:
            self.pin(self._pinned + delta)
        else:
            self._write(str((self._offset + delta).total_seconds()))

    def pin(self, instant: datetime) -> None:
        """Stop time at ``instant`` (timezone-aware) for every process reading the file."""
        if instant.tzinfo is None:
            raise ValueError("a pinned clock needs a timezone-aware instant")
        self._write(instant.astimezone(UTC).isoformat())

    def unpin(self) -> None:
        """Let time run again from the wall clock, without an offset."""
        self._write("0")

    # The names of ManualClock, so a test reads and moves a stack's clock the same way.
    advance = shift
    set = pin

    def _write(self, text: str) -> None:
        scratch = self._path.with_name(f".{self._path.name}.{os.getpid()}")
        scratch.write_text(text)
        os.replace(scratch, self._path)

    def _refresh(self) -> None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._seen, self._offset, self._pinned = None, timedelta(0), None
            return
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version == self._seen:
            return
        self._seen = version
        text = self._path.read_text().strip()
        if "T" in text:
            self._pinned, self._offset = datetime.fromisoformat(text).astimezone(UTC), timedelta(0)
        else:
            self._pinned, self._offset = None, timedelta(seconds=float(text or 0))


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
