"""Patients' links: who a token opens the booking of, and how often it may be used."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from booking.adapters.db import PatientLink, RateLimitHit
from shared.auth import hash_patient_token
from shared.problems import Problem


async def open_link(
    sessions: async_sessionmaker[AsyncSession], *, token: str, limit: int, now: datetime
) -> uuid.UUID:
    """The patient a link opens. Every use counts against the link's rate limit first, in
    a transaction of its own, so refused uses count too; the first use marks the link
    used (its patient books online: earlier offers are on for them by default)."""
    token_hash = hash_patient_token(token)
    async with sessions.begin() as session:
        await count_hit(session, key=f"link:{token_hash}", limit=limit, now=now)
        await session.execute(
            sa.update(PatientLink)
            .where(
                PatientLink.token_hash == token_hash,
                PatientLink.used_at.is_(None),
                PatientLink.expires_at > now,
            )
            .values(used_at=now)
        )
    async with sessions() as session:
        return await patient_of_link(session, token=token, now=now)


async def patient_of_link(session: AsyncSession, *, token: str, now: datetime) -> uuid.UUID:
    """The patient a self-booking token belongs to; 401 when unknown or expired."""
    link = await session.get(PatientLink, hash_patient_token(token))
    if link is None:
        raise Problem(401, "Invalid link", "this booking link is not valid; ask the clinic for one")
    if link.expires_at <= now:
        raise Problem(401, "Link expired", "this booking link has expired; ask the clinic for one")
    return link.patient_id


async def count_hit(session: AsyncSession, *, key: str, limit: int, now: datetime) -> None:
    """Count one call of ``key`` in the current minute; 429 past ``limit``."""
    window = now.replace(second=0, microsecond=0)
    hits = await session.scalar(
        insert(RateLimitHit)
        .values(key=key, window_start=window, hits=1)
        .on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"hits": RateLimitHit.hits + 1}
        )
        .returning(RateLimitHit.hits)
    )
    if hits is not None and hits > limit:
        retry = int((window + timedelta(minutes=1) - now).total_seconds()) + 1
        raise Problem(
            429,
            "Too many requests",
            f"at most {limit} requests a minute from one link; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )


async def forget_old_hits(session: AsyncSession, *, now: datetime) -> None:
    """Drop counters of minutes long gone (the sweeper calls this)."""
    await session.execute(
        sa.delete(RateLimitHit).where(RateLimitHit.window_start < now - timedelta(minutes=5))
    )
