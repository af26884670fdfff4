"""FHIR search as shared.fhir_search reads it: parameters against what a resource type
declares (AND of ORs, modifiers, paging), references, and dates with their prefixes and
precisions, at a UTC offset or on the wall clock where the resource is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from starlette.requests import Request

from shared.fhir import MAX_COUNT, Refused
from shared.fhir_search import (
    Criterion,
    DateParam,
    SearchParam,
    Served,
    all_of,
    as_uuids,
    reference_ids,
)

PARIS = ZoneInfo("Europe/Paris")
CET = timezone(timedelta(hours=1))
SECOND = timedelta(seconds=1)
SERVED = Served(
    "Patient",
    params=(
        SearchParam("name", "string", "a name", modifiers=frozenset({"exact"})),
        SearchParam("date", "date", "a date"),
    ),
)


def request(*pairs: tuple[str, str]) -> Request:
    query = urlencode(pairs).encode()
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query,
                    "headers": []})  # fmt: skip


def refused(status: int, *pairs: tuple[str, str]) -> Refused:
    with pytest.raises(Refused) as caught:
        SERVED.parse(request(*pairs))
    assert caught.value.status == status
    return caught.value


def test_a_search_is_an_and_of_ors_with_its_modifiers_and_page() -> None:
    search = SERVED.parse(
        request(("name", "lea,anne\\,marie"), ("name:exact", "Paul"), ("date", ""),
                ("_count", "10"), ("_offset", "20"), ("_format", "json")),
    )  # fmt: skip
    assert search["name"] == (
        Criterion(None, ("lea", "anne,marie")),
        Criterion("exact", ("Paul",)),
    )
    assert search["date"] == ()  # an empty parameter is ignored
    assert (search.count, search.offset) == (10, 20)
    assert search.values("name") == [["lea", "anne,marie"], ["Paul"]]
    assert SERVED.parse(request(("_count", "100000"))).count == MAX_COUNT


def test_what_a_search_cannot_take_is_a_400() -> None:
    assert refused(400, ("birthdate", "2000")).code == "not-supported"
    assert "name:contains" in refused(400, ("name:contains", "x")).detail
    refused(400, ("date:exact", "2026"))
    for bad in ("x", "-1", "1.5", ""):
        refused(400, ("_count", bad))
        refused(400, ("_offset", bad))
    refused(400, ("_offset", "1000001"))
    refused(406, ("_format", "xml"))


def test_references_and_ids() -> None:
    patient = uuid.uuid4()
    values = [str(patient), f"Patient/{patient}", f"http://plans/fhir/R4/Patient/{patient}/"]
    assert reference_ids(values, "Patient") == [str(patient)] * 3
    with pytest.raises(Refused):
        reference_ids(["Practitioner/1"], "Patient")
    assert as_uuids([str(patient), "lea", ""]) == [patient]
    assert all_of([[1, 2, 3], [3, 2], [2, 5]]) == [2]
    assert all_of([]) is None


@pytest.mark.parametrize(
    ("text", "start", "length"),
    [
        ("2026", datetime(2026, 1, 1), timedelta(days=365)),  # noqa: DTZ001
        ("2026-02", datetime(2026, 2, 1), timedelta(days=28)),  # noqa: DTZ001
        ("2026-12", datetime(2026, 12, 1), timedelta(days=31)),  # noqa: DTZ001
        ("2026-01-06", datetime(2026, 1, 6), timedelta(days=1)),  # noqa: DTZ001
        ("2026-01-06T10:15", datetime(2026, 1, 6, 10, 15), timedelta(minutes=1)),  # noqa: DTZ001
        ("2026-01-06T10:15:30", datetime(2026, 1, 6, 10, 15, 30), timedelta(seconds=1)),  # noqa: DTZ001
        ("2026-01-06T10:15:30.5", datetime(2026, 1, 6, 10, 15, 30, 500000),  # noqa: DTZ001
         timedelta(milliseconds=100)),
        ("2026-01-06T10:15:30Z", datetime(2026, 1, 6, 10, 15, 30, tzinfo=UTC), SECOND),
        ("2026-01-06T10:15:30+01:00", datetime(2026, 1, 6, 10, 15, 30, tzinfo=CET), SECOND),
        # An unencoded "+" arrives as a space.
        ("2026-01-06T10:15:30 01:00", datetime(2026, 1, 6, 10, 15, 30, tzinfo=CET), SECOND),
        ("2026-01-06T10:15:30-05:30",
         datetime(2026, 1, 6, 10, 15, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
         timedelta(seconds=1)),
    ],
)  # fmt: skip
def test_a_date_s_precision_makes_its_span(text: str, start: datetime, length: timedelta) -> None:
    value = DateParam.parse(text)
    assert (value.prefix, value.start, value.end - value.start) == ("eq", start, length)
    assert value.local is (start.tzinfo is None)


def test_a_local_date_is_the_wall_clock_where_the_resource_is() -> None:
    # The night Paris moves to summer time, its day lasts 23 hours.
    start, end = DateParam.parse("2026-03-29").span(PARIS)
    assert (end - start, start.tzinfo) == (timedelta(hours=23), UTC)
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    fixed = DateParam.parse("2026-03-29T00:00:00Z")
    assert fixed.span(PARIS) == (fixed.start, fixed.end)


@pytest.mark.parametrize(
    ("prefix", "before", "inside", "after"),
    [
        ("eq", False, True, False), ("ne", True, False, True), ("gt", False, False, True),
        ("sa", False, False, True), ("ge", False, True, True), ("lt", True, False, False),
        ("eb", True, False, False), ("le", True, True, False),
    ],
)  # fmt: skip
def test_each_prefix_places_a_point_against_the_span(
    prefix: str, before: bool, inside: bool, after: bool
) -> None:
    value = DateParam.parse(f"{prefix}2026-01-06")
    moments = [
        datetime(2026, 1, d, h, m, tzinfo=PARIS) for d, h, m in ((5, 23, 59), (6, 0, 0),
                                                                 (6, 23, 59), (7, 0, 0))
    ]  # fmt: skip
    expected = [before, inside, inside, after]
    assert [value.matches(m, PARIS) for m in moments] == expected
    # In UTC, the Paris day starts an hour earlier: 23:30 UTC on the 5th is inside it.
    assert value.matches(datetime(2026, 1, 5, 23, 30, tzinfo=UTC), PARIS) is inside


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-02-30", "20260106", "2026-1-6", "2026-01-06T25:00", "2026-01-06T10",
     "2026-01-06T10:00+25:00", "ap2026-01-06", "xx2026", "2026-01-06 10:00", "0000-01-01",
     "9999-12-31T23:59:59+14:00x"],
)  # fmt: skip
def test_what_is_no_date_is_a_400(text: str) -> None:
    with pytest.raises(Refused) as caught:
        DateParam.parse(text)
    assert caught.value.status == 400
