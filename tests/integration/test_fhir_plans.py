"""plans' FHIR R4 read API through its real app, PostgreSQL and broker: Patient, CarePlan
and AllergyIntolerance, each answer checked against fhir.resources' R4B models; search
parameters, paging, statuses, references, staff auth and bad input as OperationOutcome."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from plans import app as plans
from plans.api.fhir_resources import PLAN_STATUS
from plans.domain.lifecycle import PlanStatus
from shared.contracts.booking import AppointmentBooked, AppointmentCompleted
from shared.fhir import fhir_settings
from tests.utils import fhir
from tests.utils.harness import running
from tests.utils.plans import NOW, PlansApp, active_plan, appointment, new_patient, protocol_id

BASE = "/fhir/R4"
TOMORROW = NOW.date() + timedelta(days=1)


@pytest.fixture
async def app(fresh_database: str, bootstrap_servers: str) -> AsyncIterator[PlansApp]:
    async with running(
        plans.service, fresh_database, bootstrap_servers, start=NOW,
        clinic_time_zone="Europe/Paris",
    ) as running_plans:  # fmt: skip
        yield running_plans


async def search_ids(app: PlansApp, kind: str, **params: Any) -> set[str]:
    found = await fhir.every_page(app.client, f"{BASE}/{kind}", **params)
    return {resource["id"] for resource in found}


async def draft_plan(app: PlansApp, patient: dict[str, Any]) -> dict[str, Any]:
    response = await app.client.post(
        "/v1/plans",
        json={"patient_id": patient["id"], "protocol_id": await protocol_id(app, "face-neck"),
              "areas": ["face"], "start_date": TOMORROW.isoformat()},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


# -- The CapabilityStatement -------------------------------------------------------------

SEARCHES = {
    "Patient": {"_id", "name", "phone", "telecom"},
    "CarePlan": {"_id", "patient", "status"},
    "AllergyIntolerance": {"_id", "patient"},
}


async def test_metadata_says_exactly_what_plans_serves(app: PlansApp) -> None:
    statement = fhir.answer(await app.client.get(f"{BASE}/metadata", auth=None))
    [rest] = statement["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == set(SEARCHES)
    for kind, resource in served.items():
        assert {i["code"] for i in resource["interaction"]} == {"read", "search-type"}
        assert {p["name"] for p in resource["searchParam"]} == SEARCHES[kind]
    # Every parameter it names is taken; one it does not is a 400.
    patient = await new_patient(app, allergies=["latex"])
    plan = await draft_plan(app, patient)
    [allergy] = fhir.resources(await fhir.search(app.client, f"{BASE}/AllergyIntolerance"))
    samples = {
        "Patient": {"_id": patient["id"], "name": "Léa", "phone": patient["phone"],
                    "telecom": f"phone|{patient['phone']}"},
        "CarePlan": {"_id": plan["id"], "patient": f"Patient/{patient['id']}", "status": "draft"},
        "AllergyIntolerance": {"_id": allergy["id"], "patient": patient["id"]},
    }  # fmt: skip
    for kind, names in SEARCHES.items():
        for name in names:
            params = {name: samples[kind][name]}
            assert await search_ids(app, kind, **params), (kind, name)
        fhir.outcome(
            await app.client.get(f"{BASE}/{kind}", params={"identifier": "x"}),
            400, "unknown search parameter 'identifier'",
        )  # fmt: skip


# -- Patients ----------------------------------------------------------------------------


async def test_patients_are_found_by_id_name_and_phone_and_read(app: PlansApp) -> None:
    lea = await new_patient(app, full_name="Léa Martin", phone="+33611223344", language="fr")
    paul = await new_patient(app, full_name="Paul Petitjean", phone="+33611223300")
    anne = await new_patient(app, full_name="Anne-Marie Petit", phone="+33611223301")
    every = {lea["id"], paul["id"], anne["id"]}

    assert await search_ids(app, "Patient") == every
    assert await search_ids(app, "Patient", _id=f"{lea['id']},{paul['id']}") == {
        lea["id"], paul["id"],
    }  # fmt: skip
    # A name starts a word of it, any case; :contains anywhere; :exact the whole name.
    assert await search_ids(app, "Patient", name="pet") == {paul["id"], anne["id"]}
    assert await search_ids(app, "Patient", name="MAR") == {lea["id"], anne["id"]}
    assert await search_ids(app, "Patient", name="artin") == set()
    assert await search_ids(app, "Patient", **{"name:contains": "artin"}) == {lea["id"]}
    assert await search_ids(app, "Patient", **{"name:exact": "Léa Martin"}) == {lea["id"]}
    assert await search_ids(app, "Patient", **{"name:exact": "léa martin"}) == set()
    assert await search_ids(app, "Patient", name="pet", phone="+33611223301") == {anne["id"]}
    # Phones: E.164 however written; telecom with its system.
    assert await search_ids(app, "Patient", phone="+33 6 11 22 33 44") == {lea["id"]}
    assert await search_ids(app, "Patient", telecom="phone|+33611223300") == {paul["id"]}
    assert await search_ids(app, "Patient", telecom="+33611223300,+33611223301") == {
        paul["id"], anne["id"],
    }  # fmt: skip
    assert await search_ids(app, "Patient", telecom="email|lea@example.org") == set()

    resource = await fhir.read(app.client, f"{BASE}/Patient/{lea['id']}")
    assert resource["name"] == [{"use": "usual", "text": "Léa Martin"}]
    assert resource["telecom"] == [{"system": "phone", "value": "+33611223344", "use": "mobile"}]
    assert resource["communication"][0]["language"]["coding"][0]["code"] == "fr"
    assert resource["meta"]["lastUpdated"] == lea["updated_at"].replace("Z", "+00:00")

    # Paging, by name: every patient once.
    found = await fhir.every_page(app.client, f"{BASE}/Patient", _count=1)
    assert [p["name"][0]["text"] for p in found] == sorted(
        ["Anne-Marie Petit", "Léa Martin", "Paul Petitjean"]
    )

    # An erased patient is Gone, and found no more.
    assert (await app.client.delete(f"/v1/patients/{paul['id']}")).status_code == 204
    gone = fhir.outcome(await app.client.get(f"{BASE}/Patient/{paul['id']}"), 410, "erased")
    assert gone["issue"][0]["code"] == "deleted"
    assert await search_ids(app, "Patient") == {lea["id"], anne["id"]}


# -- Care plans --------------------------------------------------------------------------


async def test_care_plans_map_each_status_and_their_sessions(app: PlansApp) -> None:
    draft = await draft_plan(app, await new_patient(app))
    active = await active_plan(app, await new_patient(app))
    paused = await active_plan(app, await new_patient(app))
    assert (await app.client.post(f"/v1/plans/{paused['id']}/pause")).status_code == 200
    cancelled = await active_plan(app, await new_patient(app))
    response = await app.client.post(
        f"/v1/plans/{cancelled['id']}/cancel", json={"reason": "moved away"}
    )
    assert response.status_code == 200, response.text
    completed = await active_plan(app, await new_patient(app))
    last = len(completed["sessions"])
    at = datetime.fromisoformat(f"{completed['sessions'][-1]['target_date']}T10:00:00+01:00")
    await app.apply(AppointmentCompleted.model_validate(appointment(completed, last, at)))
    plans_by_status = {
        PlanStatus.DRAFT: draft, PlanStatus.ACTIVE: active, PlanStatus.PAUSED: paused,
        PlanStatus.CANCELLED: cancelled, PlanStatus.COMPLETED: completed,
    }  # fmt: skip
    assert set(plans_by_status) == set(PlanStatus)
    for status, plan in plans_by_status.items():
        resource = await fhir.read(app.client, f"{BASE}/CarePlan/{plan['id']}")
        assert resource["status"] == PLAN_STATUS[status]
        assert await search_ids(app, "CarePlan", status=PLAN_STATUS[status]) == {plan["id"]}
    expected = {"draft": "draft", "active": "active", "paused": "on-hold",
                "cancelled": "revoked", "completed": "completed"}  # fmt: skip
    assert {s.value: PLAN_STATUS[s] for s in PlanStatus} == expected
    assert await search_ids(app, "CarePlan", status="active,on-hold") == {
        active["id"], paused["id"],
    }  # fmt: skip
    assert await search_ids(app, "CarePlan", status="unknown") == set()

    # The sessions are its activities: not started, on hold when paused, cancelled when the
    # plan is, and the last done completes the plan, the others skipped (cancelled).
    def statuses(resource: dict[str, Any]) -> list[str]:
        return [a["detail"]["status"] for a in resource.get("activity", [])]

    read = {s: await fhir.read(app.client, f"{BASE}/CarePlan/{p['id']}")
            for s, p in plans_by_status.items()}  # fmt: skip
    assert "activity" not in read[PlanStatus.DRAFT]
    assert set(statuses(read[PlanStatus.ACTIVE])) == {"not-started"}
    assert set(statuses(read[PlanStatus.PAUSED])) == {"on-hold"}
    assert set(statuses(read[PlanStatus.CANCELLED])) == {"cancelled"}
    assert statuses(read[PlanStatus.COMPLETED]) == ["cancelled"] * (last - 1) + ["completed"]
    assert read[PlanStatus.CANCELLED]["note"] == [{"text": "cancelled: moved away"}]
    plan = read[PlanStatus.ACTIVE]
    first = plan["activity"][0]["detail"]
    session = active["sessions"][0]
    assert first["description"] == f"Session 1 of {len(active['sessions'])}"
    assert first["scheduledPeriod"] == {
        "start": session["earliest_date"], "end": session["latest_date"],
    }  # fmt: skip
    assert plan["period"]["start"] == TOMORROW.isoformat()
    assert plan["title"] == active["protocol"]["name"]


async def test_care_plans_are_found_by_patient_and_paged(app: PlansApp) -> None:
    lea, paul = await new_patient(app), await new_patient(app, full_name="Paul Petit")
    leas = {(await active_plan(app, lea))["id"], (await draft_plan(app, lea))["id"]}
    pauls = {(await draft_plan(app, paul))["id"]}
    assert await search_ids(app, "CarePlan", patient=f"Patient/{lea['id']}") == leas
    assert await search_ids(app, "CarePlan", patient=paul["id"]) == pauls
    url = f"{fhir_settings().plans_base_url}/Patient/{paul['id']}"
    assert await search_ids(app, "CarePlan", patient=url) == pauls
    assert await search_ids(app, "CarePlan", patient=f"{lea['id']},{paul['id']}") == leas | pauls
    assert await search_ids(app, "CarePlan", patient=lea["id"], status="draft") == (
        leas - {p for p in leas if p in await search_ids(app, "CarePlan", status="active")}
    )
    some = next(iter(leas))
    assert await search_ids(app, "CarePlan", _id=some) == {some}
    found = await fhir.every_page(app.client, f"{BASE}/CarePlan", _count=2)
    assert {p["id"] for p in found} == leas | pauls


async def test_a_care_plan_s_references_resolve_and_name_its_appointments(app: PlansApp) -> None:
    patient = await new_patient(app)
    plan = await active_plan(app, patient)
    appointment_id = uuid.uuid4()
    at = datetime.fromisoformat(f"{plan['sessions'][0]['target_date']}T10:00:00+01:00")
    booked = appointment(plan, 1, at, appointment_id=appointment_id)
    await app.apply(AppointmentBooked.model_validate(booked))
    resource = await fhir.read(app.client, f"{BASE}/CarePlan/{plan['id']}")
    first = resource["activity"][0]
    assert first["detail"]["status"] == "scheduled"
    booking_base = fhir_settings().booking_base_url
    assert first["outcomeReference"] == [
        {"reference": f"{booking_base}/Appointment/{appointment_id}"}
    ]
    # Its own references resolve here (booking's: test_fhir_booking follows them there).
    bases = fhir.Bases({"http://plans/fhir/R4": app.client})
    local = [r for r in fhir.references(resource) if not r.startswith(booking_base)]
    assert local == [f"Patient/{patient['id']}"]
    subject = await bases.resolve(local[0], base="http://plans/fhir/R4")
    assert resource["subject"]["display"] == subject["name"][0]["text"]


# -- Allergies ---------------------------------------------------------------------------


async def test_each_allergy_on_record_is_an_allergy_intolerance(app: PlansApp) -> None:
    lea = await new_patient(
        app, allergies=["Lidocaine", "latex", "LIDOCAINE "], allergy_notes="hives in 2019"
    )
    paul = await new_patient(app, full_name="Paul Petit", allergies=["iodine"])
    none = await new_patient(app, full_name="Zoé Garnier")
    found = await fhir.every_page(app.client, f"{BASE}/AllergyIntolerance", patient=lea["id"])
    assert sorted(a["code"]["text"] for a in found) == ["Lidocaine", "latex"]
    for allergy in found:
        assert allergy["patient"]["reference"] == f"Patient/{lea['id']}"
        assert allergy["note"] == [{"text": "hives in 2019"}]
        assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
        read = await fhir.read(app.client, f"{BASE}/AllergyIntolerance/{allergy['id']}")
        assert read == allergy
        bases = fhir.Bases({"http://plans/fhir/R4": app.client})
        await bases.resolve(allergy["patient"]["reference"], base="http://plans/fhir/R4")
    everyone = await fhir.every_page(app.client, f"{BASE}/AllergyIntolerance", _count=1)
    assert len(everyone) == 3
    assert await search_ids(app, "AllergyIntolerance", patient=none["id"]) == set()
    [iodine] = await search_ids(app, "AllergyIntolerance", patient=f"Patient/{paul['id']}")
    assert await search_ids(app, "AllergyIntolerance", _id=iodine) == {iodine}
    assert await search_ids(app, "AllergyIntolerance", _id=iodine, patient=lea["id"]) == set()
    # The record changes: so do its allergies; an erased patient has none.
    response = await app.client.patch(f"/v1/patients/{lea['id']}", json={"allergies": ["latex"]})
    assert response.status_code == 200, response.text
    [latex] = await search_ids(app, "AllergyIntolerance", patient=lea["id"])
    assert latex in {a["id"] for a in found}
    assert (await app.client.delete(f"/v1/patients/{paul['id']}")).status_code == 204
    fhir.outcome(await app.client.get(f"{BASE}/AllergyIntolerance/{iodine}"), 404)


# -- Auth and bad input ------------------------------------------------------------------


async def test_only_staff_read(app: PlansApp) -> None:
    patient = await new_patient(app, allergies=["latex"])
    plan = await draft_plan(app, patient)
    for path in (
        "Patient", f"Patient/{patient['id']}", "CarePlan", f"CarePlan/{plan['id']}",
        "AllergyIntolerance", f"AllergyIntolerance/{patient['id']}-0000000000000000",
    ):  # fmt: skip
        response = await app.client.get(f"{BASE}/{path}", auth=None)
        fhir.outcome(response, 401, "Authorization: Bearer")
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("Patient?birthdate=2000-01-01", 400, "unknown search parameter 'birthdate'"),
        ("Patient?name:missing=true", 400, "modifier"),
        ("Patient?name=%00", 400, "NUL"),
        ("Patient?phone=phone|%2B33611223344", 400, "number alone"),
        ("Patient?_count=-5", 400, "_count"),
        ("Patient?_format=xml", 406, "JSON"),
        (f"Patient/{uuid.UUID(int=7)}", 404, "no Patient"),
        ("Patient/lea", 404, "no Patient"),
        ("CarePlan?status=finished", 400, "status='finished'"),
        ("CarePlan?patient=Practitioner/1", 400, "not a reference to a Patient"),
        (f"CarePlan/{uuid.UUID(int=7)}", 404, "no CarePlan"),
        (f"AllergyIntolerance/{uuid.UUID(int=7)}-0000000000000000", 404, "no AllergyIntolerance"),
        ("AllergyIntolerance/latex", 404, "no AllergyIntolerance"),
        ("AllergyIntolerance?patient=Group/1", 400, "not a reference to a Patient"),
        ("Appointment", 404, "serves no 'Appointment'"),
    ],
)
async def test_bad_input_answers_an_operation_outcome(
    app: PlansApp, path: str, status: int, words: str
) -> None:
    fhir.outcome(await app.client.get(f"{BASE}/{path}"), status, words)


async def test_a_write_is_a_405_naming_get(app: PlansApp) -> None:
    for path in ("Patient", f"Patient/{uuid.UUID(int=7)}", "metadata", "Observation"):
        response = await app.client.put(f"{BASE}/{path}", json={})
        fhir.outcome(response, 405, "GET")
        assert response.headers["allow"] == "GET"
