"""booking's FHIR R4 read API (docs/fhir.md): Appointment, Slot, Schedule, Practitioner,
Location and the CapabilityStatement, for staff, answering application/fhir+json."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Location, Practitioner, Room
from booking.adapters.fhir_queries import (
    AppointmentFilter,
    Bound,
    ScheduleOwner,
    appointment_lines,
    count_appointments,
    schedule_owners,
)
from booking.api import fhir_resources as fhir
from booking.api.deps import RuntimeDep, SessionDep, own_practitioner
from booking.settings import BookingSettings
from booking.use_cases.free_busy import free_busy
from shared.api import StaffDep
from shared.auth import Role, StaffUser
from shared.fhir import (
    FhirResponse,
    Refused,
    add_fallback,
    capability_statement,
    fhir_router,
    fhir_settings,
    invalid,
    searchset,
)
from shared.fhir_search import (
    DateParam,
    Search,
    SearchParam,
    Served,
    all_match,
    all_of,
    as_uuids,
    at_instant,
    codes,
    date_params,
    reference_ids,
)
from shared.service import Runtime

router = fhir_router()

T = TypeVar("T")

_ID = SearchParam("_id", "token", "the resource's id")
APPOINTMENT = Served(
    "Appointment",
    params=(
        _ID,
        SearchParam("patient", "reference", "Patient/<id> (plans' patient ids)"),
        SearchParam("practitioner", "reference", "Practitioner/<id>"),
        SearchParam("status", "token", "FHIR's AppointmentStatus, e.g. booked,pending"),
        SearchParam(
            "date",
            "date",
            "the start; prefixes eq ne gt ge lt le sa eb; a date or a local time is the "
            "wall clock where the appointment is",
        ),
    ),
    documentation="Appointments of booking; practitioners see only their own.",
)
SLOT = Served(
    "Slot",
    params=(
        SearchParam("schedule", "reference", "Schedule/<id>"),
        SearchParam(
            "start",
            "date",
            "the slot's start, as Appointment's date; from now for 7 days unless told, at "
            "most 31 days per search",
        ),
        SearchParam("status", "token", "free, busy or busy-unavailable"),
    ),
    documentation="Each schedule's grid of slot_granularity_minutes: free where slot search "
    "would offer a session then.",
)
SCHEDULE = Served(
    "Schedule",
    params=(
        _ID,
        SearchParam("actor", "reference", "Practitioner/<id> or Location/<room id>"),
    ),
    documentation="One per practitioner (practitioner-<id>) and one per room (room-<id>).",
)
PRACTITIONER = Served("Practitioner")
LOCATION = Served("Location", documentation="Locations (sites) and their rooms.")
SERVED = (APPOINTMENT, SLOT, SCHEDULE, PRACTITIONER, LOCATION)

SLOT_STATUSES = ("free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error")
#: A Slot search looks this far from now unless its ``start`` says, and never further
#: than MAX_SLOT_SPAN at once (each slot is computed, not stored).
SLOT_DAYS = timedelta(days=7)
MAX_SLOT_SPAN = timedelta(days=31)


@router.get("/metadata")
async def metadata(request: Request, runtime: RuntimeDep) -> Response:
    """The CapabilityStatement: what this base serves (no token needed)."""
    return capability_statement(
        request, name="MesocycleBooking", title="mesocycle booking",
        served=SERVED, now=runtime.clock.now(),
    )  # fmt: skip


def _reference_uuids(lists: list[list[str]], resource_type: str) -> list[uuid.UUID] | None:
    return all_of(as_uuids(reference_ids(values, resource_type)) for values in lists)


def _own(user: StaffUser, asked: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    """Practitioners see only their own appointments (as in GET /v1/appointments)."""
    if user.role is not Role.PRACTITIONER:
        return asked
    mine = own_practitioner(user, None)
    if asked is not None and mine not in asked:
        raise Refused(403, "practitioners see only their own appointments")
    return [mine]


def _statuses(search: Search) -> list[str] | None:
    lists = codes(search, "status", fhir.FHIR_APPOINTMENT_STATUSES)
    return all_of([s for code in values for s in fhir.statuses_for(code)] for values in lists)


def _bounds(params: list[list[DateParam]]) -> list[list[list[Bound]]]:
    return [
        [[Bound(op, at, p.local) for op, at in anded] for p in anyof for anded in p.bounds()]
        for anyof in params
    ]


@router.get("/Appointment")
async def search_appointments(request: Request, session: SessionDep, user: StaffDep) -> Response:
    search = APPOINTMENT.parse(request)
    practitioners = _reference_uuids(search.values("practitioner"), "Practitioner")
    where = AppointmentFilter(
        ids=all_of(as_uuids(values) for values in search.values("_id")),
        patient_ids=_reference_uuids(search.values("patient"), "Patient"),
        practitioner_ids=_own(user, practitioners),
        statuses=_statuses(search),
        starts=_bounds(date_params(search, "date")),
    )
    total = await count_appointments(session, where)
    lines = []
    if search.count and search.offset < total:
        lines = await appointment_lines(session, where, limit=search.count, offset=search.offset)
    plans = fhir_settings().plans_base_url
    found = [fhir.appointment(line, plans_base=plans) for line in lines]
    return searchset(request, APPOINTMENT, search, total, found)


@router.get("/Appointment/{id}")
async def read_appointment(id: str, session: SessionDep, user: StaffDep) -> Response:
    lines = await appointment_lines(
        session, AppointmentFilter(ids=as_uuids([id])), limit=1, offset=0
    )
    if not lines:
        raise Refused(404, f"no Appointment {id}")
    if user.role is Role.PRACTITIONER:
        _own(user, [lines[0].appointment.practitioner_id])
    return FhirResponse(fhir.appointment(lines[0], plans_base=fhir_settings().plans_base_url))


# Schedules and slots.


def _schedule_ids(lists: list[list[str]]) -> list[str] | None:
    return all_of(reference_ids(values, "Schedule") for values in lists)


def _actor_refs(lists: list[list[str]]) -> list[str] | None:
    return all_of([_actor(value) for value in values] for values in lists)


def _actor(value: str) -> str:
    """``Practitioner/<id>`` or ``Location/<id>`` as a reference names it (a bare id: either)."""
    path = value.rstrip("/").split("/")
    if len(path) >= 2 and path[-2] not in ("Practitioner", "Location"):
        raise invalid(f"{value!r}: a schedule's actor is a Practitioner or a Location")
    return "/".join(path[-2:]) if len(path) >= 2 else path[-1]


@router.get("/Schedule")
async def search_schedules(
    request: Request, session: SessionDep, runtime: RuntimeDep, _: StaffDep
) -> Response:
    search = SCHEDULE.parse(request)
    ids, actors = all_of(search.values("_id")), _actor_refs(search.values("actor"))
    owners = [
        owner
        for owner in await schedule_owners(session)
        if (ids is None or fhir.schedule_id(owner) in ids)
        and (actors is None or {fhir.actor_reference(owner), str(owner.id)} & set(actors))
    ]
    now, settings = runtime.clock.now(), runtime.settings
    page = owners[search.offset : search.offset + search.count]
    found = [fhir.schedule(owner, settings=settings, now=now) for owner in page]
    return searchset(request, SCHEDULE, search, len(owners), found)


async def _owner(session: AsyncSession, schedule: str) -> ScheduleOwner | None:
    named = fhir.parse_schedule_id(schedule)
    if named is None:
        return None
    owners = await schedule_owners(session)
    return next((o for o in owners if (o.kind, o.id) == named), None)


@router.get("/Schedule/{id}")
async def read_schedule(id: str, session: SessionDep, runtime: RuntimeDep, _: StaffDep) -> Response:
    owner = await _owner(session, id)
    if owner is None:
        raise Refused(404, f"no Schedule {id}")
    now = runtime.clock.now()
    return FhirResponse(fhir.schedule(owner, settings=runtime.settings, now=now))


def _window(
    params: list[list[DateParam]], zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """The instants a Slot search looks between: what ``start`` bounds, not before now,
    SLOT_DAYS long unless told; 400 past MAX_SLOT_SPAN."""
    lowest, highest = now, None
    for anyof in params:  # each criterion bounds the search by the widest of its values
        lows, highs = [], []
        for p in anyof:
            for anded in p.bounds():
                spans = [(op, at_instant(at, zone)) for op, at in anded]
                lows.append(max((at for op, at in spans if op == "ge"), default=None))
                highs.append(min((at for op, at in spans if op == "lt"), default=None))
        if None not in lows:
            lowest = max(lowest, min(low for low in lows if low is not None))
        if None not in highs:
            high = max(h for h in highs if h is not None)
            highest = high if highest is None else min(highest, high)
    if highest is None:
        highest = lowest + SLOT_DAYS
    if highest - lowest > MAX_SLOT_SPAN:
        raise invalid(f"a Slot search spans at most {MAX_SLOT_SPAN.days} days: narrow its start")
    return lowest, highest


async def _slots(
    session: AsyncSession, runtime: Runtime[BookingSettings], owners: Sequence[ScheduleOwner],
    params: list[list[DateParam]],
) -> list[fhir.Resource]:  # fmt: skip
    now, found = runtime.clock.now(), []
    for owner in owners:
        zone = ZoneInfo(owner.time_zone)
        lowest, highest = _window(params, zone, now)
        if highest <= lowest:
            continue
        grid = await free_busy(
            session, owner=owner, settings=runtime.settings, now=now,
            first_day=lowest.astimezone(zone).date(),
            last_day=(highest - timedelta(microseconds=1)).astimezone(zone).date(),
        )  # fmt: skip
        found += [
            (slot.start, fhir.slot(owner, slot))
            for slot in grid
            if lowest <= slot.start < highest and all_match(params, slot.start, zone)
        ]
    return [resource for _, resource in sorted(found, key=lambda f: (f[0], f[1]["id"]))]


@router.get("/Slot")
async def search_slots(
    request: Request, session: SessionDep, runtime: RuntimeDep, _: StaffDep
) -> Response:
    search = SLOT.parse(request)
    schedules = _schedule_ids(search.values("schedule"))
    statuses = all_of(codes(search, "status", SLOT_STATUSES))
    params = date_params(search, "start")
    owners = [
        owner
        for owner in await schedule_owners(session)
        if schedules is None or fhir.schedule_id(owner) in schedules
    ]
    slots = [
        slot
        for slot in await _slots(session, runtime, owners, params)
        if statuses is None or slot["status"] in statuses
    ]
    page = slots[search.offset : search.offset + search.count]
    return searchset(request, SLOT, search, len(slots), page)


@router.get("/Slot/{id}")
async def read_slot(id: str, session: SessionDep, runtime: RuntimeDep, _: StaffDep) -> Response:
    named = fhir.parse_slot_id(id)
    owner = await _owner(session, named[0]) if named else None
    if named is None or owner is None:
        raise Refused(404, f"no Slot {id}")
    start = named[1]
    exact = [[DateParam("eq", start, start + timedelta(minutes=1))]]
    found = await _slots(session, runtime, [owner], exact)
    if not found:
        raise Refused(404, f"no Slot {id}: not on the schedule's grid, or not within its horizon")
    return FhirResponse(found[0])


# The resources appointments and schedules name.


@router.get("/Practitioner/{id}")
async def read_practitioner(id: str, session: SessionDep, _: StaffDep) -> Response:
    record = await _get(session, Practitioner, id)
    if record is None:
        raise Refused(404, f"no Practitioner {id}")
    return FhirResponse(fhir.practitioner(record))


@router.get("/Location/{id}")
async def read_location(id: str, session: SessionDep, _: StaffDep) -> Response:
    site = await _get(session, Location, id)
    if site is not None:
        return FhirResponse(fhir.location(site))
    room = await _get(session, Room, id)
    if room is None:
        raise Refused(404, f"no Location {id}")
    return FhirResponse(fhir.room(room))


async def _get(session: AsyncSession, model: type[T], id: str) -> T | None:
    ids = as_uuids([id])
    return await session.get(model, ids[0]) if ids else None


add_fallback(router, SERVED)
