"""FastAPI dependencies every service's routers use, as ``Annotated`` aliases; the
contact fields of request bodies, with the JSON Schema of what they accept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import Depends, Query, Request
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Role, StaffUser, staff_dependency
from shared.contacts import e164
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
DeskDep = Annotated[StaffUser, Depends(staff(Role.ADMIN, Role.STAFF))]
AdminDep = Annotated[StaffUser, Depends(staff(Role.ADMIN))]

#: Rows a list skips. Bounded: PostgreSQL's OFFSET is a bigint, and no page is that far.
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]


#: A phone number in international form: "+", the country code, then digits with spaces,
#: dots, dashes or parentheses between them (stored as E.164: +33612345678).
PHONE_PATTERN = r"^\+[1-9][0-9 ().-]{4,28}[0-9]$"
_PHONE = re.compile(PHONE_PATTERN)


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(value):
        raise ValueError(
            "not a phone number in international form: +, the country code, then digits "
            "(spaces, dots, dashes and parentheses allowed), e.g. +33612345678"
        )
    return e164(value)


#: A phone number as the APIs take it: the form above, and a valid number for its country.
PhoneNumber = Annotated[
    str,
    AfterValidator(_phone),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PHONE_PATTERN,
            "description": "International form, e.g. +33 6 12 34 56 78, and a valid number "
            "for its country; answered as E.164 (+33612345678)",
        }
    ),
]

#: The IANA time zones this server knows (its tz database).
TIME_ZONES = frozenset(available_timezones())


def _time_zone(value: str) -> str:
    if value not in TIME_ZONES:
        raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Paris)")
    return value


#: An IANA time zone name such as Europe/Paris.
IanaTimeZone = Annotated[
    str,
    AfterValidator(_time_zone),
    WithJsonSchema({"type": "string", "enum": sorted(TIME_ZONES), "description": "IANA time zone"}),
]


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
