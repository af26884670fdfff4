"""A practitioner's iCalendar (RFC 5545) feed: for staff with their token, and for
calendar apps through a secret subscription URL that staff issue and rotate."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from booking.api.deps import RuntimeDep, SessionDep, own_practitioner
from booking.domain.calendar import ical_feed
from booking.use_cases import calendar_feeds
from booking.use_cases import schedule as use_cases
from shared.api import StaffDep, staff
from shared.auth import Role
from shared.problems import Problem, problems

router = APIRouter(prefix="/v1", tags=["schedule"])

_staff = staff()


class FeedOut(BaseModel):
    #: The URL to subscribe to; it carries the secret, so share it like a password.
    url: str
    issued_at: datetime


class CalendarResponse(Response):
    media_type = "text/calendar; charset=utf-8"


@router.get(
    "/practitioners/{practitioner_id}/calendar.ics",
    name="calendar",
    response_class=CalendarResponse,
    responses={200: {"description": "An iCalendar (RFC 5545) feed"}, **problems(401, 403)},
    openapi_extra={"security": [{"staffToken": []}, {}]},
)
async def calendar(
    practitioner_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    token: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    past_days: Annotated[int, Query(ge=0, le=365)] = 30,
) -> Response:
    """The practitioner's appointments from ``past_days`` ago on: with a staff token
    (practitioners their own only), or with the feed URL's ``?token=``."""
    if token is not None:
        if not await calendar_feeds.feed_token_opens(
            session, practitioner_id=practitioner_id, token=token
        ):
            raise Problem(
                401, "Not authenticated", "this calendar link is not valid (or was rotated)"
            )
    else:
        user = await _staff(request)
        if user.role is Role.PRACTITIONER:
            own_practitioner(user, practitioner_id)
    now = runtime.clock.now()
    name, entries = await use_cases.calendar_entries(
        session, practitioner_id=practitioner_id, since=now - timedelta(days=past_days)
    )
    return CalendarResponse(ical_feed(name, entries, now=now))


@router.post(
    "/practitioners/{practitioner_id}/calendar-feed", status_code=201, responses=problems(403)
)
async def issue_feed(
    practitioner_id: uuid.UUID, request: Request, runtime: RuntimeDep, user: StaffDep
) -> FeedOut:
    """A new subscription URL for the practitioner's feed; the previous URL stops working.
    Front desk and admins for anyone, practitioners for themselves."""
    if user.role is Role.PRACTITIONER:
        own_practitioner(user, practitioner_id)
    now = runtime.clock.now()
    async with runtime.sessions.begin() as session:
        token = await calendar_feeds.issue_feed_token(
            session, practitioner_id=practitioner_id, now=now
        )
    url = request.url_for("calendar", practitioner_id=str(practitioner_id))
    return FeedOut(url=str(url.include_query_params(token=token)), issued_at=now)
