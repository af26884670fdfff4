from __future__ import annotations

import uuid

from fastapi import APIRouter

from plans import use_cases
from plans.schemas import PlanIn, PlanOut, ProtocolOut
from plans.settings import PlansSettings
from shared.api import DeskDep, RuntimeDep, StaffDep

router = APIRouter(prefix="/v1", tags=["plans"])


@router.get("/protocols")
async def list_protocols(runtime: RuntimeDep, _: StaffDep) -> list[ProtocolOut]:
    async with runtime.sessions() as session:
        protocols = await use_cases.list_protocols(session)
    return [ProtocolOut.model_validate(p) for p in protocols]


@router.post("/plans", status_code=201)
async def create_plan(body: PlanIn, runtime: RuntimeDep, _: DeskDep) -> PlanOut:
    """A draft plan: a patient, a protocol, the area(s) and a start date."""
    settings = runtime.settings
    assert isinstance(settings, PlansSettings)
    async with runtime.sessions.begin() as session:
        plan = await use_cases.create_plan(
            session, plan=body, time_zone=settings.clinic_time_zone, now=runtime.clock.now()
        )
    return PlanOut.model_validate(plan)


@router.get("/plans/{plan_id}")
async def get_plan(plan_id: uuid.UUID, runtime: RuntimeDep, _: StaffDep) -> PlanOut:
    async with runtime.sessions() as session:
        plan = await use_cases.get_plan(session, plan_id=plan_id)
    return PlanOut.model_validate(plan)


@router.post("/plans/{plan_id}/activate")
async def activate_plan(plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep) -> PlanOut:
    """Schedule the cycle: every session gets its window, and booking opens requests."""
    async with runtime.sessions.begin() as session:
        await use_cases.activate_plan(session, plan_id=plan_id, now=runtime.clock.now())
    async with runtime.sessions() as session:
        plan = await use_cases.get_plan(session, plan_id=plan_id)
    return PlanOut.model_validate(plan)
