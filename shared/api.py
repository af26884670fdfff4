"""FastAPI dependencies every service's routers use, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from shared.auth import Role, StaffUser, staff_dependency
from shared.service import Runtime


# async: a plain def dependency costs a thread-pool hop on every request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def jwt_secret(request: Request) -> str:
    """The secret staff tokens are signed with, for `staff_dependency`."""
    runtime: Runtime = request.app.state.runtime
    return runtime.settings.jwt_secret.get_secret_value()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
#: Any signed-in staff member (admin, staff or practitioner).
StaffDep = Annotated[StaffUser, Depends(staff_dependency(jwt_secret))]
#: Front-desk staff and admins: not practitioners.
DeskDep = Annotated[StaffUser, Depends(staff_dependency(jwt_secret, Role.ADMIN, Role.STAFF))]
AdminDep = Annotated[StaffUser, Depends(staff_dependency(jwt_secret, Role.ADMIN))]

#: Rows a list skips. Bounded: PostgreSQL's OFFSET is a bigint, and no page is that far.
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
