"""FHIR search (docs/fhir.md): the parameters a resource type takes, a request's search
parsed against them (AND of ORs, modifiers, paging), references and dates.

Dates follow FHIR's rules for a point in time (an Appointment's or a Slot's start): the
value's precision makes a span, its prefix says where the point must be against it. A
value with a UTC offset is fixed instants; one without (a year, a month, a day, a local
time) is wall-clock time where the resource is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request

from shared.fhir import DEFAULT_COUNT, MAX_COUNT, MAX_OFFSET, Refused, invalid

T = TypeVar("T")

# -- Search parameters ------------------------------------------------------------------

ParamType = Literal["token", "reference", "date", "string"]
#: Result parameters every search takes.
RESULT_PARAMETERS = ("_count", "_offset", "_format")
_JSON_FORMATS = {"json", "application/json", "application/fhir+json"}


@dataclass(frozen=True)
class SearchParam:
    """A search parameter a resource type takes: its FHIR type, the modifiers it takes."""

    name: str
    type: ParamType
    documentation: str
    modifiers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Criterion:
    """One occurrence of a parameter: its modifier, and the values any of which may match
    (FHIR's comma is OR; repeating the parameter is AND)."""

    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class Search:
    """A parsed search: each parameter's criteria, and the page asked for."""

    criteria: Mapping[str, tuple[Criterion, ...]]
    count: int = DEFAULT_COUNT
    offset: int = 0

    def __getitem__(self, name: str) -> tuple[Criterion, ...]:
        return self.criteria.get(name, ())

    def values(self, name: str) -> list[list[str]]:
        """The OR-lists of ``name`` (an AND of them), modifiers aside."""
        return [list(c.values) for c in self[name]]


@dataclass(frozen=True)
class Served:
    """A resource type a service serves: read by id, search with ``params`` (None: no
    search), as its CapabilityStatement says."""

    type: str
    read: bool = True
    params: tuple[SearchParam, ...] | None = None
    documentation: str = ""
    by_name: Mapping[str, SearchParam] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params or ()})

    def parse(self, request: Request) -> Search:
        """The request's search: 400 for a parameter, a modifier or a page it cannot take."""
        criteria: dict[str, list[Criterion]] = {}
        count, offset = DEFAULT_COUNT, 0
        for key, value in request.query_params.multi_items():
            name, _, modifier = key.partition(":")
            if name == "_count":
                count = min(_whole(key, value, MAX_COUNT * 1000), MAX_COUNT)
            elif name == "_offset":
                offset = _whole(key, value, MAX_OFFSET)
            elif name == "_format":
                if value not in _JSON_FORMATS:
                    raise Refused(406, f"_format={value!r}: this server answers JSON only")
            elif name not in self.by_name:
                known = ", ".join([*self.by_name, *RESULT_PARAMETERS])
                raise Refused(
                    400, f"unknown search parameter {key!r} for {self.type}; it takes {known}",
                    code="not-supported",
                )  # fmt: skip
            elif modifier and modifier not in self.by_name[name].modifiers:
                raise Refused(400, f"{key}: modifier not supported", code="not-supported")
            else:
                values = tuple(v for v in _split(value) if v)
                if values:  # FHIR: an empty parameter is ignored
                    criteria.setdefault(name, []).append(Criterion(modifier or None, values))
        return Search({k: tuple(v) for k, v in criteria.items()}, count, offset)


def _whole(name: str, value: str, most: int) -> int:
    if not value.isdigit() or int(value) > most:
        raise invalid(f"{name} must be a whole number from 0 to {most}, not {value!r}")
    return int(value)


def _split(value: str) -> list[str]:
    r"""FHIR's comma-separated OR, with ``\,`` a comma inside a value."""
    parts = re.split(r"(?<!\\),", value)
    return [part.replace("\\,", ",").strip() for part in parts]


def all_of(lists: Iterable[Iterable[T]]) -> list[T] | None:
    """The values every list has: the AND of a parameter's OR-lists; None when no list."""
    found: list[T] | None = None
    for values in lists:
        found = [v for v in values if found is None or v in found]
    return found


def codes(search: Search, name: str, known: Iterable[str]) -> list[list[str]]:
    """A token parameter's OR-lists, 400 for a code not among ``known``."""
    allowed = set(known)
    lists = search.values(name)
    for values in lists:
        for code in values:
            if code not in allowed:
                raise invalid(f"{name}={code!r} is not one of {', '.join(sorted(allowed))}")
    return lists


def reference_ids(values: Iterable[str], resource_type: str) -> list[str]:
    """The ids of a reference parameter's values: ``id``, ``Type/id`` or an absolute URL
    ending ``Type/id``; 400 for a reference to another type."""
    ids = []
    for value in values:
        path = value.rstrip("/").split("/")
        if len(path) >= 2 and path[-2] != resource_type:
            raise invalid(f"{value!r} is not a reference to a {resource_type}")
        ids.append(path[-1])
    return ids


