"""Free start times: weekly hours in the clinic's zone, minus time off and what is taken.

Everything is computed on UTC instants. Weekly hours are wall-clock times at the
location, turned into instants day by day, so 10:00 in Paris is 09:00 UTC in winter
and 08:00 UTC in summer, and the night the clocks change has the right length.
Candidate starts step forward from each opening instant in real elapsed minutes.
"""

from __future__ import annotations

import functools
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: When a location, practitioner or room has no weekly hours of its own: open 08:00-20:00.
DEFAULT_OPENS = time(8, 0)
DEFAULT_CLOSES = time(20, 0)


@dataclass(frozen=True)
class WeeklyHours:
    """Open from ``opens`` to ``closes`` (wall clock at the location) on ``weekday`` (0=Mon)."""

    weekday: int
    opens: time
    closes: time


EVERY_DAY = tuple(WeeklyHours(d, DEFAULT_OPENS, DEFAULT_CLOSES) for d in range(7))


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span of time ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Resource:
    """A practitioner or a room as availability sees it."""

    id: uuid.UUID
    hours: Sequence[WeeklyHours]
    #: Time off and closures, in UTC.
    away: Sequence[Interval]
    #: Blocked spans of its active appointments (buffers included), in UTC.
    taken: Sequence[Interval]


def local_date(instant: datetime, time_zone: str) -> date:
    """The calendar date of ``instant`` at a place in ``time_zone``."""
    return instant.astimezone(ZoneInfo(time_zone)).date()


@dataclass(frozen=True)
class PractitionerInfo:
    """A practitioner as the booking path knows them."""

    id: uuid.UUID
    location_id: uuid.UUID
    full_name: str
    indications: frozenset[str]


@dataclass(frozen=True)
class RoomInfo:
    id: uuid.UUID
    location_id: uuid.UUID


@dataclass(frozen=True)
class LocationInfo:
    id: uuid.UUID
    time_zone: str

    def local_date(self, instant: datetime) -> date:
        """The calendar date of ``instant`` here."""
        return local_date(instant, self.time_zone)


@dataclass(frozen=True)
class Clinic:
    """One location's practitioners and rooms over a span, as availability needs them."""

    location: LocationInfo
    practitioners: list[Resource]
    rooms: list[Resource]

    def why_not(
        self, practitioner_id: uuid.UUID, room_id: uuid.UUID, session_span: Interval
    ) -> str | None:
        """Why the session cannot be at this time for these resources (their hours and
        time off), or None if it can."""
        zone = self.location.time_zone
        day = self.location.local_date(session_span.start)
        for kind, resources, id_ in (
            ("practitioner", self.practitioners, practitioner_id),
            ("room", self.rooms, room_id),
        ):
            [resource] = [r for r in resources if r.id == id_]
            spans = opening_intervals(resource.hours, day - timedelta(days=1), day, zone)
            if not any(span.contains(session_span) for span in spans):
                return f"the {kind} does not work at that time"
            if any(session_span.overlaps(a) for a in resource.away):
                return f"the {kind} is away (time off or closure) at that time"
        return None


@dataclass(frozen=True)
class Offer:
    """A free start time with who and where."""

    starts_at: datetime
    ends_at: datetime
    practitioner_id: uuid.UUID
    room_id: uuid.UUID


@dataclass(frozen=True)
class Search:
    """What to look for: a session of ``minutes`` on a day between ``first_day`` and
    ``last_day`` (dates at the location), starting on a ``granularity`` grid."""

    first_day: date
    last_day: date
    time_zone: str
    minutes: int
    buffer_before: timedelta
    buffer_after: timedelta
    granularity: timedelta
    #: Nothing before this instant (now + minimum notice) nor after ``latest_start``.
    earliest_start: datetime
    latest_start: datetime


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time at the location.

    A time the clocks skip (02:30 the spring night) is read with the offset before the
    change, i.e. as 03:30; a time that happens twice (the autumn night) is its first one.
    """
    return datetime.combine(day, at, zone).astimezone(UTC)


def opening_intervals(
    hours: Iterable[WeeklyHours], first_day: date, last_day: date, time_zone: str
) -> tuple[Interval, ...]:
    """The spans open on each day from ``first_day`` to ``last_day``, in UTC (worked out
    once for the same hours, days and zone: every booking judges its choice by them)."""
    return _opening_intervals(tuple(hours), first_day, last_day, time_zone)


@functools.lru_cache(maxsize=4096)
def _opening_intervals(
    hours: tuple[WeeklyHours, ...], first_day: date, last_day: date, time_zone: str
) -> tuple[Interval, ...]:
    zone = ZoneInfo(time_zone)
    by_day: dict[int, list[WeeklyHours]] = {}
    for rule in hours:
        by_day.setdefault(rule.weekday, []).append(rule)
    spans = []
    day = first_day
    while day <= last_day:
        for rule in by_day.get(day.weekday(), []):
            start, end = wall_clock(day, rule.opens, zone), wall_clock(day, rule.closes, zone)
            if start < end:
                spans.append(Interval(start, end))
        day += timedelta(days=1)
    return tuple(sorted(spans))


def intersect(left: Sequence[Interval], right: Sequence[Interval]) -> list[Interval]:
    """Where both are open (both sorted, each without overlaps)."""
    spans = []
    for a in left:
        for b in right:
            start, end = max(a.start, b.start), min(a.end, b.end)
            if start < end:
                spans.append(Interval(start, end))
    return sorted(spans)


def candidate_starts(open_spans: Sequence[Interval], search: Search) -> Iterator[datetime]:
    """Grid starts whose whole session lies inside an open span, within notice and horizon."""
    length = timedelta(minutes=search.minutes)
    for span in open_spans:
        start = span.start
        while start + length <= span.end:
            if search.earliest_start <= start <= search.latest_start:
                yield start
            start += search.granularity


class _Overlaps:
    """Whether a span ``[start, end)`` overlaps any of ``spans`` (as
    :meth:`Interval.overlaps` says), in O(log n): the spans sorted by start, with the
    latest end among each prefix. Those starting before ``end`` are a prefix; one of them
    ends after ``start`` exactly when the latest end of that prefix does."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, spans: Iterable[Interval]) -> None:
        ordered = sorted(spans, key=lambda span: span.start)
        self._starts = [span.start for span in ordered]
        self._ends: list[datetime] = []
        for span in ordered:
            latest = self._ends[-1] if self._ends else span.end
            self._ends.append(span.end if span.end > latest else latest)

    def __call__(self, start: datetime, end: datetime) -> bool:
        before = bisect_left(self._starts, end)
        return before > 0 and self._ends[before - 1] > start


