from __future__ import annotations

import uuid

from fastapi import APIRouter

from plans import use_cases
from plans.schemas import PatientIn, PatientOut
from shared.api import DeskDep, RuntimeDep, StaffDep

router = APIRouter(prefix="/v1/patients", tags=["patients"])


@router.post("", status_code=201)
async def register_patient(body: PatientIn, runtime: RuntimeDep, _: DeskDep) -> PatientOut:
    """Register a patient; booking and notify learn of them through an event."""
    async with runtime.sessions.begin() as session:
        patient = await use_cases.register_patient(session, patient=body, now=runtime.clock.now())
    return PatientOut.model_validate(patient)


@router.get("/{patient_id}")
async def get_patient(patient_id: uuid.UUID, runtime: RuntimeDep, _: StaffDep) -> PatientOut:
    async with runtime.sessions() as session:
        patient = await use_cases.get_patient(session, patient_id=patient_id)
    return PatientOut.model_validate(patient)
