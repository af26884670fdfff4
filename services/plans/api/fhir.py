"""plans' FHIR R4 read API (docs/fhir.md): Patient, CarePlan, AllergyIntolerance and the
CapabilityStatement, for staff, answering application/fhir+json."""

from __future__ import annotations

import re

from fastapi import Request, Response

from plans.adapters.db import Patient, Plan
from plans.adapters.fhir_queries import (
    NameMatch,
    PatientFilter,
    PlanFilter,
    patients_with_allergies,
    search_patients,
    search_plans,
)
from plans.api import fhir_resources as fhir
from plans.api.deps import RuntimeDep, SessionDep
from plans.use_cases.common import Page
from shared.api import StaffDep
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
    Search,
    SearchParam,
    Served,
    all_of,
    as_uuids,
    codes,
    reference_ids,
)

router = fhir_router()

_ID = SearchParam("_id", "token", "the resource's id")
_PATIENT = SearchParam("patient", "reference", "Patient/<id>")
PATIENT = Served(
    "Patient",
    params=(
        _ID,
        SearchParam(
            "name", "string", "starts a word of the name, any case (:exact, :contains)",
            modifiers=frozenset({"exact", "contains"}),
        ),
        SearchParam("phone", "token", "the phone number, E.164 (+33612345678)"),
        SearchParam("telecom", "token", "phone|<number> or <number>"),
    ),
    documentation="Patients on record; an erased one reads 410 Gone and is never found.",
)  # fmt: skip
CARE_PLAN = Served(
    "CarePlan",
    params=(
        _ID,
        _PATIENT,
        SearchParam("status", "token", "draft, active, on-hold, completed or revoked"),
    ),
    documentation="A plan: its sessions are its activities, each with its appointment.",
)
ALLERGY = Served(
    "AllergyIntolerance",
    params=(_ID, _PATIENT),
    documentation="Each allergy recorded on a patient, with the record's allergy notes.",
)
SERVED = (PATIENT, CARE_PLAN, ALLERGY)


@router.get("/metadata")
async def metadata(request: Request, runtime: RuntimeDep) -> Response:
    """The CapabilityStatement: what this base serves (no token needed)."""
    return capability_statement(
        request, name="MesocyclePlans", title="mesocycle plans",
        served=SERVED, now=runtime.clock.now(),
    )  # fmt: skip


def _phones(lists: list[list[str]], *, with_system: bool) -> list[list[str]]:
    """E.164 numbers of ``phone`` (or ``telecom``, ``system|value``) values."""
    numbers = []
    for values in lists:
        anyof = []
        for value in values:
            system, bar, number = value.rpartition("|")
            if bar and not with_system:
                raise invalid(f"phone={value!r}: give the number alone")
            if bar and system not in ("", "phone"):
                continue  # another kind of contact: patients here have phones only
            anyof.append("+" + re.sub(r"\D", "", number))
        numbers.append(anyof)
    return numbers


@router.get("/Patient")
async def search_patient(request: Request, session: SessionDep, _: StaffDep) -> Response:
    search = PATIENT.parse(request)
    where = PatientFilter(
        ids=all_of(as_uuids(values) for values in search.values("_id")),
        names=[[NameMatch(v, c.modifier) for v in c.values] for c in search["name"]],
        phones=all_of(
            [
                *_phones(search.values("phone"), with_system=False),
                *_phones(search.values("telecom"), with_system=True),
            ]
        ),
    )
    found = await search_patients(session, where=where, page=_page(search.count, search.offset))
    resources = [fhir.patient(p) for p in found.items]
    return searchset(request, PATIENT, search, found.total, resources)


def _page(count: int, offset: int) -> Page:
    return Page(limit=count, offset=offset)


@router.get("/Patient/{id}")
async def read_patient(id: str, session: SessionDep, _: StaffDep) -> Response:
    ids = as_uuids([id])
    record = await session.get(Patient, ids[0]) if ids else None
    if record is None:
        raise Refused(404, f"no Patient {id}")
    if record.erased_at is not None:
        raise Refused(410, f"Patient {id} was erased at their request")
    return FhirResponse(fhir.patient(record))


def _plan_statuses(search: Search) -> list[str] | None:
    lists = codes(search, "status", fhir.FHIR_PLAN_STATUSES)
    return all_of([s for code in values for s in fhir.statuses_for(code)] for values in lists)


def _patients(search_values: list[list[str]]) -> list[list[str]]:
    return [reference_ids(values, "Patient") for values in search_values]


@router.get("/CarePlan")
async def search_care_plans(request: Request, session: SessionDep, _: StaffDep) -> Response:
    search = CARE_PLAN.parse(request)
    where = PlanFilter(
        ids=all_of(as_uuids(values) for values in search.values("_id")),
        patient_ids=all_of(as_uuids(ids) for ids in _patients(search.values("patient"))),
        statuses=_plan_statuses(search),
    )
    found = await search_plans(session, where=where, page=_page(search.count, search.offset))
    booking = fhir_settings().booking_base_url
    resources = [fhir.care_plan(plan, booking_base=booking) for plan in found.items]
    return searchset(request, CARE_PLAN, search, found.total, resources)


@router.get("/CarePlan/{id}")
async def read_care_plan(id: str, session: SessionDep, _: StaffDep) -> Response:
    ids = as_uuids([id])
    plan = await session.get(Plan, ids[0]) if ids else None
    if plan is None:
        raise Refused(404, f"no CarePlan {id}")
    return FhirResponse(fhir.care_plan(plan, booking_base=fhir_settings().booking_base_url))


@router.get("/AllergyIntolerance")
async def search_allergies(request: Request, session: SessionDep, _: StaffDep) -> Response:
    search = ALLERGY.parse(request)
    ids = all_of(search.values("_id"))
    patient_ids = all_of(as_uuids(ids) for ids in _patients(search.values("patient")))
    if ids is not None:  # an allergy's id names its patient
        named = [p for p in (fhir.patient_of_allergy(i) for i in ids) if p is not None]
        patient_ids = named if patient_ids is None else [p for p in patient_ids if p in named]
    allergies = [
        allergy
        for record in await patients_with_allergies(session, ids=patient_ids)
        for allergy in fhir.allergies(record)
        if ids is None or allergy["id"] in ids
    ]
    page = allergies[search.offset : search.offset + search.count]
    return searchset(request, ALLERGY, search, len(allergies), page)


@router.get("/AllergyIntolerance/{id}")
async def read_allergy(id: str, session: SessionDep, _: StaffDep) -> Response:
    patient_id = fhir.patient_of_allergy(id)
    found = await patients_with_allergies(session, ids=[patient_id]) if patient_id else []
    allergy = next((a for p in found for a in fhir.allergies(p) if a["id"] == id), None)
    if allergy is None:
        raise Refused(404, f"no AllergyIntolerance {id}")
    return FhirResponse(allergy)


add_fallback(router, SERVED)
