"""What the plans routers share: the runtime, settings and a session, typed for plans;
pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from plans.settings import PlansSettings
from plans.use_cases.common import Page
from shared.api import Offset, SessionDep, get_runtime, get_settings
from shared.service import Runtime

__all__ = ["PageDep", "RuntimeDep", "SessionDep", "SettingsDep", "paged"]

RuntimeDep = Annotated[Runtime[PlansSettings], Depends(get_runtime)]
SettingsDep = Annotated[PlansSettings, Depends(get_settings)]

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