def _free_at(resource: Resource, search: Search) -> Callable[[datetime], bool]:
    """Whether the resource is free for a session starting then: the session meets none
    of its time off, its blocked span (buffers included) none of its taken time. Each
    start is worked out once."""
    length, before, after = (
        timedelta(minutes=search.minutes),
        search.buffer_before,
        search.buffer_after,
    )
    away, taken = _Overlaps(resource.away), _Overlaps(resource.taken)
    known: dict[datetime, bool] = {}

    def free(start: datetime) -> bool:
        found = known.get(start)
        if found is None:
            end = start + length
            found = not away(start, end) and not taken(start - before, end + after)
            known[start] = found
        return found

    return free


def find_offers(
    search: Search,
    practitioners: Sequence[Resource],
    rooms: Sequence[Resource],
    *,
    limit: int = 200,
) -> list[Offer]:
    """Free starts, earliest first, per practitioner with the first room free then.

    A start is offered when the session lies inside both the practitioner's and the
    room's hours, away from their time off, and its blocked span (buffers included)
    meets none of their appointments' blocked spans: the same rule PostgreSQL's
    exclusion constraints enforce.
    """
    length = timedelta(minutes=search.minutes)
    practitioners_free = [_free_at(practitioner, search) for practitioner in practitioners]
    rooms_free = [_free_at(room, search) for room in rooms]
    # One room per practitioner and start: the patient (or auto mode) chooses who.
    offers: dict[tuple[datetime, uuid.UUID], Offer] = {}
    # Day by day: a day's opening spans (hence its starts) all come before the next day's,
    # so once ``limit`` starts are found the later days cannot be among the first.
    day = search.first_day
    while day <= search.last_day and (len(offers) < limit or limit <= 0):
        rooms_open = [opening_intervals(room.hours, day, day, search.time_zone) for room in rooms]
        for practitioner, practitioner_free in zip(practitioners, practitioners_free, strict=True):
            practitioner_open = opening_intervals(practitioner.hours, day, day, search.time_zone)
            if not practitioner_open:
                continue
            for room, room_open, room_free in zip(rooms, rooms_open, rooms_free, strict=True):
                for start in candidate_starts(intersect(practitioner_open, room_open), search):
                    if (start, practitioner.id) in offers:
                        continue
                    if practitioner_free(start) and room_free(start):
                        offers[start, practitioner.id] = Offer(
                            start, start + length, practitioner.id, room.id
                        )
        day += timedelta(days=1)
    return sorted(offers.values(), key=lambda o: (o.starts_at, str(o.practitioner_id)))[:limit]


@dataclass(frozen=True)
class Previous:
    """The patient's previous session, to keep the same practitioner and a similar time."""

    practitioner_id: uuid.UUID
    starts_at: datetime


def best_offer(
    offers: Sequence[Offer], *, target_day: date, time_zone: str, previous: Previous | None
) -> Offer | None:
    """The slot booking holds by itself: the previous session's practitioner if possible,
    then the nearest time of day to the previous session's, then the nearest day to the
    target date, then the earliest."""
    if not offers:
        return None
    zone = ZoneInfo(time_zone)

    def minutes_of_day(instant: datetime) -> int:
        local = instant.astimezone(zone)
        return local.hour * 60 + local.minute

    def rank(offer: Offer) -> tuple[int, int, int, datetime]:
        day = offer.starts_at.astimezone(zone).date()
        if previous is None:
            return (0, 0, abs((day - target_day).days), offer.starts_at)
        return (
            0 if offer.practitioner_id == previous.practitioner_id else 1,
            abs(minutes_of_day(offer.starts_at) - minutes_of_day(previous.starts_at)),
            abs((day - target_day).days),
            offer.starts_at,
        )

    return min(offers, key=rank)


def preferred_first(offers: Sequence[Offer], preferred: uuid.UUID | None) -> list[Offer]:
    """The preferred practitioner's starts first, then everyone else's; earliest first in each."""
    return sorted(offers, key=lambda o: (o.practitioner_id != preferred, o.starts_at))
