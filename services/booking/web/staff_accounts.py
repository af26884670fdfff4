"""Staff accounts: create one, and sign in with one."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import Practitioner
from booking.web.passwords import DUMMY_HASH, WeakPassword, hash_password, verify_password
from booking.web.tables import StaffAccount
from shared.auth import Role
from shared.problems import Conflict, Problem, Unprocessable


@dataclass(frozen=True)
class NewAccount:
    email: str
    display_name: str
    role: Role
    password: str
    practitioner_id: uuid.UUID | None = None


async def create_account(
    session: AsyncSession, *, account: NewAccount, now: datetime
) -> StaffAccount:
    """Add a staff account; 409 if the email has one, 422 if the role and practitioner
    disagree or the password is too short."""
    email = account.email.strip().lower()
    if (account.role is Role.PRACTITIONER) != (account.practitioner_id is not None):
        raise Unprocessable("practitioner accounts, and only they, name a practitioner_id")
    practitioner = account.practitioner_id
    if practitioner is not None and await session.get(Practitioner, practitioner) is None:
        raise Unprocessable(f"no practitioner {account.practitioner_id}")
    taken = await session.scalar(sa.select(StaffAccount.id).where(StaffAccount.email == email))
    if taken is not None:
        raise Conflict(f"{email} already has a staff account")
    try:
        # scrypt is deliberately slow: keep it off the event loop.
        password_hash = await asyncio.to_thread(hash_password, account.password)
    except WeakPassword as error:
        raise Unprocessable(str(error)) from None
    created = StaffAccount(
        email=email,
        display_name=account.display_name.strip(),
        role=account.role.value,
        practitioner_id=account.practitioner_id,
        password_hash=password_hash,
        created_at=now,
    )
    session.add(created)
    await session.flush()
    return created


async def authenticate(session: AsyncSession, *, email: str, password: str) -> StaffAccount:
    """The account these credentials open; one 401 for a wrong email or password alike."""
    found = await session.scalar(
        sa.select(StaffAccount).where(StaffAccount.email == email.strip().lower())
    )
    stored = found.password_hash if found is not None else DUMMY_HASH
    matches = await asyncio.to_thread(verify_password, password, stored)
    if found is None or not matches:
        raise Problem(
            401,
            "Sign-in failed",
            "the email or the password is wrong",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


async def list_accounts(session: AsyncSession) -> list[StaffAccount]:
    """Every staff account, by email."""
    return list(await session.scalars(sa.select(StaffAccount).order_by(StaffAccount.email)))
