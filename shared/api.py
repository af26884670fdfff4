"""FastAPI dependencies every service's routers use, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role, StaffUser, staff_dependency
from shared.service import Runtime
from shared.settings import ServiceSettings


# async: a plain def dependency costs a thread-pool hop on every request.
async def get_runtime(request: Request) -> Runtime[Any]:
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> Any:
    """The service's settings (each service's ``api/deps.py`` types them)."""
    return request.app.state.runtime.settings


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session to read with, closed once the answer is made. A change opens its own
    transaction (its use case's), committed before the answer."""
    runtime: Runtime[Any] = request.app.state.runtime
    async with runtime.sessions() as session:
        yield session


def jwt_secret(request: Request) -> str:
    """The secret staff tokens are signed with, for `staff_dependency`."""
    runtime: Runtime[ServiceSettings] = request.app.state.runtime
    return runtime.settings.jwt_secret.get_secret_value()


def service_now(request: Request) -> datetime:
    """The service's clock, which staff tokens are checked against."""
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime.clock.now()


def staff(*allowed: Role) -> Callable[[Request], Coroutine[Any, Any, StaffUser]]:
    """A dependency admitting staff in ``allowed`` (any role if none) to this service."""
    return staff_dependency(jwt_secret, service_now, *allowed)


SessionDep = Annotated[AsyncSession, Depends(read_session)]
#: Any signed-in staff member (admin, staff or practitioner).
StaffDep = Annotated[StaffUser, Depends(staff())]
#: Front-desk staff and admins: not practitioners.
DeskDep = Annotated[StaffUser, Depends(staff(Role.ADMIN, Role.STAFF))]
AdminDep = Annotated[StaffUser, Depends(staff(Role.ADMIN))]

#: Rows a list skips. Bounded: PostgreSQL's OFFSET is a bigint, and no page is that far.
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
