"""What the booking routers share: the runtime, settings and a session, typed for
booking; the booking path's one dependency; the caller's name for events; a
practitioner's own schedule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from booking.settings import BookingSettings
from shared.api import SessionDep, desk_staff, get_runtime, get_settings
from shared.auth import StaffUser
from shared.idempotency import IdempotencyKeyHeader, Idempotent, idempotent
from shared.problems import Problem, may_answer
from shared.service import Runtime

__all__ = [
    "DeskCreateDep",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "own_practitioner",
    "staff_name",
]

RuntimeDep = Annotated[Runtime[BookingSettings], Depends(get_runtime)]
SettingsDep = Annotated[BookingSettings, Depends(get_settings)]


@dataclass(frozen=True)
class DeskCreate:
    """What a front-desk create needs: the runtime, the staff member (admin or staff) and
    the request's ``Idempotency-Key``."""

    runtime: Runtime[BookingSettings]
    user: StaffUser
    once: Idempotent


@may_answer(401, 403, 503, security="staffToken")
async def desk_create(request: Request, key: IdempotencyKeyHeader = None) -> DeskCreate:
    """RuntimeDep, DeskDep and IdempotentDep in one dependency, for the booking path
    (POST /v1/appointments): the work FastAPI does for each dependency it solves was a
    share of a reservation's CPU worth saving (docs/performance.md). The operation's
    document is the same."""
    runtime: Runtime[BookingSettings] = request.app.state.runtime
    return DeskCreate(runtime, await desk_staff(request), await idempotent(request, key))


DeskCreateDep = Annotated[DeskCreate, Depends(desk_create)]


def staff_name(user: StaffUser) -> str:
    """Who made a change, as events record it (a role, never a person's name)."""
    return f"staff:{user.role.value}"


def own_practitioner(user: StaffUser, asked: uuid.UUID | None) -> uuid.UUID:
    """A practitioner sees only their own schedule: the id their token carries."""
    if not user.practitioner_id:
        raise Problem(403, "Forbidden", "this practitioner token names no practitioner_id")
    try:
        mine = uuid.UUID(user.practitioner_id)
    except ValueError:
        raise Problem(403, "Forbidden", "this token's practitioner_id is not an id") from None
    if asked is not None and asked != mine:
        raise Problem(403, "Forbidden", "practitioners see only their own schedule")
    return mine
