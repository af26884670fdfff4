"""Staff sign-in (email and password -> a staff JWT) and the admins' account management."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from booking.adapters.db import Practitioner
from booking.api.deps import RuntimeDep, SessionDep
from booking.use_cases.self_booking import count_hit
from booking.web import staff_accounts
from booking.web.passwords import MINIMUM_LENGTH
from booking.web.settings import WebSettings, web_settings
from shared.api import AdminDep
from shared.auth import Role, issue_staff_token
from shared.problems import NotFound, problems

router = APIRouter(prefix="/v1", tags=["staff accounts"])

WebSettingsDep = Annotated[WebSettings, Depends(web_settings)]


#: Something@somewhere, without spaces or control characters (spelled out: \s differs
#: between JSON Schema's regular expressions, Python's and pydantic's).
_PART = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+"
EMAIL = f"^{_PART}@{_PART}$"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    #: On the service's clock (which a demo may have moved): the page counts ``expires_in``.
    expires_at: datetime
    expires_in: int
    role: Role
    display_name: str
    practitioner_id: uuid.UUID | None


class NewAccountFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=EMAIL)
    display_name: str = Field(min_length=1, max_length=200)
    #: Any text but NUL, which no stored text holds either.
    password: str = Field(min_length=MINIMUM_LENGTH, max_length=1024, pattern=r"^[^\x00]*$")


class DeskAccountIn(NewAccountFields):
    """An admin's or a front-desk account: it names no practitioner."""

    role: Literal[Role.ADMIN, Role.STAFF]
    practitioner_id: None = None


class PractitionerAccountIn(NewAccountFields):
    """A practitioner's account: it names the practitioner they are."""

    role: Literal[Role.PRACTITIONER]
    practitioner_id: uuid.UUID


#: Practitioner accounts, and only they, name a practitioner_id.
StaffAccountIn = Annotated[DeskAccountIn | PractitionerAccountIn, Field(discriminator="role")]


class StaffAccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    #: A practitioner's account only (absent from the others').
    practitioner_id: uuid.UUID | SkipJsonSchema[None] = None
    created_at: datetime


@router.post("/auth/login", responses=problems(401, 429))
async def login(
    body: LoginIn,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    settings: WebSettingsDep,
) -> LoginOut:
    """Sign in: a staff JWT for the board. Rate-limited per email and per address; a wrong
    email or password is the same 401."""
    now = runtime.clock.now()
    address = request.client.host if request.client else "unknown"
    # A transaction of its own, so refused attempts count too.
    async with runtime.sessions.begin() as counting:
        await count_hit(
            counting,
            key=f"login:{body.email.strip().lower()}",
            limit=settings.login_attempts_per_minute,
            now=now,
        )
        await count_hit(
            counting,
            key=f"login-address:{address}",
            limit=settings.login_attempts_per_address_per_minute,
            now=now,
        )
    account = await staff_accounts.authenticate(session, email=body.email, password=body.password)
    ttl = timedelta(hours=settings.staff_session_hours)
    practitioner = str(account.practitioner_id) if account.practitioner_id else None
    token = issue_staff_token(
        runtime.settings.jwt_secret.get_secret_value(),
        # The account id, not the email: tokens and the events they cause name no person.
        subject=f"staff-account:{account.id}",
        role=Role(account.role),
        now=now,
        ttl=ttl,
        practitioner_id=practitioner,
    )
    return LoginOut(
        access_token=token,
        expires_at=now + ttl,
        expires_in=int(ttl.total_seconds()),
        role=Role(account.role),
        display_name=account.display_name,
        practitioner_id=account.practitioner_id,
    )


@router.post("/staff-accounts", status_code=201, response_model_exclude_none=True)
async def create_staff_account(
    body: StaffAccountIn, runtime: RuntimeDep, _: AdminDep
) -> StaffAccountOut:
    """Admins add staff; a practitioner's account names their practitioner_id (404 when
    booking has no such practitioner)."""
    account = staff_accounts.NewAccount(
        email=body.email,
        display_name=body.display_name,
        role=body.role,
        password=body.password,
        practitioner_id=body.practitioner_id,
    )
    async with runtime.sessions.begin() as session:
        if body.practitioner_id and not await session.get(Practitioner, body.practitioner_id):
            raise NotFound(f"no practitioner {body.practitioner_id}")
        created = await staff_accounts.create_account(
            session, account=account, now=runtime.clock.now()
        )
    return StaffAccountOut.model_validate(created)


@router.get("/staff-accounts", response_model_exclude_none=True)
async def list_staff_accounts(session: SessionDep, _: AdminDep) -> list[StaffAccountOut]:
    found = await staff_accounts.list_accounts(session)
    return [StaffAccountOut.model_validate(a) for a in found]