def as_uuids(ids: Iterable[str]) -> list[uuid.UUID]:
    """The ids that are ids here (a uuid); others name nothing, so match nothing."""
    found = []
    for text in ids:
        try:
            found.append(uuid.UUID(text))
        except ValueError:
            continue
    return found


# -- Dates ------------------------------------------------------------------------------

_DATE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<zone>Z|[+\- ]\d{2}:\d{2})?)?)?)?"
)


#: A bound on a point in time: at or after (``ge``), or before (``lt``).
Bound = Literal["ge", "lt"]


@dataclass(frozen=True)
class DateParam:
    """A date search value: a prefix and the span ``[start, end)`` its precision implies.

    Written with a UTC offset, the span is fixed instants; without one (a year, a month, a
    day, a local time) it is wall-clock time where the resource is (:meth:`span`).
    """

    prefix: str
    start: datetime
    end: datetime

    @property
    def local(self) -> bool:
        return self.start.tzinfo is None

    @classmethod
    def parse(cls, text: str) -> DateParam:
        """400 unless ``text`` is a FHIR date search value (a ``+`` read as a space, as an
        unencoded one arrives, is taken for the ``+`` of an offset)."""
        match = _DATE.fullmatch(text)
        if match is None:
            raise invalid(f"{text!r} is not a FHIR date (e.g. ge2026-12-06, 2026-12-06T10:00:00Z)")
        part = match.groupdict()
        prefix = part["prefix"] or "eq"
        if prefix == "ap":
            raise Refused(
                400, "the ap (approximately) prefix is not supported", code="not-supported"
            )
        try:
            start, end = _span(part)
        except (ValueError, OverflowError):
            raise invalid(f"{text!r} is not a real date or time") from None
        return cls(prefix, start, end)

    def span(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """``[start, end)`` as instants, wall-clock values read in ``zone``."""
        if not self.local:
            return self.start, self.end
        return at_instant(self.start, zone), at_instant(self.end, zone)

    def bounds(self) -> list[list[tuple[Bound, datetime]]]:
        """What a point in time (an Appointment's or a Slot's start) must be to match: any
        of these lists of bounds, each ``>= at`` or ``< at`` (``at`` local if :attr:`local`)."""
        start, end = self.start, self.end
        bounds: dict[str, list[list[tuple[Bound, datetime]]]] = {
            "eq": [[("ge", start), ("lt", end)]], "ne": [[("lt", start)], [("ge", end)]],
            "gt": [[("ge", end)]], "sa": [[("ge", end)]], "ge": [[("ge", start)]],
            "lt": [[("lt", start)]], "eb": [[("lt", start)]], "le": [[("lt", end)]],
        }  # fmt: skip
        return bounds[self.prefix]

    def matches(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Whether the point in time ``moment`` matches (wall-clock values read in ``zone``)."""

        def meets(operator: Bound, at: datetime) -> bool:
            at = at_instant(at, zone)
            return moment >= at if operator == "ge" else moment < at

        return any(all(meets(*bound) for bound in anded) for anded in self.bounds())


def at_instant(moment: datetime, zone: ZoneInfo) -> datetime:
    """``moment`` as a UTC instant: a wall-clock time (no offset) read in ``zone``."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _span(part: dict[str, str | None]) -> tuple[datetime, datetime]:
    year = int(part["year"] or 0)
    if part["month"] is None:
        start = datetime(year, 1, 1)  # noqa: DTZ001 (wall clock where the resource is)
        return start, datetime(year + 1, 1, 1)  # noqa: DTZ001
    month = int(part["month"])
    if part["day"] is None:
        start = datetime(year, month, 1)  # noqa: DTZ001
        following = datetime(year + month // 12, month % 12 + 1, 1)  # noqa: DTZ001
        return start, following
    day = int(part["day"])
    if part["hour"] is None:
        start = datetime(year, month, day)  # noqa: DTZ001
        return start, start + timedelta(days=1)
    second, fraction = part["second"], part["fraction"]
    start = datetime(year, month, day, int(part["hour"] or 0), int(part["minute"] or 0))  # noqa: DTZ001
    step = timedelta(minutes=1)
    if second is not None:
        start, step = start.replace(second=int(second)), timedelta(seconds=1)
    if fraction is not None:
        digits = fraction[1:7]
        start = start.replace(microsecond=int(digits.ljust(6, "0")))
        step = timedelta(microseconds=10 ** (6 - len(digits)))
    zone = part["zone"]
    if zone is not None:
        if zone == "Z":
            offset = timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        start = start.replace(tzinfo=timezone(offset) if offset else UTC)
    return start, start + step


def date_params(search: Search, name: str) -> list[list[DateParam]]:
    """``name``'s values parsed (an AND of OR-lists), 400 for any that is not a date."""
    return [[DateParam.parse(v) for v in values] for values in search.values(name)]


def all_match(params: list[list[DateParam]], instant: datetime, zone: ZoneInfo) -> bool:
    """Whether ``instant`` meets every criterion (any of the values of each)."""
    return all(any(p.matches(instant, zone) for p in anyof) for anyof in params)
