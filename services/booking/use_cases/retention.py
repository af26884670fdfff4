"""Forgetting what is no longer needed (the sweeper calls this)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import idempotency_keys


async def forget_idempotency_keys(session: AsyncSession, *, before: datetime) -> int:
    """Delete the Idempotency-Keys first used before ``before``: a retry after that is a
    new request. Returns how many were deleted."""
    result = await session.execute(
        sa.delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)
