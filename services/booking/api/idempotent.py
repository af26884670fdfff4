"""Creates a client may retry: the same ``Idempotency-Key`` answers the same result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from booking.db import idempotency_key
from shared.idempotency import claim, remember


async def create_once(
    session: AsyncSession,
    *,
    key: str | None,
    scope: str,
    body: BaseModel,
    create: Callable[[], Awaitable[Any]],
) -> JSONResponse:
    """Run ``create`` (in the caller's transaction) unless ``key`` already answered; the
    answer is stored in the same transaction, so a rolled-back create leaves no trace."""
    if key is not None:
        replay = await claim(
            session, idempotency_key, scope=scope, key=key, body=body.model_dump(mode="json")
        )
        if replay is not None:
            return JSONResponse(replay.body, status_code=replay.status_code)
    created = await create()
    answer = (
        created.model_dump(mode="json")
        if isinstance(created, BaseModel)
        else [c.model_dump(mode="json") for c in created]
    )
    if key is not None:
        await remember(session, idempotency_key, scope=scope, key=key, status_code=201, body=answer)
    return JSONResponse(answer, status_code=201)
