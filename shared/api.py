"""FastAPI dependencies every service's routers use, as ``Annotated`` aliases; the days
and instants of request bodies, with the JSON Schema of what they accept (contact fields:
``shared.contacts``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import AwareDatetime, BeforeValidator
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role, StaffUser, staff_dependency
from shared.problems import may_answer
from shared.service import Runtime
from shared.settings import ServiceSettings


# async: a plain def dependency costs a thread-pool hop on every request.
# What reads or writes the database may find it down: 503 (shared.problems.DATABASE_DOWN).
@may_answer(503)
async def get_runtime(request: Request) -> Runtime[Any]:
    runtime: Runtime[Any] = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> Any:
    """The service's settings (each service's ``api/deps.py`` types them)."""
    return request.app.state.runtime.settings


@may_answer(503)
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
    refused = (401, 403) if allowed else (401,)
    return may_answer(*refused, security="staffToken")(
        staff_dependency(jwt_secret, service_now, *allowed)
    )


SessionDep = Annotated[AsyncSession, Depends(read_session)]
#: Any signed-in staff member (admin, staff or practitioner).
StaffDep = Annotated[StaffUser, Depends(staff())]
#: Front-desk staff and admins: not practitioners.
desk_staff = staff(Role.ADMIN, Role.STAFF)
DeskDep = Annotated[StaffUser, Depends(desk_staff)]
AdminDep = Annotated[StaffUser, Depends(staff(Role.ADMIN))]

#: Rows a list skips. Bounded: PostgreSQL's OFFSET is a bigint, and no page is that far.
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]


def only_what_is_sent(*nullable: str) -> Callable[[dict[str, Any]], None]:
    """The ``json_schema_extra`` of a PATCH body whose fields (typed ``X | None``, default
    None for "not sent") refuse an explicit null, but those in ``nullable``: their schema
    says neither null nor a null default."""

    def document(schema: dict[str, Any]) -> None:
        for name, field in schema.get("properties", {}).items():
            if name in nullable:
                continue
            if field.get("default", 0) is None:
                del field["default"]
            branches = field.get("anyOf", [])
            if {"type": "null"} in branches:
                kept = [branch for branch in branches if branch != {"type": "null"}]
                del field["anyOf"]
                field.update(kept[0] if len(kept) == 1 else {"anyOf": kept})

    return document


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}.*")


def _written(shape: re.Pattern[str], kind: type, example: str) -> Callable[[Any], Any]:
    """A before-validator that takes a date or an instant only as ISO 8601 text (or as
    itself, from the database): pydantic would read a number as a Unix timestamp."""

    def check(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and shape.fullmatch(value):
            return value
        raise ValueError(f"give it as ISO 8601 text, e.g. {example}")

    return check


#: A calendar day, written 2026-12-06.
Day = Annotated[date, BeforeValidator(_written(_DATE, date, "2026-12-06"))]
#: An instant with its UTC offset, written 2026-12-06T10:00:00+01:00 (RFC 3339).
Instant = Annotated[
    AwareDatetime, BeforeValidator(_written(_DATE_TIME, datetime, "2026-12-06T10:00:00+01:00"))
]
