"""The two pages booking serves: the patient's self-booking page and the staff day board.

Both are server-rendered shells with a little JavaScript that calls the public APIs; the
static files come from this package (no build step, nothing from another origin).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from booking.adapters.db import (
    BookingRequest,
    Location,
    Patient,
    PatientLink,
    Practitioner,
    Room,
)
from booking.api.deps import RuntimeDep, SessionDep, SettingsDep
from booking.api.schemas import BookingRequestOut
from booking.use_cases.self_booking import open_link
from booking.web.settings import WebSettings, web_settings
from shared.api import StaffDep
from shared.auth import hash_patient_token
from shared.problems import NotFound, Problem

router = APIRouter(tags=["web pages"], include_in_schema=False)
api = APIRouter(prefix="/v1/board", tags=["staff board"])

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_FILES = {path.name: path for path in STATIC.iterdir() if path.is_file()}
MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
WebSettingsDep = Annotated[WebSettings, Depends(web_settings)]


class RedactLinkTokens(logging.Filter):
    """Access logs show /book/[token]: a link token opens a patient's bookings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            path = str(record.args[2])
            if path.startswith("/book"):
                record.args = (*record.args[:2], "/book/[token]", *record.args[3:])
        return True


logging.getLogger("uvicorn.access").addFilter(RedactLinkTokens())


def page(
    template: str, context: dict[str, Any], *, status: int = 200, connect: str = ""
) -> HTMLResponse:
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {connect}".rstrip()
            + "; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        ),
        # The page's URL carries the patient's token: never send it to another site.
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    html = templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=headers)


@router.get("/web/static/{name}")
async def static_file(name: str) -> FileResponse:
    path = STATIC_FILES.get(name)
    if path is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix))


@router.get("/book/{token}", response_class=HTMLResponse)
async def self_booking_page(token: str, runtime: RuntimeDep, settings: SettingsDep) -> HTMLResponse:
    """The page the SMS link opens: no login, the link's token is the key."""
    now = runtime.clock.now()
    try:
        patient_id = await open_link(
            runtime.sessions, token=token, limit=settings.link_requests_per_minute, now=now
        )
        async with runtime.sessions() as session:
            clinic = await clinic_for(session, patient_id)
            link = await session.get(PatientLink, hash_patient_token(token))
    except Problem as problem:
        async with runtime.sessions() as session:
            known = await locations(session)
        shown = {"title": problem.title, "detail": problem.detail}
        return page("book.html", {"problem": shown, "locations": known}, status=problem.status)
    data = {
        **clinic,
        "token": token,
        "now": now.isoformat(),
        "cutoffHours": settings.patient_change_cutoff_hours,
        "holdMinutes": settings.hold_minutes,
        # A link texted for an earlier-slot offer: the page opens on the offer.
        "offer": link is not None and link.offer_id is not None,
    }
    return page("book.html", {"data": data, "locations": clinic["locations"]})


@router.get("/book", response_class=HTMLResponse)
async def self_booking_page_by_query(
    runtime: RuntimeDep,
    settings: SettingsDep,
    token: Annotated[str, Query(min_length=16, max_length=200)],
) -> HTMLResponse:
    """The same page for links written ``/book?token=...``."""
    return await self_booking_page(token, runtime, settings)


@router.get("/board", response_class=HTMLResponse)
async def staff_board(settings: WebSettingsDep) -> HTMLResponse:
    """The staff's day: sign in, then the day view polls the APIs."""
    data = {
        "plansUrl": settings.plans_public_url.rstrip("/"),
        "notifyUrl": settings.notify_public_url.rstrip("/"),
        "refreshSeconds": settings.board_refresh_seconds,
    }
    connect = f"{data['plansUrl']} {data['notifyUrl']}"
    return page("board.html", {"data": data}, connect=connect)


class BoardLocationOut(BaseModel):
    id: uuid.UUID
    name: str
    time_zone: str
    phone: str | None
    #: Today where the location is, and now, by the service's clock (which demos may move).
    today: str
    now: datetime


@api.get("/locations")
async def board_locations(
    session: SessionDep, runtime: RuntimeDep, _: StaffDep
) -> list[BoardLocationOut]:
    """The locations the board offers, each with its today."""
    now = runtime.clock.now()
    found = await session.scalars(sa.select(Location).order_by(Location.name))
    return [
        BoardLocationOut(
            id=location.id,
            name=location.name,
            time_zone=location.time_zone,
            phone=location.phone,
            today=local_day(now, location.time_zone),
            now=now,
        )
        for location in found
    ]


def local_day(now: datetime, zone: str) -> str:
    return now.astimezone(ZoneInfo(zone)).date().isoformat()


async def locations(session: AsyncSession) -> list[dict[str, Any]]:
    found = await session.scalars(sa.select(Location).order_by(Location.name))
    return [{"id": str(x.id), "name": x.name, "phone": x.phone} for x in found]


async def clinic_for(session: AsyncSession, patient_id: uuid.UUID) -> dict[str, Any]:
    """What the patient's page shows besides their bookings: names of who and where, the
    time zone times are shown in, and whom to call."""
    patient = await session.get(Patient, patient_id)
    own = await session.scalars(
        sa.select(BookingRequest).where(BookingRequest.patient_id == patient_id)
    )
    doctors = list(await session.scalars(sa.select(Practitioner)))
    rooms = await session.scalars(sa.select(Room))
    return {
        "timeZone": patient.time_zone if patient else None,
        "locations": await locations(session),
        "practitioners": {str(p.id): p.full_name for p in doctors},
        # Where each works: said beside their name when the clinic has several locations.
        "practitionerLocations": {str(p.id): str(p.location_id) for p in doctors},
        "rooms": {str(r.id): r.name for r in rooms},
        # Booked sessions leave the open list: the page still names them "session k of N".
        "requests": {
            str(r.id): BookingRequestOut.model_validate(r).model_dump(mode="json") for r in own
        },
    }
