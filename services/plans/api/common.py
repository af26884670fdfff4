"""What the plans routers share: pagination, the clinic's settings, Idempotency-Key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from plans.db import idempotency_key
from plans.settings import PlansSettings
from plans.use_cases.common import Page
from shared.api import Offset
from shared.idempotency import claim, remember
from shared.service import Runtime

#: Header carrying how many rows match a list's filters, over all pages.
TOTAL_COUNT = "X-Total-Count"


def page(
    limit: Annotated[int, Query(ge=1, le=200, description="rows per page")] = 50,
    offset: Offset = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page)]


def paged(response: Response, total: int) -> None:
    response.headers[TOTAL_COUNT] = str(total)


def plans_settings(runtime: Runtime[PlansSettings]) -> PlansSettings:
    return runtime.settings


async def create_once(
    runtime: Runtime[PlansSettings],
    *,
    scope: str,
    key: str | None,
    body: BaseModel,
    create: Callable[[AsyncSession], Awaitable[BaseModel]],
) -> BaseModel | JSONResponse:
    """Run ``create`` in one transaction; with an Idempotency-Key, a retry replays the answer."""
    async with runtime.sessions.begin() as session:
        if key is not None:
            replay = await claim(
                session, idempotency_key, scope=scope, key=key, body=body.model_dump(mode="json")
            )
            if replay is not None:
                return JSONResponse(replay.body, status_code=replay.status_code)
        created = await create(session)
        if key is not None:
            await remember(
                session,
                idempotency_key,
                scope=scope,
                key=key,
                status_code=201,
                body=created.model_dump(mode="json"),
            )
    return created
