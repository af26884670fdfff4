"""What the booking routers share: the runtime, settings and a session, typed for
booking; the caller's name for events; a practitioner's own schedule."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from booking.settings import BookingSettings
from shared.api import SessionDep, get_runtime, get_settings
from shared.auth import StaffUser
from shared.problems import Problem
from shared.service import Runtime

__all__ = ["RuntimeDep", "SessionDep", "SettingsDep", "own_practitioner", "staff_name"]

RuntimeDep = Annotated[Runtime[BookingSettings], Depends(get_runtime)]
SettingsDep = Annotated[BookingSettings, Depends(get_settings)]


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
