"""booking's FHIR R4 read API through its real app, PostgreSQL and broker: Appointment,
Slot, Schedule, Practitioner and Location, each answer checked against fhir.resources'
R4B models; search parameters, paging, statuses, free/busy as slot search sees it,
references followed (to plans as well), staff auth and bad input as OperationOutcome."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from booking.api.fhir_resources import APPOINTMENT_STATUS
from plans import app as plans
from shared.auth import Role
from shared.contracts.booking import AppointmentBooked, AppointmentStatus
from shared.contracts.plans import CycleScheduled, PatientRegistered
from shared.db import create_database_if_missing, drop_database
from shared.fhir import fhir_settings
from tests.utils import fhir
from tests.utils.booking import START, Booking, running_booking
from tests.utils.harness import running
from tests.utils.plans import active_plan, new_patient

BASE = "/fhir/R4"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def booking(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[Booking]:
    async with running_booking(fresh_database, bootstrap_servers) as running:
        await running.seed_clinic()
        yield running


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    """``day`` days after the harness' START (Monday 5 January 2026), wall clock in Paris."""
    return datetime(2026, 1, 5 + day, hour, minute, tzinfo=PARIS)


async def book(
    booking: Booking,
    at: datetime,
    *,
    practitioner: int = 0,
    room: int = 0,
    patient_id: uuid.UUID | None = None,
    minutes: int = 30,
    hold: bool = False,
) -> dict[str, Any]:
    """A session of a new one-session cycle, booked (or held) at ``at``."""
    cycle = await booking.cycle(first=at.date(), patient_id=patient_id, minutes=minutes)
    [request] = await booking.requests(cycle)
    response = await booking.post(
        "/v1/appointments",
        {"booking_request_id": request["id"], "room_id": booking.room_ids[room],
         "practitioner_id": booking.practitioner_ids[practitioner],
         "starts_at": at.isoformat(), "hold": hold},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    appointment: dict[str, Any] = response.json()
    return appointment


async def step(booking: Booking, appointment: dict[str, Any], *steps: str) -> None:
    for name in steps:
        response = await booking.post(f"/v1/appointments/{appointment['id']}/{name}")
        assert response.status_code == 200, response.text


async def search_ids(booking: Booking, kind: str, **params: Any) -> set[str]:
    found = await fhir.every_page(booking.client, f"{BASE}/{kind}", **params)
    return {resource["id"] for resource in found}


# -- The CapabilityStatement -------------------------------------------------------------

SEARCHES = {
    "Appointment": {"_id", "patient", "practitioner", "status", "date"},
    "Slot": {"schedule", "start", "status"},
    "Schedule": {"_id", "actor"},
}
READS = {"Appointment", "Slot", "Schedule", "Practitioner", "Location"}


async def test_metadata_says_exactly_what_booking_serves(booking: Booking) -> None:
    statement = fhir.answer(await booking.client.get(f"{BASE}/metadata", auth=None))
    assert statement["resourceType"] == "CapabilityStatement"
    assert (statement["fhirVersion"], statement["format"]) == ("4.0.1", ["json"])
    [rest] = statement["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == READS
    for kind, resource in served.items():
        interactions = {i["code"] for i in resource["interaction"]}
        assert interactions == ({"read", "search-type"} if kind in SEARCHES else {"read"}), kind
        assert {p["name"] for p in resource.get("searchParam", [])} == SEARCHES.get(kind, set())
    # Every parameter it names is taken; one it does not is a 400.
    appointment = await book(booking, paris(1, 10))
    samples = {
        "_id": appointment["id"], "patient": f"Patient/{appointment['patient_id']}",
        "practitioner": f"Practitioner/{appointment['practitioner_id']}",
        "date": "2026-01-06", "schedule": f"Schedule/room-{booking.room_ids[0]}",
        "start": "ge2026-01-06", "actor": f"Location/{booking.room_ids[0]}",
    }  # fmt: skip
    for kind, names in SEARCHES.items():
        samples["status"] = "free" if kind == "Slot" else "booked"
        samples["_id"] = f"room-{booking.room_ids[0]}" if kind == "Schedule" else appointment["id"]
        for name in names:
            bundle = await fhir.search(booking.client, f"{BASE}/{kind}", **{name: samples[name]})
            assert bundle["total"] >= 1, (kind, name)
        fhir.outcome(
            await booking.client.get(f"{BASE}/{kind}", params={"identifier": "x"}),
            400, "unknown search parameter 'identifier'",
        )  # fmt: skip


# -- Appointments ------------------------------------------------------------------------


async def test_appointments_are_found_by_patient_practitioner_status_and_date(
    booking: Booking,
) -> None:
    lea, paul = uuid.uuid4(), uuid.uuid4()
    monday = await book(booking, paris(0, 11), patient_id=lea)
    tuesday = await book(booking, paris(1, 9), practitioner=1, patient_id=lea)
    late_tuesday = await book(booking, paris(1, 19, 30), patient_id=paul)
    wednesday = await book(booking, paris(2, 10), practitioner=1, patient_id=paul, hold=True)
    ids = {a["id"]: a for a in (monday, tuesday, late_tuesday, wednesday)}

    assert await search_ids(booking, "Appointment") == set(ids)
    assert await search_ids(booking, "Appointment", patient=f"Patient/{lea}") == {
        monday["id"], tuesday["id"],
    }  # fmt: skip
    plans_url = f"{fhir_settings().plans_base_url}/Patient/{paul}"
    assert await search_ids(booking, "Appointment", patient=plans_url) == {
        late_tuesday["id"], wednesday["id"],
    }  # fmt: skip
    dr1 = booking.practitioner_ids[1]
    assert await search_ids(booking, "Appointment", practitioner=dr1) == {
        tuesday["id"], wednesday["id"],
    }  # fmt: skip
    assert await search_ids(booking, "Appointment", status="pending") == {wednesday["id"]}
    assert await search_ids(booking, "Appointment", status="pending,booked") == set(ids)
    # Parameters together are an AND.
    both = await search_ids(booking, "Appointment", patient=str(lea), practitioner=dr1)
    assert both == {tuesday["id"]}
    assert await search_ids(booking, "Appointment", _id=monday["id"]) == {monday["id"]}
    assert await search_ids(booking, "Appointment", patient=str(uuid.uuid4())) == set()
    assert await search_ids(booking, "Appointment", patient="not-an-id") == set()

    # A day is the wall clock where the appointment is: 19:30 in Paris is 18:30 UTC,
    # 9:00 is 8:00 UTC, both on Tuesday.
    assert await search_ids(booking, "Appointment", date="2026-01-06") == {
        tuesday["id"], late_tuesday["id"],
    }  # fmt: skip
    assert await search_ids(booking, "Appointment", date="2026-01") == set(ids)
    assert await search_ids(booking, "Appointment", date="2025") == set()


async def test_date_prefixes_at_day_and_instant_precision(booking: Booking) -> None:
    first = await book(booking, paris(1, 10))
    second = await book(booking, paris(1, 14))
    third = await book(booking, paris(3, 10))
    every = {first["id"], second["id"], third["id"]}

    async def found(*values: str) -> set[str]:
        query = "&".join(f"date={v}" for v in values)
        response = await booking.client.get(f"{BASE}/Appointment?{query}&_count=200")
        return set(fhir.ids(fhir.answer(response)))

    # Day precision: the whole of Tuesday in Paris.
    assert await found("eq2026-01-06") == {first["id"], second["id"]}
    assert await found("ne2026-01-06") == {third["id"]}
    assert await found("gt2026-01-06") == {third["id"]}
    assert await found("sa2026-01-06") == {third["id"]}
    assert await found("ge2026-01-06") == every
    assert await found("lt2026-01-06") == set()
    assert await found("le2026-01-06") == {first["id"], second["id"]}
    assert await found("eb2026-01-08") == {first["id"], second["id"]}
    # Instant precision, with an offset: %2B is a "+", and a "+" sent as is (read as a
    # space in a query string) is taken for one too; Z is UTC.
    assert await found("ge2026-01-06T14:00:00%2B01:00") == {second["id"], third["id"]}
    assert await found("ge2026-01-06T14:00:00+01:00") == {second["id"], third["id"]}
    assert await found("gt2026-01-06T13:00:00Z") == {third["id"]}
    assert await found("eq2026-01-06T09:00:00Z") == {first["id"]}
    assert await found("lt2026-01-06T13:00:00Z") == {first["id"]}
    assert await found("le2026-01-06T13:00:00Z") == {first["id"], second["id"]}
    # Minutes without seconds; a local time is the wall clock at the location.
    assert await found("eq2026-01-06T10:00") == {first["id"]}
    # Repeated, an AND (a range); comma-separated, an OR.
    assert await found("ge2026-01-06", "lt2026-01-07") == {first["id"], second["id"]}
    assert await found("2026-01-06T10:00:00%2B01:00,2026-01-08") == {first["id"], third["id"]}


async def test_every_status_reads_as_fhir_defines_it(booking: Booking) -> None:
    made = {
        AppointmentStatus.HELD: await book(booking, paris(1, 8), hold=True),
        AppointmentStatus.BOOKED: await book(booking, paris(1, 9)),
        AppointmentStatus.CONFIRMED: await book(booking, paris(1, 10)),
        AppointmentStatus.CHECKED_IN: await book(booking, paris(1, 11)),
        AppointmentStatus.COMPLETED: await book(booking, paris(1, 12)),
        AppointmentStatus.CANCELLED: await book(booking, paris(1, 13)),
        AppointmentStatus.NO_SHOW: await book(booking, paris(1, 14)),
    }
    assert set(made) == set(AppointmentStatus)
    booking.clock.set(paris(1, 16))
    await step(booking, made[AppointmentStatus.CONFIRMED], "confirm")
    await step(booking, made[AppointmentStatus.CHECKED_IN], "check-in")
    await step(booking, made[AppointmentStatus.COMPLETED], "check-in", "complete")
    await step(booking, made[AppointmentStatus.CANCELLED], "cancel")
    await step(booking, made[AppointmentStatus.NO_SHOW], "no-show")
    expected = {
        "held": ("pending", "tentative"), "booked": ("booked", "needs-action"),
        "confirmed": ("booked", "accepted"), "checked_in": ("checked-in", "accepted"),
        "completed": ("fulfilled", "accepted"), "cancelled": ("cancelled", "declined"),
        "no_show": ("noshow", "accepted"),
    }  # fmt: skip
    for status, appointment in made.items():
        resource = await fhir.read(booking.client, f"{BASE}/Appointment/{appointment['id']}")
        patient = resource["participant"][0]
        assert (resource["status"], patient["status"]) == expected[status], status
        assert resource["status"] == APPOINTMENT_STATUS[status]
        assert patient["actor"]["reference"].endswith(f"/Patient/{appointment['patient_id']}")
    for code in sorted(set(APPOINTMENT_STATUS.values())):
        wanted = {a["id"] for s, a in made.items() if APPOINTMENT_STATUS[s] == code}
        assert await search_ids(booking, "Appointment", status=code) == wanted, code
    assert await search_ids(booking, "Appointment", status="arrived,proposed") == set()


async def test_an_appointment_reads_with_its_times_offsets_and_who(booking: Booking) -> None:
    patient_id = uuid.uuid4()
    await booking.apply(
        PatientRegistered(
            patient_id=patient_id, full_name="Léa Martin", phone="+33611223344",
            time_zone="Europe/Paris", language="fr", sms_consent=True, needle_sensitive=True,
        )
    )  # fmt: skip
    made = await book(booking, paris(1, 10), patient_id=patient_id, minutes=45, practitioner=1)
    resource = await fhir.read(booking.client, f"{BASE}/Appointment/{made['id']}")
    assert resource["start"] == "2026-01-06T10:00:00+01:00"
    assert resource["end"] == "2026-01-06T10:45:00+01:00"
    assert resource["minutesDuration"] == 45
    assert resource["meta"]["versionId"] == str(made["version"])
    assert resource["description"] == "Cellulite mesotherapy: session 1 of 1"
    patient, practitioner, room = resource["participant"]
    assert patient["actor"] == {
        "reference": f"{fhir_settings().plans_base_url}/Patient/{patient_id}",
        "display": "Léa Martin",
    }
    assert practitioner["actor"] == {
        "reference": f"Practitioner/{booking.practitioner_ids[1]}", "display": "Dr 1",
    }  # fmt: skip
    assert room["actor"] == {"reference": f"Location/{booking.room_ids[0]}", "display": "Room 0"}
    [plan] = resource["supportingInformation"]
    assert plan["reference"].startswith(f"{fhir_settings().plans_base_url}/CarePlan/")


async def test_searches_page_with_count_and_offset_to_every_match_once(booking: Booking) -> None:
    made = {(await book(booking, paris(1, 9 + hour)))["id"] for hour in range(5)}
    first = await fhir.search(booking.client, f"{BASE}/Appointment", _count=2)
    assert (first["total"], len(first["entry"])) == (5, 2)
    assert fhir.link(first, "previous") is None
    found = await fhir.every_page(booking.client, f"{BASE}/Appointment", _count=2)
    assert {r["id"] for r in found} == made
    assert [r["start"] for r in found] == sorted(r["start"] for r in found)
    last = await fhir.search(booking.client, f"{BASE}/Appointment", _count=2, _offset=4)
    assert len(last["entry"]) == 1
    assert fhir.link(last, "next") is None
    assert "_offset=2" in (fhir.link(last, "previous") or "")
    # _count=0: how many, without the entries; past the end, an empty page.
    counted = await fhir.search(booking.client, f"{BASE}/Appointment", _count=0)
    assert (counted["total"], counted.get("entry")) == (5, None)
    beyond = await fhir.search(booking.client, f"{BASE}/Appointment", _offset=50)
    assert (beyond["total"], beyond.get("entry")) == (5, None)
    # Slots page the same way.
    schedule = f"Schedule/practitioner-{booking.practitioner_ids[0]}"
    slots = await fhir.every_page(
        booking.client, f"{BASE}/Slot", schedule=schedule, start="2026-01-07", _count=10
    )
    assert len(slots) == 48  # 08:00 to 20:00, every 15 minutes


# -- Schedules and slots -----------------------------------------------------------------


async def test_one_schedule_per_practitioner_and_per_room(booking: Booking) -> None:
    found = await fhir.every_page(booking.client, f"{BASE}/Schedule")
    practitioners = {f"practitioner-{p}": f"Practitioner/{p}" for p in booking.practitioner_ids}
    rooms = {f"room-{r}": f"Location/{r}" for r in booking.room_ids}
    assert {s["id"]: s["actor"][0]["reference"] for s in found} == practitioners | rooms
    dr0, room1 = booking.practitioner_ids[0], booking.room_ids[1]
    assert await search_ids(booking, "Schedule", actor=f"Practitioner/{dr0}") == {
        f"practitioner-{dr0}"
    }
    assert await search_ids(booking, "Schedule", actor=room1) == {f"room-{room1}"}
    assert await search_ids(booking, "Schedule", _id=f"room-{room1}") == {f"room-{room1}"}
    schedule = await fhir.read(booking.client, f"{BASE}/Schedule/practitioner-{dr0}")
    assert schedule["planningHorizon"]["start"] == "2026-01-05T10:00:00+01:00"  # 2 h notice


async def test_slots_are_free_where_slot_search_offers_a_time(booking: Booking) -> None:
    dr0, dr1 = booking.practitioner_ids
    room0, room1 = booking.room_ids
    taken = await book(booking, paris(1, 10), practitioner=0, room=0)
    away = await booking.post(
        "/v1/time-off",
        {"resource_kind": "practitioner", "resource_id": dr1,
         "starts_at": paris(1, 14).isoformat(), "ends_at": paris(1, 16).isoformat()},
    )  # fmt: skip
    assert away.status_code == 201, away.text

    async def grid(schedule: str, **params: Any) -> dict[str, str]:
        found = await fhir.every_page(
            booking.client, f"{BASE}/Slot", schedule=f"Schedule/{schedule}",
            start="2026-01-06", **params,
        )  # fmt: skip
        return {slot["start"][11:16]: slot["status"] for slot in found}

    # The appointment 10:00-10:30 keeps 9:55 to 10:40 (buffers of 5 and 10 minutes).
    mine = await grid(f"practitioner-{dr0}")
    assert len(mine) == 48
    busy = {t for t, status in mine.items() if status == "busy"}
    assert busy == {"09:45", "10:00", "10:15", "10:30"}
    assert set(mine.values()) == {"free", "busy"}
    # Exactly the starts slot search offers Dr 0 for a session of one grid step.
    cycle = await booking.cycle(first=paris(1, 0).date(), slack_days=0, minutes=15)
    [request] = await booking.requests(cycle)
    offered = await booking.client.get(
        f"/v1/booking-requests/{request['id']}/slots",
        params={"practitioner_id": dr0, "limit": 500},
    )
    starts = {s["local_starts_at"][11:16] for s in offered.json()}
    assert starts == {t for t, status in mine.items() if status == "free"}
    # Time off is busy-unavailable; the room taken is busy too, the other room free.
    theirs = await grid(f"practitioner-{dr1}")
    unavailable = {t for t, status in theirs.items() if status == "busy-unavailable"}
    assert unavailable == {f"{h}:{m:02}" for h in (14, 15) for m in (0, 15, 30, 45)}
    assert {t for t, status in (await grid(f"room-{room0}")).items() if status == "busy"} == busy
    assert set((await grid(f"room-{room1}")).values()) == {"free"}
    # status and start narrow the search; a slot reads by its id.
    free = await fhir.every_page(
        booking.client, f"{BASE}/Slot", schedule=f"practitioner-{dr0}",
        start=["ge2026-01-06T09:30:00+01:00", "lt2026-01-06T11:00:00+01:00"], status="free",
    )  # fmt: skip
    assert [s["start"][11:16] for s in free] == ["09:30", "10:45"]
    slot = await fhir.read(booking.client, f"{BASE}/Slot/{free[0]['id']}")
    assert slot == free[0]
    assert slot["end"] == "2026-01-06T09:45:00+01:00"
    # Without a start: from now (Monday 8:00, 2 hours' notice) for 7 days.
    week = await fhir.search(booking.client, f"{BASE}/Slot", schedule=f"room-{room1}", _count=1)
    assert week["entry"][0]["resource"]["start"] == "2026-01-05T10:00:00+01:00"
    assert week["total"] == 40 + 6 * 48  # Monday from 10:00, then six whole days
    assert taken["status"] == "booked"


# -- References, auth and bad input ------------------------------------------------------


async def test_every_reference_of_an_appointment_and_a_slot_resolves(booking: Booking) -> None:
    made = await book(booking, paris(1, 10))
    resource = await fhir.read(booking.client, f"{BASE}/Appointment/{made['id']}")
    bases = fhir.Bases({"http://booking/fhir/R4": booking.client})
    local = [r for r in fhir.references(resource) if "://" not in r]
    assert {r.split("/")[0] for r in local} == {"Practitioner", "Location"}
    for reference in local:
        target = await bases.resolve(reference, base="http://booking/fhir/R4")
        for further in fhir.references(target):  # a room is part of its location
            await bases.resolve(further, base="http://booking/fhir/R4")
    [slot] = fhir.resources(
        await fhir.search(booking.client, f"{BASE}/Slot", start="2026-01-06T12:00:00Z", _count=1)
    )
    schedule = await bases.resolve(slot["schedule"]["reference"], base="http://booking/fhir/R4")
    for reference in fhir.references(schedule):
        await bases.resolve(reference, base="http://booking/fhir/R4")
    # (The Patient and CarePlan references point to plans: the next test follows them.)


@pytest.fixture
async def plans_database(database_server: str, run_id: str) -> AsyncIterator[str]:
    """plans' own database beside booking's (each service has its own)."""
    name = f"mc_test_{run_id}_{uuid.uuid4().hex[:6]}"
    url = (
        make_url(database_server)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
    await create_database_if_missing(url)
    yield url
    await drop_database(url)


async def test_an_appointment_s_patient_and_plan_resolve_on_plans_and_back(
    booking: Booking, plans_database: str, bootstrap_servers: str
) -> None:
    async with running(plans.service, plans_database, bootstrap_servers, start=START) as planner:
        patient = await new_patient(planner)
        plan = await active_plan(planner, patient, key="cellulite", start=paris(1, 0).date())
        # What booking learns from plans' events, as its consumer would apply them.
        for kind, payload in (
            ("patient_registered.v1", PatientRegistered), ("cycle_scheduled.v1", CycleScheduled),
        ):  # fmt: skip
            for event in await planner.events(kind):
                await booking.apply(payload.model_validate(event))
        first = (await booking.requests(plan["id"]))[0]
        made = await booking.post(
            "/v1/appointments",
            {"booking_request_id": first["id"], "practitioner_id": booking.practitioner_ids[0],
             "room_id": booking.room_ids[0], "starts_at": paris(1, 10).isoformat()},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        settings = fhir_settings()
        bases = fhir.Bases(
            {"http://booking/fhir/R4": booking.client, settings.booking_base_url: booking.client,
             "http://plans/fhir/R4": planner.client, settings.plans_base_url: planner.client}
        )  # fmt: skip
        appointment = await fhir.read(booking.client, f"{BASE}/Appointment/{made.json()['id']}")
        named = {}
        for reference in fhir.references(appointment):
            target = await bases.resolve(reference, base="http://booking/fhir/R4")
            named[target["resourceType"]] = target
        assert set(named) == {"Patient", "CarePlan", "Practitioner", "Location"}
        assert (named["Patient"]["id"], named["CarePlan"]["id"]) == (patient["id"], plan["id"])
        assert (
            named["Patient"]["name"][0]["text"] == appointment["participant"][0]["actor"]["display"]
        )
        # plans hears of the booking: the plan's first session is that appointment.
        [booked] = await booking.events("appointment_booked.v1")
        await planner.apply(AppointmentBooked.model_validate(booked))
        care_plan = await fhir.read(planner.client, f"{BASE}/CarePlan/{plan['id']}")
        activity = care_plan["activity"][0]
        assert activity["detail"]["status"] == "scheduled"
        [outcome] = activity["outcomeReference"]
        back = await bases.resolve(outcome["reference"], base="http://plans/fhir/R4")
        assert back["id"] == appointment["id"]
        for reference in fhir.references(care_plan):
            await bases.resolve(reference, base="http://plans/fhir/R4")


async def test_only_staff_read_and_practitioners_only_their_own(booking: Booking) -> None:
    mine = await book(booking, paris(1, 10), practitioner=0)
    theirs = await book(booking, paris(1, 11), practitioner=1)
    dr0 = booking.practitioner_ids[0]
    for path in (
        "Appointment", f"Appointment/{mine['id']}", "Slot", "Schedule",
        f"Schedule/practitioner-{dr0}", f"Practitioner/{dr0}", f"Location/{booking.location_id}",
    ):  # fmt: skip
        response = await booking.client.get(f"{BASE}/{path}", auth=None)
        fhir.outcome(response, 401, "Authorization: Bearer")
        assert response.headers["www-authenticate"] == "Bearer"
    headers = booking.headers(Role.PRACTITIONER, dr0)
    own = fhir.answer(await booking.client.get(f"{BASE}/Appointment", headers=headers))
    assert fhir.ids(own) == [mine["id"]]
    other = await booking.client.get(f"{BASE}/Appointment/{theirs['id']}", headers=headers)
    fhir.outcome(other, 403, "their own")
    asked = await booking.client.get(
        f"{BASE}/Appointment", params={"practitioner": booking.practitioner_ids[1]}, headers=headers
    )
    fhir.outcome(asked, 403)
    staff = booking.headers(Role.STAFF)
    both = fhir.answer(await booking.client.get(f"{BASE}/Appointment", headers=staff))
    assert set(fhir.ids(both)) == {mine["id"], theirs["id"]}


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("Appointment?date=2026-13-01", 400, "not a real date"),
        ("Appointment?date=tomorrow", 400, "not a FHIR date"),
        ("Appointment?date=ap2026-01-06", 400, "ap"),
        ("Appointment?date=2026-01-06T10:00:00%2B25:00", 400, "not a real"),
        ("Appointment?status=done", 400, "status='done'"),
        ("Appointment?patient=Practitioner/1", 400, "not a reference to a Patient"),
        ("Appointment?_sort=date", 400, "unknown search parameter '_sort'"),
        ("Appointment?patient:missing=true", 400, "modifier"),
        ("Appointment?_count=many", 400, "_count"),
        ("Appointment?_offset=-1", 400, "_offset"),
        ("Appointment?_format=xml", 406, "JSON"),
        (f"Appointment/{uuid.UUID(int=7)}", 404, "no Appointment"),
        ("Appointment/not-an-id", 404, "no Appointment"),
        ("Slot?start=ge2026-01-06&start=lt2026-03-01", 400, "31 days"),
        ("Slot?status=open", 400, "status='open'"),
        ("Slot?schedule=Patient/x", 400, "Schedule"),
        (f"Slot/practitioner-{uuid.UUID(int=7)}-202601061000", 404, "no Slot"),
        ("Slot/202601061000", 404, "no Slot"),
        (f"Schedule/practitioner-{uuid.UUID(int=7)}", 404, "no Schedule"),
        (f"Schedule/{uuid.UUID(int=7)}", 404, "no Schedule"),
        ("Schedule?actor=Patient/1", 400, "Practitioner or a Location"),
        (f"Practitioner/{uuid.UUID(int=7)}", 404, "no Practitioner"),
        (f"Location/{uuid.UUID(int=7)}", 404, "no Location"),
        ("Appointment/1/_history", 404, "nothing at Appointment/1/_history"),
        ("Patient/1", 404, "serves no 'Patient'"),
        ("Encounter?patient=1", 404, "serves no 'Encounter'"),
    ],
)
async def test_bad_input_answers_an_operation_outcome(
    booking: Booking, path: str, status: int, words: str
) -> None:
    fhir.outcome(await booking.client.get(f"{BASE}/{path}"), status, words)


async def test_a_write_is_a_405_naming_get(booking: Booking) -> None:
    for path in ("Appointment", f"Appointment/{uuid.UUID(int=7)}", "metadata", "Encounter"):
        response = await booking.client.post(f"{BASE}/{path}", json={})
        fhir.outcome(response, 405, "GET")
        assert response.headers["allow"] == "GET"
