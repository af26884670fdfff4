"""Subscribable calendar feeds: a secret URL per practitioner, rotated by issuing anew."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters import store
from booking.adapters.db import CalendarFeedToken
from shared.auth import hash_patient_token, new_patient_token
from shared.db import upsert


async def issue_feed_token(
    session: AsyncSession, *, practitioner_id: uuid.UUID, now: datetime
) -> str:
    """A new feed token for the practitioner (404 if unknown); the previous one, if any,
    stops working in the same transaction. Only the token's hash is stored."""
    await store.practitioner(session, practitioner_id)
    token, token_hash = new_patient_token()
    await upsert(
        session,
        CalendarFeedToken,
        key={"practitioner_id": practitioner_id},
        values={"token_hash": token_hash, "created_at": now},
    )
    return token


async def feed_token_opens(
    session: AsyncSession, *, practitioner_id: uuid.UUID, token: str
) -> bool:
    """Whether ``token`` is this practitioner's current feed token."""
    found = await session.scalar(
        sa.select(CalendarFeedToken.practitioner_id).where(
            CalendarFeedToken.token_hash == hash_patient_token(token),
            CalendarFeedToken.practitioner_id == practitioner_id,
        )
    )
    return found is not None
