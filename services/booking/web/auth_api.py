"""Staff sign-in (email and password -> a staff JWT) and the admins' account management."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from booking.api.deps import RuntimeDep, SessionDep
from booking.use_cases.self_booking import count_hit
from booking.web import staff_accounts
from booking.web.settings import WebSettings, web_settings
from shared.api import AdminDep
from shared.auth import Role, issue_staff_token

router = APIRouter(prefix="/v1", tags=["staff accounts"])

WebSettingsDep = Annotated[WebSettings, Depends(web_settings)]


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


class StaffAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=1, max_length=1024)
    practitioner_id: uuid.UUID | None = None


class StaffAccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    practitioner_id: uuid.UUID | None
    created_at: datetime


@router.post("/auth/login")
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
    async with runtime.sessions.begin() as session:
        await count_hit(
            session,
            key=f"login:{body.email.strip().lower()}",
            limit=settings.login_attempts_per_minute,
            now=now,
        )
        await count_hit(
            session,
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


@router.post("/staff-accounts", status_code=201)
async def create_staff_account(
    body: StaffAccountIn, runtime: RuntimeDep, _: AdminDep
) -> StaffAccountOut:
    """Admins add staff; a practitioner's account names their practitioner_id."""
    account = staff_accounts.NewAccount(
        email=body.email,
        display_name=body.display_name,
        role=body.role,
        password=body.password,
        practitioner_id=body.practitioner_id,
    )
    async with runtime.sessions.begin() as session:
        created = await staff_accounts.create_account(
            session, account=account, now=runtime.clock.now()
        )
    return StaffAccountOut.model_validate(created)


@router.get("/staff-accounts")
async def list_staff_accounts(session: SessionDep, _: AdminDep) -> list[StaffAccountOut]:
    found = await staff_accounts.list_accounts(session)
    return [StaffAccountOut.model_validate(a) for a in found]
