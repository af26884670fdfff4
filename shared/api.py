"""FastAPI dependencies every service's routers use, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Role, StaffUser, staff_dependency
from shared.clock import Clock
from shared.service import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_clock(request: Request) -> Clock:
    return get_runtime(request).clock


def _jwt_secret(request: Request) -> str:
    return get_runtime(request).settings.jwt_secret.get_secret_value()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ClockDep = Annotated[Clock, Depends(get_clock)]
#: Any signed-in staff member (admin, staff or practitioner).
StaffDep = Annotated[StaffUser, Depends(staff_dependency(_jwt_secret))]
#: Front-desk staff and admins: not practitioners.
DeskDep = Annotated[StaffUser, Depends(staff_dependency(_jwt_secret, Role.ADMIN, Role.STAFF))]
AdminDep = Annotated[StaffUser, Depends(staff_dependency(_jwt_secret, Role.ADMIN))]
