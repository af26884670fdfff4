"""Plans: drafts, the safety acknowledgement, the lifecycle, progress, the worklist."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from plans.adapters.db import idempotency_keys
from plans.api.deps import PageDep, RuntimeDep, SessionDep, paged
from plans.api.schemas import (
    AcknowledgementIn,
    CancelIn,
    PlanIn,
    PlanOut,
    PlanPatch,
    ProgressOut,
    ResumeIn,
    WorklistItemOut,
)
from plans.domain.lifecycle import PlanStatus
from plans.settings import PlansSettings
from plans.use_cases import plans, views
from plans.use_cases.common import clinic_today, get_plan
from plans.use_cases.plans import PlanFilter
from plans.use_cases.views import WorklistFilter
from shared.api import DeskDep, StaffDep
from shared.idempotency import IdempotentDep
from shared.problems import problems
from shared.service import Runtime

router = APIRouter(prefix="/v1", tags=["plans"])


async def _answer(runtime: Runtime[PlansSettings], plan_id: uuid.UUID) -> PlanOut:
    """The plan as committed, read afresh."""
    async with runtime.sessions() as session:
        return PlanOut.of(await get_plan(session, plan_id=plan_id))


@router.post("/plans", status_code=201, response_model=PlanOut, responses=problems(410))
async def create_plan(
    body: PlanIn,
    runtime: RuntimeDep,
    user: DeskDep,
    once: IdempotentDep,
) -> Any:
    """A draft plan: a patient, a protocol, the area(s) and a start date."""
    time_zone = runtime.settings.clinic_time_zone

    async def create() -> PlanOut:
        plan = await plans.create_plan(
            session, plan=body, time_zone=time_zone, now=runtime.clock.now()
        )
        return PlanOut.of(plan)

    async with runtime.sessions.begin() as session:
        return await once.create(
            session, idempotency_keys, scope=f"plans:{user.subject}", create=create,
        )  # fmt: skip


@router.get("/plans")
async def list_plans(
    session: SessionDep,
    _: StaffDep,
    page: PageDep,
    response: Response,
    patient_id: uuid.UUID | None = None,
    status: Annotated[list[PlanStatus] | None, Query()] = None,
    protocol_key: Annotated[str | None, Query(max_length=63)] = None,
    preferred_practitioner_id: uuid.UUID | None = None,
) -> list[PlanOut]:
    """Plans, newest first; ``status`` may repeat. ``X-Total-Count`` says how many match."""
    where = PlanFilter(
        patient_id=patient_id,
        status=tuple(status or ()),
        protocol_key=protocol_key,
        preferred_practitioner_id=preferred_practitioner_id,
    )
    found = await plans.list_plans(session, where=where, page=page)
    paged(response, found.total)
    return [PlanOut.of(p) for p in found.items]


@router.get("/plans/{plan_id}")
async def get_plan_by_id(plan_id: uuid.UUID, runtime: RuntimeDep, _: StaffDep) -> PlanOut:
    return await _answer(runtime, plan_id)


@router.patch("/plans/{plan_id}")
async def change_plan(
    plan_id: uuid.UUID, body: PlanPatch, runtime: RuntimeDep, _: DeskDep
) -> PlanOut:
    """Change a draft plan."""
    async with runtime.sessions.begin() as session:
        await plans.change_plan(session, plan_id=plan_id, changes=body, now=runtime.clock.now())
    return await _answer(runtime, plan_id)


@router.delete("/plans/{plan_id}", status_code=204)
async def delete_plan(plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep) -> None:
    """Delete a draft plan (an activated plan is cancelled instead)."""
    async with runtime.sessions.begin() as session:
        await plans.delete_plan(session, plan_id=plan_id)


@router.post("/plans/{plan_id}/acknowledgement")
async def acknowledge_safety(
    plan_id: uuid.UUID, body: AcknowledgementIn, runtime: RuntimeDep, user: StaffDep
) -> PlanOut:
    """Acknowledge the patient's allergies and medications, exactly as recorded."""
    async with runtime.sessions.begin() as session:
        await plans.acknowledge_safety(
            session, plan_id=plan_id, acknowledgement=body, by=user.subject, now=runtime.clock.now()
        )
    return await _answer(runtime, plan_id)


@router.post("/plans/{plan_id}/activate")
async def activate_plan(plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep) -> PlanOut:
    """Schedule the cycle: every session gets its window, and booking opens requests."""
    async with runtime.sessions.begin() as session:
        await plans.activate_plan(session, plan_id=plan_id, now=runtime.clock.now())
    return await _answer(runtime, plan_id)


@router.post("/plans/{plan_id}/pause")
async def pause_plan(plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep) -> PlanOut:
    """Withdraw the open sessions until the plan resumes."""
    async with runtime.sessions.begin() as session:
        await plans.pause_plan(session, plan_id=plan_id, now=runtime.clock.now())
    return await _answer(runtime, plan_id)


@router.post("/plans/{plan_id}/resume")
async def resume_plan(
    plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep, body: ResumeIn | None = None
) -> PlanOut:
    """Re-plan the withdrawn sessions from the resume date and reopen them."""
    async with runtime.sessions.begin() as session:
        await plans.resume_plan(
            session,
            plan_id=plan_id,
            resume_on=body.resume_on if body else None,
            now=runtime.clock.now(),
        )
    return await _answer(runtime, plan_id)


@router.post("/plans/{plan_id}/cancel")
async def cancel_plan(
    plan_id: uuid.UUID, runtime: RuntimeDep, _: DeskDep, body: CancelIn | None = None
) -> PlanOut:
    """End the plan: booking cancels its open requests and future appointments."""
    async with runtime.sessions.begin() as session:
        await plans.cancel_plan(
            session, plan_id=plan_id, reason=body.reason if body else None, now=runtime.clock.now()
        )
    return await _answer(runtime, plan_id)


@router.get("/plans/{plan_id}/progress")
async def plan_progress(
    plan_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _: StaffDep
) -> ProgressOut:
    """Sessions done, booked, open, missed and overdue, and the next window."""
    today = clinic_today(runtime.clock.now(), runtime.settings.clinic_time_zone)
    plan, progress = await views.plan_progress(session, plan_id=plan_id, today=today)
    return ProgressOut.of(plan, progress)


@router.get("/worklist", tags=["worklist"])
async def worklist(
    session: SessionDep,
    runtime: RuntimeDep,
    _: StaffDep,
    page: PageDep,
    response: Response,
    within_days: Annotated[int, Query(ge=0, le=365)] = 7,
    include_overdue: bool = True,
    preferred_practitioner_id: uuid.UUID | None = None,
    protocol_key: Annotated[str | None, Query(max_length=63)] = None,
) -> list[WorklistItemOut]:
    """Open sessions of active plans whose window closes within ``within_days``, soonest first."""
    today = clinic_today(runtime.clock.now(), runtime.settings.clinic_time_zone)
    where = WorklistFilter(
        within_days=within_days,
        include_overdue=include_overdue,
        preferred_practitioner_id=preferred_practitioner_id,
        protocol_key=protocol_key,
    )
    found = await views.worklist(session, where=where, today=today, page=page)
    paged(response, found.total)
    return [WorklistItemOut.of(plan, planned, today=today) for plan, planned in found.items]
