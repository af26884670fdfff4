"""Patients: register, search, read, update, erase (staff JWT)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from plans.adapters.db import idempotency_keys
from plans.api.deps import PageDep, RuntimeDep, SessionDep, paged
from plans.api.schemas import PatientIn, PatientOut, PatientPatch
from plans.use_cases import patients
from plans.use_cases.patients import PatientFilter
from shared.api import AdminDep, DeskDep, StaffDep
from shared.idempotency import IdempotentDep
from shared.problems import problems

router = APIRouter(prefix="/v1/patients", tags=["patients"])


@router.post("", status_code=201, response_model=PatientOut)
async def register_patient(
    body: PatientIn,
    runtime: RuntimeDep,
    user: DeskDep,
    once: IdempotentDep,
) -> Any:
    """Register a patient; booking and notify learn of them through an event."""

    async def create() -> PatientOut:
        patient = await patients.register_patient(session, patient=body, now=runtime.clock.now())
        return PatientOut.model_validate(patient)

    async with runtime.sessions.begin() as session:
        return await once.create(
            session, idempotency_keys, scope=f"patients:{user.subject}", create=create,
        )  # fmt: skip


@router.get("")
async def search_patients(
    session: SessionDep,
    _: StaffDep,
    page: PageDep,
    response: Response,
    q: Annotated[str | None, Query(max_length=100, description="part of name or phone")] = None,
    needle_sensitive: bool | None = None,
    sms_consent: bool | None = None,
) -> list[PatientOut]:
    """Patients by name, filtered; ``X-Total-Count`` says how many match in all."""
    where = PatientFilter(q=q, needle_sensitive=needle_sensitive, sms_consent=sms_consent)
    found = await patients.search_patients(session, where=where, page=page)
    paged(response, found.total)
    return [PatientOut.model_validate(p) for p in found.items]


@router.get("/{patient_id}", responses=problems(410))
async def get_patient(patient_id: uuid.UUID, session: SessionDep, _: StaffDep) -> PatientOut:
    patient = await patients.get_patient(session, patient_id=patient_id)
    return PatientOut.model_validate(patient)


@router.patch("/{patient_id}", responses=problems(410))
async def update_patient(
    patient_id: uuid.UUID, body: PatientPatch, runtime: RuntimeDep, _: DeskDep
) -> PatientOut:
    """Change what is sent; contact changes reach booking and notify."""
    async with runtime.sessions.begin() as session:
        patient = await patients.update_patient(
            session, patient_id=patient_id, changes=body, now=runtime.clock.now()
        )
    return PatientOut.model_validate(patient)


@router.delete("/{patient_id}", status_code=204, responses=problems(410))
async def erase_patient(patient_id: uuid.UUID, runtime: RuntimeDep, _: AdminDep) -> None:
    """Erase the patient at their request: plans are cancelled, contact data dropped everywhere."""
    async with runtime.sessions.begin() as session:
        await patients.erase_patient(session, patient_id=patient_id, now=runtime.clock.now())
